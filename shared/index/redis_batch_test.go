package index_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/phone"
	"github.com/calldex/calldex/shared/redistest"
)

func batchEntry(id, name string, keys ...phone.Key) index.Entry {
	return index.Entry{Contact: events.Contact{ID: id, Source: "hubspot", Name: name}, Keys: keys}
}

// TestRedisBatchRoundTrips: a batch costs two round trips per pipeline
// (HMGET, then the scripts), whether its contacts are new or changed.
func TestRedisBatchRoundTrips(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	ix := index.NewRedis(rdb, prefix)
	ctx := t.Context()
	batch := func(n int, version string) []index.Change {
		cs := make([]index.Change, n)
		for i := range cs {
			k := phone.Key(fmt.Sprintf("e:+4121%s%06d", version, i))
			cs[i] = index.Upserted(batchEntry(fmt.Sprint(i), "Name "+version, k))
		}
		return cs
	}
	// Warm the script cache (no EVAL fallback) and the connections that
	// pipelines in flight use (no handshake), then count.
	if err := ix.ApplyBatch(ctx, "warm", batch(4*index.MaxPipeline, "0")); err != nil {
		t.Fatal(err)
	}
	var rt roundTrips
	rdb.AddHook(&rt)
	pipelines := func(n int) int64 { return int64((n + index.MaxPipeline - 1) / index.MaxPipeline) }
	tests := []struct {
		name    string
		changes []index.Change
		want    int64
	}{
		{"new contacts", batch(index.MaxPipeline, "1"), 2},
		{"changed contacts", batch(index.MaxPipeline, "2"), 2},
		{"several pipelines", batch(2500, "3"), 2 * pipelines(2500)},
		{"deletes", []index.Change{index.Deleted("hubspot", "1"), index.Deleted("hubspot", "never")}, 2},
	}
	for _, tt := range tests {
		rt.n.Store(0)
		if err := ix.ApplyBatch(ctx, "acme", tt.changes); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if n := rt.n.Load(); n != tt.want {
			t.Errorf("%s: %d round trips, want %d", tt.name, n, tt.want)
		}
	}
}

// interfere runs fn once, right after the first HMGET a batch sends: a
// write by someone else between the batch's read and its scripts.
type interfere struct {
	fn   func()
	done atomic.Bool
}

func (h *interfere) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *interfere) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if cmd.Name() == "hmget" && h.done.CompareAndSwap(false, true) {
			h.fn()
		}
		return err
	}
}

func (h *interfere) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestRedisBatchCompareAndSet: a contact changed by another writer after
// the batch read its meta is written again from what it holds now, so none
// of that writer's keys and names is left behind.
func TestRedisBatchCompareAndSet(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	other := index.NewRedis(rdb, prefix)
	ctx := t.Context()
	if err := other.Upsert(ctx, "acme", batchEntry("x", "First", "e:+41215550001")); err != nil {
		t.Fatal(err)
	}
	// A second client on the same server, with the hook.
	hooked := redis.NewClient(rdb.Options())
	t.Cleanup(func() { hooked.Close() })
	hooked.AddHook(&interfere{fn: func() {
		if err := other.Upsert(ctx, "acme", batchEntry("x", "Interloper", "e:+41215550002")); err != nil {
			t.Error(err)
		}
	}})
	ix := index.NewRedis(hooked, prefix)
	err := ix.ApplyBatch(ctx, "acme", []index.Change{
		index.Upserted(batchEntry("y", "Other Contact", "e:+41215550009")),
		index.Upserted(batchEntry("x", "Batch", "e:+41215550003")),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []phone.Key{"e:+41215550001", "e:+41215550002"} {
		if ms, err := ix.Lookup(ctx, "acme", []phone.Key{k}, 5); err != nil || len(ms) != 0 {
			t.Errorf("lookup %s: %d matches, %v; want none", k, len(ms), err)
		}
	}
	ms, err := ix.Lookup(ctx, "acme", []phone.Key{"e:+41215550003"}, 5)
	if err != nil || len(ms) != 1 || ms[0].Contact.Name != "Batch" {
		t.Fatalf("lookup of the batch's key: %+v, %v", ms, err)
	}
	if cs, err := ix.SearchName(ctx, "acme", "interloper", 5); err != nil || len(cs) != 0 {
		t.Errorf("interloper's name: %d hits, %v", len(cs), err)
	}
	if st, err := ix.Stats(ctx, "acme"); err != nil || st != (index.Stats{Contacts: 2, Keys: 2}) {
		t.Errorf("stats = %+v, %v; want {2 2}", st, err)
	}
}

// noScript answers the first pipeline of scripts with NOSCRIPT without
// sending it, as Redis does after losing its script cache (a restart,
// SCRIPT FLUSH, a failover). Flushing the shared test server's cache for
// real would disturb other tests.
type noScript struct{ done atomic.Bool }

func (h *noScript) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h *noScript) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (h *noScript) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && strings.EqualFold(cmds[0].Name(), "evalsha") && h.done.CompareAndSwap(false, true) {
			for _, c := range cmds {
				c.SetErr(redis.ErrNoScript)
			}
			return cmds[0].Err()
		}
		return next(ctx, cmds)
	}
}

