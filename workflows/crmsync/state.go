package crmsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/calldex/calldex/events"
)

// Keys in the sync_cursors bucket, per source (tenant and source ids are
// [a-z0-9_-], so no key of one source is a key of another):
//
//	<tenant>.<source>          state: the cursor and what goes with it
//	<tenant>.<source>.wake     "sync now" requests (webhooks, SyncNow)
//	<tenant>.<source>.resync   full resync requests
const (
	suffixWake   = ".wake"
	suffixResync = ".resync"
)

func stateKey(tenant, source string) string { return tenant + "." + source }

// requestKeyFilters match every wake and resync request; one watcher each,
// as servers before 2.10 refuse consumers with several filter subjects.
var requestKeyFilters = []string{"*.*" + suffixWake, "*.*" + suffixResync}

// parseRequestKey splits "<tenant>.<source>.<kind>".
func parseRequestKey(key string) (tenant, source string, ok bool) {
	parts := strings.Split(key, ".")
	if len(parts) != 3 {
		return "", "", false
	}
	return parts[0], parts[1], true
}

const stateVersion = 1

// state is the value under <tenant>.<source>. Every write is a
// compare-and-set on the revision read when the run began, so a replica
// that lost its lease cannot overwrite the cursor of the one that took it.
type state struct {
	V int `json:"v"`
	// Cursor is the connector's cursor after the last page whose events
	// were all acked; "" starts from the beginning.
	Cursor string `json:"cursor"`
	// NewestChange is the newest contact update time seen (lag metric).
	NewestChange time.Time `json:"newestChange,omitzero"`
	// SyncedAt is when the cursor was last stored.
	SyncedAt time.Time `json:"syncedAt,omitzero"`
	// Resync is set from the start of a full resync until its reconcile
	// is done.
	Resync *resyncMark `json:"resync,omitempty"`
	// ResyncHandled is the revision of the last resync request acted on.
	ResyncHandled uint64 `json:"resyncHandled,omitempty"`
}

// resyncMark records a running full resync. Term is the leadership term
// that runs it: the contacts seen so far live in that term's memory, so a
// term that finds another's mark starts the pass again.
type resyncMark struct {
	Term      string    `json:"term"`
	StartedAt time.Time `json:"startedAt"`
}

// loadState reads a source's state and its revision (0: none yet).
func loadState(ctx context.Context, kv jetstream.KeyValue, key string) (state, uint64, error) {
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return state{V: stateVersion}, 0, nil
	}
	if err != nil {
		return state{}, 0, fmt.Errorf("read sync state %s: %w", key, err)
	}
	var st state
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		// Not ours (an operator put a bare cursor?): take it as the cursor.
		st = state{Cursor: strings.TrimSpace(string(e.Value()))}
	}
	st.V = stateVersion
	return st, e.Revision(), nil
}

// storeState writes st if the key is still at rev, and returns the new
// revision. A mismatch means another replica wrote meanwhile: errLeaseLost.
func storeState(ctx context.Context, kv jetstream.KeyValue, key string, st state, rev uint64) (uint64, error) {
	data, err := json.Marshal(st)
	if err != nil {
		return 0, err
	}
	var next uint64
	if rev == 0 {
		next, err = kv.Create(ctx, key, data)
	} else {
		next, err = kv.Update(ctx, key, data, rev)
	}
	switch {
	case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		return 0, fmt.Errorf("store sync state %s: %w: %w", key, errLeaseLost, err)
	case err != nil:
		return 0, fmt.Errorf("store sync state %s: %w", key, err)
	}
	return next, nil
}

// Requests asks whichever replica syncs a source, in this process or
// another, to sync it now or to resync it fully. It only writes to the
// sync_cursors bucket, so the ingress can use it without running a Syncer.
type Requests struct {
	kv jetstream.KeyValue
}

// NewRequests returns Requests on the sync_cursors bucket.
func NewRequests(kv jetstream.KeyValue) *Requests { return &Requests{kv: kv} }

type request struct {
	At     time.Time `json:"at"`
	Reason string    `json:"reason,omitempty"`
}

// SyncNow asks for a poll of the source as soon as its syncer is not
// waiting on a failure (backoff, Retry-After). The syncer that holds the
// lease watches the bucket and usually starts within milliseconds.
// Errors wrap events.ErrInvalid for a bad id.
func (r *Requests) SyncNow(ctx context.Context, tenant, source string) error {
	return r.put(ctx, tenant, source, suffixWake, "sync now")
}

// Resync asks for a full resync of the source: its cursor is reset and,
// once the pass is complete, the contacts of the source that the CRM no
// longer lists are deleted. It is durable: a resync asked while no syncer
// runs starts with the next one.
func (r *Requests) Resync(ctx context.Context, tenant, source string) error {
	return r.put(ctx, tenant, source, suffixResync, "resync")
}

func (r *Requests) put(ctx context.Context, tenant, source, suffix, reason string) error {
	if err := errors.Join(events.ValidID(tenant), events.ValidID(source)); err != nil {
		return fmt.Errorf("%s %s/%s: %w", reason, tenant, source, err)
	}
	data, _ := json.Marshal(request{At: time.Now().UTC(), Reason: reason})
	if _, err := r.kv.Put(ctx, stateKey(tenant, source)+suffix, data); err != nil {
		return fmt.Errorf("%s %s/%s: %w", reason, tenant, source, err)
	}
	return nil
}
