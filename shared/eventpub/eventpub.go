// Package eventpub publishes fire-and-forget events (call.lookup) off the
// request path: a bounded buffer in front of JetStream, so a slow or absent
// NATS never slows a ringing phone. What does not fit is dropped and counted.
package eventpub

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/calldex/calldex/events"
)

type item struct {
	subject string
	env     events.Envelope
	// lookup is held by value: an interface would cost an allocation per
	// lookup.
	lookup events.CallLookup
}

// Async buffers events and publishes them from one goroutine.
type Async struct {
	js      jetstream.JetStream
	buf     chan item
	dropped prometheus.Counter
	failed  prometheus.Counter
	log     *slog.Logger
	// payload and msg are reused to encode one payload and one message,
	// order to group a burst (Run's goroutine only).
	payload, msg []byte
	order        []int
}

// New builds a publisher with room for size events; Run drains it. dropped
// counts events that found the buffer full, failed those NATS refused at once.
func New(js jetstream.JetStream, size int, dropped, failed prometheus.Counter, log *slog.Logger) *Async {
	return &Async{js: js, buf: make(chan item, size), dropped: dropped, failed: failed, log: log}
}

// Publish queues a call.lookup event without blocking; it is encoded
// later, off the caller's path. It reports whether the event was queued.
func (a *Async) Publish(subject string, env events.Envelope, ev events.CallLookup) bool {
	select {
	case a.buf <- item{subject: subject, env: env, lookup: ev}:
		return true
	default:
		a.dropped.Inc()
		return false
	}
}

// Run publishes queued events until ctx ends, then flushes what is queued
// for up to a second.
func (a *Async) Run(ctx context.Context) error {
	batch := make([]item, 0, maxBurst)
	for {
		select {
		case it := <-a.buf:
			a.sendBurst(a.gather(ctx, append(batch[:0], it)))
		case <-ctx.Done():
			deadline := time.After(time.Second)
			for {
				select {
				case it := <-a.buf:
					a.sendBurst(a.drain(append(batch[:0], it)))
				case <-deadline:
					return nil
				default:
					_ = a.js.Conn().FlushTimeout(time.Second)
					<-a.js.PublishAsyncComplete()
					return nil
				}
			}
		}
	}
}

// Events are sent in bursts: those arriving within burstWindow of the
// first (at most maxBurst) go to NATS as one message per subject (a batch,
// see events.DecodeBatch), each published with a JetStream ack, and split
// at maxMessage bytes to stay well under the server's max_payload (1 MiB
// by default). Every message costs the client a write, and the server a
// parse, a stored record, an ack and a delivery to each consumer: with
// bursts of a millisecond, and Run woken by every event, events were a
// fifth of a lookup's CPU; now some 6 %. They are telemetry: ten
// milliseconds late costs nothing.
const (
	burstWindow = 10 * time.Millisecond
	maxBurst    = 2048
	maxMessage  = 256 << 10
)

// gather adds to batch what is queued and, unless that fills it, what
// arrives within burstWindow. It sleeps through the window rather than
// receive each event as it comes: a receiver waiting on the channel would
// be woken, and rescheduled, once per lookup.
func (a *Async) gather(ctx context.Context, batch []item) []item {
	if batch = a.drain(batch); len(batch) == cap(batch) {
		return batch
	}
	t := time.NewTimer(burstWindow)
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
	}
	return a.drain(batch)
}

// drain adds to batch what is queued, without waiting.
func (a *Async) drain(batch []item) []item {
	for len(batch) < cap(batch) {
		select {
		case it := <-a.buf:
			batch = append(batch, it)
		default:
			return batch
		}
	}
	return batch
}

// sendBurst publishes the burst as one message per subject (more when it
// exceeds maxMessage), the events of each in the order they came. The
// events are grouped by a stable sort of their positions: a burst may hold
// as many tenants as events.
func (a *Async) sendBurst(batch []item) {
	a.order = a.order[:0]
	for i := range batch {
		a.order = append(a.order, i)
	}
	slices.SortStableFunc(a.order, func(x, y int) int { return strings.Compare(batch[x].subject, batch[y].subject) })
	msg, n := a.msg[:0], 0
	for k, i := range a.order {
		if len(msg) >= maxMessage {
			a.publish(batch[i].subject, msg, n)
			msg, n = msg[:0], 0
		}
		if n > 0 {
			msg = append(msg, '\n')
		}
		msg = a.encode(msg, &batch[i])
		n++
		if k+1 == len(a.order) || batch[a.order[k+1]].subject != batch[i].subject {
			a.publish(batch[i].subject, msg, n)
			msg, n = msg[:0], 0
		}
	}
	a.msg = msg
}

// encode appends the event's envelope to b.
func (a *Async) encode(b []byte, it *item) []byte {
	a.payload = it.lookup.AppendJSON(a.payload[:0])
	it.env.Data = a.payload
	return it.env.AppendJSON(b)
}

// publish sends a copy of msg, n events: the client keeps what it sends, to
// send it again, so msg is not. The ack is not awaited here:
// refusals reach the error handler the JetStream client was built with
// (jetstream.WithPublishAsyncErrHandler); failed counts the events of a
// message the client could not send at all.
func (a *Async) publish(subject string, msg []byte, n int) {
	if _, err := a.js.PublishAsync(subject, bytes.Clone(msg)); err != nil {
		a.failed.Add(float64(n))
	}
}