func TestRedisBatchReloadsLostScript(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	h := &noScript{}
	rdb.AddHook(h)
	ix := index.NewRedis(rdb, prefix)
	ctx := t.Context()
	err := ix.ApplyBatch(ctx, "acme", []index.Change{
		index.Upserted(batchEntry("1", "One", "e:+41215550001")),
		index.Upserted(batchEntry("2", "Two", "e:+41215550002")),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !h.done.Load() {
		t.Fatal("the hook never answered NOSCRIPT")
	}
	if st, err := ix.Stats(ctx, "acme"); err != nil || st != (index.Stats{Contacts: 2, Keys: 2}) {
		t.Errorf("stats = %+v, %v; want {2 2}", st, err)
	}
}

// BenchmarkRedisUpsert writes new contacts one at a time, as the projector
// did before batches: one round trip each.
func BenchmarkRedisUpsert(b *testing.B) {
	rdb, prefix := redistest.Client(b)
	ix := index.NewRedis(rdb, prefix)
	ctx := b.Context()
	i := 0
	for b.Loop() {
		if err := ix.Upsert(ctx, benchTenant, benchEntry(i)); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "contacts/s")
}

// BenchmarkRedisApplyBatch writes new contacts, then changed ones (another
// mobile number), in batches of 1000 as the projector does; one op is one
// batch.
func BenchmarkRedisApplyBatch(b *testing.B) {
	for _, changed := range []bool{false, true} {
		name := "new"
		if changed {
			name = "changed"
		}
		b.Run(name, func(b *testing.B) {
			rdb, prefix := redistest.Client(b)
			ix := index.NewRedis(rdb, prefix)
			ctx := b.Context()
			const size = 1000
			batch := func(from int, version string) []index.Change {
				cs := make([]index.Change, size)
				for j := range cs {
					e := benchEntry(from + j)
					if version != "" {
						e.Keys = append(e.Keys[:2], phone.Key("e:+4178"+version+fmt.Sprintf("%06d", from+j)))
					}
					cs[j] = index.Upserted(e)
				}
				return cs
			}
			n := 0
			for b.Loop() {
				b.StopTimer()
				cs := batch(n, "")
				if changed {
					if err := ix.ApplyBatch(ctx, benchTenant, cs); err != nil {
						b.Fatal(err)
					}
					cs = batch(n, "1")
				}
				b.StartTimer()
				if err := ix.ApplyBatch(ctx, benchTenant, cs); err != nil {
					b.Fatal(err)
				}
				n += size
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "contacts/s")
		})
	}
}
