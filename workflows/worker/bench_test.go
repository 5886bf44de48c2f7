package worker_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/workflows/connectors"
	"github.com/calldex/calldex/workflows/crm"
)

// instant is a CRM that answers at once.
type instant struct{ calls atomic.Int64 }

func (i *instant) LogCall(context.Context, crm.Call) (crm.Result, error) {
	n := i.calls.Add(1)
	return crm.Result{ID: strconv.FormatInt(n, 10)}, nil
}

// BenchmarkEndToEnd measures workflows/s through the whole durable path:
// Submit (publish + JetStream ack + accepted record) → WORKFLOWS → worker
// (record check, CRM call, done record, ack). Submitters run in parallel
// like ingress requests do; with wait=true each also waits for its result
// as the HTTP handler does (Dispatcher.Wait). Run it with:
//
//	go test -run '^$' -bench EndToEnd -benchtime 20000x ./worker/
func BenchmarkEndToEnd(b *testing.B) {
	for _, wait := range []bool{false, true} {
		b.Run(fmt.Sprintf("submitters=64/wait=%v", wait), func(b *testing.B) {
			benchEndToEnd(b, 64, wait)
		})
	}
}

func benchEndToEnd(b *testing.B, submitters int, wait bool) {
	h := newHarness(b, tenant.Connector{Type: "instant"})
	crmFake := &instant{}
	h.factory.Register("instant", func(context.Context, map[string]any, connectors.Deps) (any, error) { return crmFake, nil })
	cfg := fastConfig()
	cfg.Concurrency = 64
	cfg.MaxAckPending = 2048
	cfg.AckWait = 30 * time.Second
	h.start(cfg)

	ctx := context.Background()
	var next atomic.Int64
	var failed atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range submitters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				in := events.CallInput{CallID: "bench-" + strconv.FormatInt(i, 10), Direction: "incoming", OriginatorNumber: "41215522000"}
				key, err := h.dispatch.Submit(ctx, "acme", "CallFlow", in, false)
				if err != nil {
					failed.Add(1)
					continue
				}
				if wait {
					if r, err := h.dispatch.Wait(ctx, key, 10*time.Second); err != nil || r.Status != events.StatusDone {
						failed.Add(1)
					}
				}
			}
		}()
	}
	wg.Wait()
	submitted := time.Since(start)
	deadline := time.Now().Add(5 * time.Minute)
	for crmFake.calls.Load() < int64(b.N)-failed.Load() || !h.settled(uint64(int64(b.N)-failed.Load())) {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d workflows done", crmFake.calls.Load(), b.N)
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d submits failed", failed.Load())
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "workflows/s")
	b.ReportMetric(float64(b.N)/submitted.Seconds(), "submits/s")
}

// settled reports whether the consumer has acked n messages.
func (h *harness) settled(n uint64) bool {
	c, err := h.env.JS.PushConsumer(context.Background(), h.env.Topology.Stream(events.StreamWorkflows), "calldex-worker")
	if err != nil {
		return false
	}
	info, err := c.Info(context.Background())
	return err == nil && info.NumAckPending == 0 && info.AckFloor.Stream >= n
}
