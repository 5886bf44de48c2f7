package authguard

import (
	"errors"
	"sync"
	"time"
)

// DefaultMaxReplayKeys bounds Replays by default: at HubSpot's 5-minute
// window, 300 signed notifications a second per replica.
const DefaultMaxReplayKeys = 100_000

// ErrReplayed is First's answer for a key already seen while it is valid.
var ErrReplayed = errors.New("request already received")

// ErrReplaysFull is First's answer when every remembered key is still
// valid and no room is left: the request is refused (the sender retries
// later) rather than accepted without being remembered.
var ErrReplaysFull = errors.New("too many recent requests to remember")

// Replays remembers keys (request signatures) until they expire. Safe for
// concurrent use.
type Replays struct {
	max int
	mu  sync.Mutex
	// until is when each key stops being valid anyway (its signed
	// timestamp leaves the accepted window).
	until map[string]time.Time
}

// NewReplays remembers at most maxKeys keys (DefaultMaxReplayKeys if 0).
func NewReplays(maxKeys int) *Replays {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxReplayKeys
	}
	return &Replays{max: maxKeys, until: map[string]time.Time{}}
}

// First records key as valid until until and returns nil if it was not
// seen before; ErrReplayed if it was and is still valid at now;
// ErrReplaysFull if it cannot be remembered.
func (r *Replays) First(key string, now, until time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if u, ok := r.until[key]; ok && now.Before(u) {
		return ErrReplayed
	}
	if len(r.until) >= r.max {
		for k, u := range r.until {
			if !now.Before(u) {
				delete(r.until, k)
			}
		}
		if len(r.until) >= r.max {
			return ErrReplaysFull
		}
	}
	r.until[key] = until
	return nil
}

// Forget drops key, so that the same request is taken again (it could not
// be applied, and its sender will retry it).
func (r *Replays) Forget(key string) {
	r.mu.Lock()
	delete(r.until, key)
	r.mu.Unlock()
}
