package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/calldex/calldex/events"
)

// record is the worker's view of a workflow_results entry: the public
// result plus what only workers read. Readers of events.WorkflowResult
// ignore the extra fields.
type record struct {
	events.WorkflowResult
	// Seq is the stream sequence of the request message that wrote the
	// record: a failed record of the same message is final, one of an
	// older message is not (the request was sent again).
	Seq uint64 `json:"seq,omitempty"`
	// RetryAt is the earliest next attempt the CRM asked for.
	RetryAt time.Time `json:"retryAt,omitzero"`
	// ClaimedBy names the delivery calling the CRM, until ClaimedUntil:
	// another delivery of the request waits meanwhile instead of calling
	// the CRM beside it.
	ClaimedBy    string    `json:"claimedBy,omitempty"`
	ClaimedUntil time.Time `json:"claimedUntil,omitzero"`
}

// claimedByOther reports whether a delivery other than claim runs the
// workflow at now, and for how long still.
func (r record) claimedByOther(claim string, now time.Time) (time.Duration, bool) {
	if r.ClaimedBy == "" || r.ClaimedBy == claim || !now.Before(r.ClaimedUntil) {
		return 0, false
	}
	return r.ClaimedUntil.Sub(now), true
}

// results reads and writes records with compare-and-set, so a late writer
// (a delivery whose ack window ran out) never overwrites done.
type results struct {
	kv  jetstream.KeyValue
	now func() time.Time
}

// get returns the record and its revision (0 when absent).
func (s results) get(ctx context.Context, key string) (record, uint64, error) {
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return record{}, 0, nil
	}
	if err != nil {
		return record{}, 0, fmt.Errorf("read result %s: %w", key, err)
	}
	var r record
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		// A record we cannot read is replaced rather than blocking the
		// workflow forever.
		return record{}, e.Revision(), nil
	}
	return r, e.Revision(), nil
}

// update applies change to the record at rev (0: absent) and writes it; on
// a concurrent write it re-reads and re-applies. change returns false to
// leave the record as it is (for instance when it is done already). A write
// the bucket refuses for another reason is tried again until ctx ends: in a
// cluster the bucket's leader may be moving, and an effect left unrecorded
// makes the redelivery call the CRM again.
func (s results) update(ctx context.Context, key string, r record, rev uint64, change func(*record) bool) (record, uint64, error) {
	for conflicts := 0; conflicts < 5; {
		if !change(&r) {
			return r, rev, nil
		}
		r.Key = key
		r.UpdatedAt = s.now().UTC()
		b, err := json.Marshal(r)
		if err != nil {
			return r, rev, fmt.Errorf("write result %s: %w", key, err)
		}
		var written uint64
		if rev == 0 {
			written, err = s.kv.Create(ctx, key, b)
		} else {
			written, err = s.kv.Update(ctx, key, b, rev)
		}
		switch {
		case err == nil:
			return r, written, nil
		case errors.Is(err, jetstream.ErrKeyExists):
			conflicts++
			if r, rev, err = s.get(ctx, key); err != nil {
				return r, rev, err
			}
		default:
			select {
			case <-ctx.Done():
				return r, rev, fmt.Errorf("write result %s: %w", key, err)
			case <-time.After(writeRetry):
			}
			// Re-read: the failed write may have landed after all.
			if got, gotRev, gerr := s.get(ctx, key); gerr == nil {
				r, rev = got, gotRev
			}
		}
	}
	return r, rev, fmt.Errorf("write result %s: too many concurrent writers", key)
}

// writeRetry is the pause between tries of a result write the bucket refused.
const writeRetry = 250 * time.Millisecond
