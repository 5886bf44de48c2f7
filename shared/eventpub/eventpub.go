// Package eventpub publishes fire-and-forget events (call.lookup) off the
// request path: a bounded buffer in front of JetStream, so a slow or absent
// NATS never slows a ringing phone. What does not fit is dropped and counted.
package eventpub

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/calldex/calldex/events"
)

type item struct {
	subject string
	env     events.Envelope
	payload any
}

// Async buffers events and publishes them from one goroutine.
type Async struct {
	js      jetstream.JetStream
	buf     chan item
	dropped prometheus.Counter
	failed  prometheus.Counter
	log     *slog.Logger
	sent    int // by Run's goroutine only
	// enc holds the encoded events of a burst and payload one payload,
	// both reused (Run's goroutine only).
	enc, payload []byte
}

// jsonAppender is a payload that encodes itself without reflection
// (events.CallLookup); others go through encoding/json.
type jsonAppender interface {
	AppendJSON(b []byte) []byte
}

// ackEvery: one event in ackEvery is published with a JetStream ack, the
// others as plain NATS messages, which the stream stores all the same.
// Acks cost the server a reply and the client its bookkeeping for every
// event, a fifth of a lookup's CPU in the embedded mode; sampled, they
// still count a stream that refuses events (failed).
const ackEvery = 64

// New builds a publisher with room for size events; Run drains it. dropped
// counts events that found the buffer full, failed those NATS refused at once.
func New(js jetstream.JetStream, size int, dropped, failed prometheus.Counter, log *slog.Logger) *Async {
	return &Async{js: js, buf: make(chan item, size), dropped: dropped, failed: failed, log: log}
}

// Publish queues an event without blocking; payload is marshalled later, off
// the caller's path. It reports whether the event was queued.
func (a *Async) Publish(subject string, env events.Envelope, payload any) bool {
	select {
	case a.buf <- item{subject: subject, env: env, payload: payload}:
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
					a.send(it)
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
// first (at most maxBurst) are published back to back, so nats.go writes
// them to the socket at once instead of one system call per event, and
// the server reads them at once too. They are telemetry: a millisecond
// late costs nothing.
const (
	burstWindow = time.Millisecond
	maxBurst    = 256
)

// gather adds to batch what arrives within burstWindow.
func (a *Async) gather(ctx context.Context, batch []item) []item {
	t := time.NewTimer(burstWindow)
	defer t.Stop()
	for len(batch) < cap(batch) {
		select {
		case it := <-a.buf:
			batch = append(batch, it)
		case <-t.C:
			return batch
		case <-ctx.Done():
			return batch
		}
	}
	return batch
}

func (a *Async) send(it item) {
	a.sendBurst([]item{it})
}

// sendBurst encodes every event of the burst into one reused buffer
// first, then publishes them back to back.
func (a *Async) sendBurst(batch []item) {
	a.enc = a.enc[:0]
	ends := make([]int, len(batch))
	for i := range batch {
		start := len(a.enc)
		var ok bool
		if a.enc, ok = a.encode(a.enc, &batch[i]); !ok {
			a.enc = a.enc[:start]
		}
		ends[i] = len(a.enc)
	}
	start := 0
	for i, it := range batch {
		if ends[i] > start {
			a.publish(it.subject, a.enc[start:ends[i]])
		}
		start = ends[i]
	}
}

// encode appends the event's envelope to b; false (logged) if it cannot
// be encoded.
func (a *Async) encode(b []byte, it *item) ([]byte, bool) {
	var raw []byte
	if p, ok := it.payload.(jsonAppender); ok {
		raw = p.AppendJSON(a.payload[:0])
		a.payload = raw
	} else {
		var err error
		if raw, err = json.Marshal(it.payload); err != nil {
			a.log.Error("event payload", "subject", it.subject, "err", err)
			return b, false
		}
	}
	it.env.Data = raw
	return it.env.AppendJSON(b), true
}

// publish sends one encoded event. Plain messages are copied into the
// connection's buffer before Publish returns, so data may be reused; an
// acked one is copied first, as the client keeps it until the ack.
func (a *Async) publish(subject string, data []byte) {
	var err error
	// Acks are not awaited here: failures reach the error handler the
	// JetStream client was built with (jetstream.WithPublishAsyncErrHandler).
	if a.sent++; a.sent%ackEvery == 0 {
		_, err = a.js.PublishAsync(subject, bytes.Clone(data))
	} else {
		err = a.js.Conn().Publish(subject, data)
	}
	if err != nil {
		a.failed.Inc()
	}
}
