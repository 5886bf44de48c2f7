package dispatch

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/calldex/calldex/events"
)

// watcher is one KV watch over the whole results bucket, shared by every
// Wait of a Dispatcher: one ordered consumer per ingress process instead of
// one consumer created and deleted per HTTP request.
type watcher struct {
	kw     jetstream.KeyWatcher
	cancel context.CancelFunc
}

// register adds a waiter for key and makes sure the shared watch runs. It
// reports false when the watch cannot be started (NATS unreachable).
func (d *Dispatcher) register(ctx context.Context, key string) (chan events.WorkflowResult, bool) {
	ch := make(chan events.WorkflowResult, 1)
	d.mu.Lock()
	if d.waiters[key] == nil {
		d.waiters[key] = map[chan events.WorkflowResult]struct{}{}
	}
	d.waiters[key][ch] = struct{}{}
	start := d.watch == nil && !d.starting && !d.closed
	running := d.watch != nil || d.starting
	if start {
		d.starting = true
	}
	d.mu.Unlock()
	if !start {
		return ch, running
	}
	// Started outside the lock: creating the watch is a round trip to NATS
	// that other waits must not queue behind. The watch outlives the
	// request that starts it.
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	kw, err := d.results.WatchAll(wctx, jetstream.UpdatesOnly(), jetstream.IgnoreDeletes())
	d.mu.Lock()
	defer d.mu.Unlock()
	d.starting = false
	if err != nil || d.closed {
		cancel()
		if kw != nil {
			_ = kw.Stop()
		}
		return ch, false
	}
	w := &watcher{kw: kw, cancel: cancel}
	d.watch = w
	go d.follow(w)
	return ch, true
}

func (d *Dispatcher) unregister(key string, ch chan events.WorkflowResult) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.waiters[key], ch)
	if len(d.waiters[key]) == 0 {
		delete(d.waiters, key)
	}
}

// follow hands every update to the waiters of its key, keeping only the
// newest record in each waiter's one-slot channel.
func (d *Dispatcher) follow(w *watcher) {
	for e := range w.kw.Updates() {
		if e == nil {
			continue
		}
		d.mu.Lock()
		waiting := len(d.waiters[e.Key()]) > 0
		d.mu.Unlock()
		if !waiting {
			continue
		}
		r, err := decode(e.Key(), e.Value())
		if err != nil {
			continue
		}
		d.mu.Lock()
		for ch := range d.waiters[e.Key()] {
			select {
			case <-ch:
			default:
			}
			ch <- r
		}
		d.mu.Unlock()
	}
	// The watch ended (connection closed or Close): let the next Wait
	// start a new one.
	d.mu.Lock()
	if d.watch == w {
		d.watch = nil
	}
	d.mu.Unlock()
	w.cancel()
}

// Close stops the shared watch. Waits in progress return their latest
// record at their deadline.
func (d *Dispatcher) Close() error {
	d.mu.Lock()
	w := d.watch
	d.watch = nil
	d.closed = true
	d.mu.Unlock()
	if w != nil {
		w.cancel()
		return w.kw.Stop()
	}
	return nil
}
