package projector

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/calldex/calldex/events"
)

// ErrCatchingUp: the index does not yet hold every event CONTACTS holds now.
var ErrCatchingUp = errors.New("catching up with CONTACTS")

// Readiness tells from the checkpoint whether the index holds CONTACTS as
// the stream is now. The checkpoint is saved beside the index and lost with
// it, and the projector lowers it before projecting again after a loss, so
// it never vouches for data the index does not have. A replica without a
// projector reads the checkpoint of the projector that writes the shared
// index (the same Redis, prefix and stream); the projector's own process
// reads it the same way.
type Readiness struct {
	js     jetstream.JetStream
	stream string
	cp     Checkpoint
	// lastSeqFor is how long the stream's last sequence is reused: readiness
	// probes of many replicas then cost JetStream little.
	lastSeqFor time.Duration
	// poll is how often WaitApplied reads the checkpoint.
	poll time.Duration

	mu      sync.Mutex
	handle  jetstream.Stream
	lastSeq uint64
	readAt  time.Time
}

// NewReadiness reads the checkpoint cp (projector.NewRedis with the
// projector's prefix, or the in-process projector's Memory) against the
// CONTACTS stream of topo.
func NewReadiness(js jetstream.JetStream, topo events.Topology, cp Checkpoint) *Readiness {
	return &Readiness{js: js, stream: topo.Stream(events.StreamContacts), cp: cp,
		lastSeqFor: 250 * time.Millisecond, poll: 25 * time.Millisecond}
}

// Ready returns nil when the checkpoint has reached the stream's current
// last sequence, an error wrapping ErrCatchingUp with both when it has
// not, or the error reading either (Redis or NATS unreachable). It returns
// when ctx ends at the latest: give it the probe's budget.
func (r *Readiness) Ready(ctx context.Context) error {
	applied, err := r.cp.Load(ctx)
	if err != nil {
		return err
	}
	last, err := r.streamLastSeq(ctx)
	if err != nil {
		return err
	}
	if applied < last {
		return fmt.Errorf("%w: %d of %d applied", ErrCatchingUp, applied, last)
	}
	return nil
}

// Pending is how many CONTACTS messages the index does not hold yet.
func (r *Readiness) Pending(ctx context.Context) (uint64, error) {
	applied, err := r.cp.Load(ctx)
	if err != nil {
		return 0, err
	}
	last, err := r.streamLastSeq(ctx)
	if err != nil {
		return 0, err
	}
	return last - min(applied, last), nil
}

func (r *Readiness) streamLastSeq(ctx context.Context) (uint64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.readAt.IsZero() && time.Since(r.readAt) < r.lastSeqFor {
		return r.lastSeq, nil
	}
	if r.handle == nil {
		s, err := r.js.Stream(ctx, r.stream)
		if err != nil {
			return 0, fmt.Errorf("stream %s: %w", r.stream, err)
		}
		r.handle = s
	}
	info, err := r.handle.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream %s info: %w", r.stream, err)
	}
	r.lastSeq, r.readAt = info.State.LastSeq, time.Now()
	return r.lastSeq, nil
}

// WaitApplied waits until the checkpoint has reached seq, i.e. the event
// published at seq is in the index, or ctx ends.
func (r *Readiness) WaitApplied(ctx context.Context, seq uint64) error {
	t := time.NewTicker(r.poll)
	defer t.Stop()
	for {
		applied, err := r.cp.Load(ctx)
		if err == nil && applied >= seq {
			return nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
			return fmt.Errorf("wait for projection of seq %d: %w", seq, err)
		case <-t.C:
		}
	}
}
