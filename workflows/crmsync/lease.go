package crmsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// leaseRecord is the value under <tenant>.<source>.lease.
type leaseRecord struct {
	Owner     string    `json:"owner"`
	RenewedAt time.Time `json:"renewedAt"`
	// ExpiresAt is RenewedAt plus the TTL, for people reading the bucket;
	// replicas decide with their own TTL.
	ExpiresAt time.Time `json:"expiresAt"`
}

// lease is one source's lease, as one replica sees it. Every change is a
// compare-and-set on the key's revision: Create when the key is absent
// (or deleted), Update(revision) to renew or to take over an expired one.
// It is not safe for concurrent use: the source's loop owns it.
type lease struct {
	kv    jetstream.KeyValue
	key   string
	owner string
	ttl   time.Duration
	now   func() time.Time
	// alive, when set, tells whether an owner still runs: the lease of
	// one that does not counts as expired at once.
	alive func(owner string) bool
	// rev is the revision of our last write while we hold the lease, 0
	// when we do not.
	rev uint64
}

// acquire takes, keeps or renews the lease, and reports whether this
// replica holds it. A renewal that fails for any reason gives the lease
// up: the caller stops syncing at once and tries again later, rather than
// syncing on a lease it may have lost.
func (l *lease) acquire(ctx context.Context) (bool, error) {
	now := l.now()
	data, err := json.Marshal(leaseRecord{Owner: l.owner, RenewedAt: now.UTC(), ExpiresAt: now.Add(l.ttl).UTC()})
	if err != nil {
		return false, err
	}
	if l.rev != 0 {
		rev, err := l.kv.Update(ctx, l.key, data, l.rev)
		if err == nil {
			l.rev = rev
			return true, nil
		}
		if ctx.Err() != nil {
			// Unknown whether it arrived: keep the revision, so that a
			// stopping replica can still release the lease, and a later
			// acquire finds out.
			return false, fmt.Errorf("renew lease %s: %w", l.key, err)
		}
		l.rev = 0
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return false, nil // taken over or released meanwhile
		}
		return false, fmt.Errorf("renew lease %s: %w", l.key, err)
	}

	e, err := l.kv.Get(ctx, l.key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		// Absent, or deleted by a replica that stopped cleanly.
		rev, err := l.kv.Create(ctx, l.key, data)
		switch {
		case err == nil:
			l.rev = rev
			return true, nil
		case errors.Is(err, jetstream.ErrKeyExists):
			return false, nil // another replica created it first
		default:
			return false, fmt.Errorf("create lease %s: %w", l.key, err)
		}
	}
	if err != nil {
		return false, fmt.Errorf("read lease %s: %w", l.key, err)
	}
	var cur leaseRecord
	if json.Unmarshal(e.Value(), &cur) == nil && cur.Owner != l.owner && now.Sub(cur.RenewedAt) < l.ttl &&
		(l.alive == nil || l.alive(cur.Owner)) {
		return false, nil // another replica's, and alive
	}
	// Expired, unreadable, or ours from before a restart: take it, unless
	// another replica is faster.
	rev, err := l.kv.Update(ctx, l.key, data, e.Revision())
	switch {
	case err == nil:
		l.rev = rev
		return true, nil
	case errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		return false, nil
	default:
		return false, fmt.Errorf("take over lease %s: %w", l.key, err)
	}
}

// release deletes the lease if this replica still holds it, so that
// another replica takes over at once instead of waiting for it to expire.
func (l *lease) release(ctx context.Context) error {
	if l.rev == 0 {
		return nil
	}
	rev := l.rev
	l.rev = 0
	if err := l.kv.Delete(ctx, l.key, jetstream.LastRevision(rev)); err != nil {
		return fmt.Errorf("release lease %s: %w", l.key, err)
	}
	return nil
}
