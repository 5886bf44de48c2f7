package appconnect

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/natsx"
)

// KV bucket names (prefixed by the topology like every bucket).
const (
	BucketRevoked  = "appconnect_revoked"
	BucketCallLogs = "appconnect_calllogs"

	// DefaultCallLogRetention is how long a call log's App Connect data
	// (notes, dispositions) is kept: as long as workflow results.
	DefaultCallLogRetention = 30 * 24 * time.Hour
)

// Revocations remembers revoked session token ids until the tokens would
// have expired anyway.
type Revocations interface {
	// Revoke marks token id revoked until until (the token's expiry).
	// Errors wrap ErrStore.
	Revoke(ctx context.Context, id string, until time.Time) error
	// Revoked reports whether token id is revoked. Every authenticated
	// request asks, the ringing lookup included: implementations answer
	// from memory.
	Revoked(ctx context.Context, id string) (bool, error)
}

// CallLog is what Calldex keeps of one call App Connect logged: the
// workflow that writes it to the CRM, and the fields GET /callLog shows
// (subject, note, dispositions) as the latest POST, PATCH or PUT left them.
type CallLog struct {
	SessionID string `json:"sessionId"`
	// Key is the idempotency key of the CallLog workflow run.
	Key string `json:"key"`
	// LogID is the CRM activity id, once the workflow is done.
	LogID           string         `json:"logId,omitempty"`
	ContactID       string         `json:"contactId,omitempty"`
	ContactType     string         `json:"contactType,omitempty"`
	ContactName     string         `json:"contactName,omitempty"`
	Direction       string         `json:"direction,omitempty"`
	StartTime       string         `json:"startTime,omitempty"`
	Subject         string         `json:"subject,omitempty"`
	Note            string         `json:"note,omitempty"`
	Result          string         `json:"result,omitempty"`
	Recording       string         `json:"recording,omitempty"`
	DurationSeconds *int           `json:"durationSeconds,omitempty"`
	Dispositions    map[string]any `json:"dispositions,omitempty"`
	// UpdateKey is the key of the last CallLogUpdate workflow run.
	UpdateKey string `json:"updateKey,omitempty"`
	// SyncedHash identifies the fields the CRM last got (by the CallLog run
	// or a CallLogUpdate run): an update that leaves them so runs nothing.
	SyncedHash string `json:"syncedHash,omitempty"`
	// DispositionKey is the key of the last disposition workflow run, and
	// DispositionHash identifies the dispositions the CRM last got: the
	// same dispositions sent again run nothing.
	DispositionKey  string    `json:"dispositionKey,omitempty"`
	DispositionHash string    `json:"dispositionHash,omitempty"`
	UpdatedAt       time.Time `json:"updatedAt"`
}

// CallLogStore keeps CallLogs by tenant and RingCentral session id.
type CallLogStore interface {
	// Get returns the call log of a session, or an error wrapping
	// ErrNoCallLog; other errors wrap ErrStore.
	Get(ctx context.Context, tenant, sessionID string) (CallLog, error)
	// Update changes a session's call log atomically: fn gets the stored
	// one (exists false and a zero CallLog when there is none) and edits
	// it in place; its error aborts the update and is returned as is. fn
	// may run more than once when writers race. Store errors wrap ErrStore.
	Update(ctx context.Context, tenant, sessionID string, fn func(cl *CallLog, exists bool) error) (CallLog, error)
}

// EnsureBuckets creates or opens the App Connect KV buckets of the
// topology: revoked token ids live as long as a token (tokenTTL), call logs
// callLogRetention (0: DefaultCallLogRetention).
func EnsureBuckets(ctx context.Context, js jetstream.JetStream, topo events.Topology, tokenTTL, callLogRetention time.Duration) (revoked, callLogs jetstream.KeyValue, err error) {
	if tokenTTL <= 0 {
		tokenTTL = DefaultTokenTTL
	}
	if callLogRetention <= 0 {
		callLogRetention = DefaultCallLogRetention
	}
	revoked, err = natsx.EnsureBucket(ctx, js, topo, jetstream.KeyValueConfig{
		Bucket:  BucketRevoked,
		History: 1,
		// A revocation is useless once the token has expired by itself.
		TTL: tokenTTL + time.Hour,
	})
	if err != nil {
		return nil, nil, err
	}
	callLogs, err = natsx.EnsureBucket(ctx, js, topo, jetstream.KeyValueConfig{Bucket: BucketCallLogs, History: 1, TTL: callLogRetention})
	if err != nil {
		return nil, nil, err
	}
	return revoked, callLogs, nil
}

// MemoryRevocations is an in-process Revocations, for tests and a single
// process.
type MemoryRevocations struct {
	mu  sync.Mutex
	ids map[string]time.Time
	now func() time.Time
}

var _ Revocations = (*MemoryRevocations)(nil)

// NewMemoryRevocations returns an empty in-process store.
func NewMemoryRevocations() *MemoryRevocations {
	return &MemoryRevocations{ids: map[string]time.Time{}, now: time.Now}
}

// Revoke implements Revocations.
func (m *MemoryRevocations) Revoke(ctx context.Context, id string, until time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrStore, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	prune(m.ids, m.now())
	m.ids[id] = until
	return nil
}

// Revoked implements Revocations.
func (m *MemoryRevocations) Revoked(_ context.Context, id string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	until, ok := m.ids[id]
	return ok && m.now().Before(until), nil
}

func prune(ids map[string]time.Time, now time.Time) {
	maps.DeleteFunc(ids, func(_ string, until time.Time) bool { return !now.Before(until) })
}

// KVRevocations keeps revoked token ids in a JetStream KV bucket, so every
// ingress replica refuses a token revoked through any of them. It mirrors
// the bucket in memory through a watch: Revoked costs a map read.
type KVRevocations struct {
	kv  jetstream.KeyValue
	now func() time.Time

	mu  sync.RWMutex
	ids map[string]time.Time
}

var _ Revocations = (*KVRevocations)(nil)

// NewKVRevocations loads the bucket (EnsureBuckets' revoked) and follows it
// until ctx ends; it returns once every stored revocation is loaded.
func NewKVRevocations(ctx context.Context, kv jetstream.KeyValue) (*KVRevocations, error) {
	r := &KVRevocations{kv: kv, now: time.Now, ids: map[string]time.Time{}}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: watch %s: %w", ErrStore, kv.Bucket(), err)
	}
	loaded := make(chan struct{})
	go r.follow(ctx, w, loaded)
	select {
	case <-loaded:
		return r, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: load %s: %w", ErrStore, kv.Bucket(), ctx.Err())
	}
}

// follow applies the bucket's changes until ctx ends, watching again
// (which reloads every entry) whenever a watch ends early.
func (r *KVRevocations) follow(ctx context.Context, w jetstream.KeyWatcher, loaded chan struct{}) {
	var once sync.Once
	markLoaded := func() { once.Do(func() { close(loaded) }) }
	for backoff := 100 * time.Millisecond; ; backoff = min(backoff*2, 5*time.Second) {
		if w != nil {
			r.consume(ctx, w, markLoaded)
			_ = w.Stop()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		var err error
		if w, err = r.kv.WatchAll(ctx); err != nil {
			w = nil
		}
	}
}

// consume applies a watch's entries until it ends; the nil entry marks the
// end of the stored ones.
func (r *KVRevocations) consume(ctx context.Context, w jetstream.KeyWatcher, markLoaded func()) {
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil {
				markLoaded()
				continue
			}
			r.apply(e)
		}
	}
}

func (r *KVRevocations) apply(e jetstream.KeyValueEntry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if op := e.Operation(); op == jetstream.KeyValueDelete || op == jetstream.KeyValuePurge {
		delete(r.ids, e.Key())
		return
	}
	until, err := time.Parse(time.RFC3339Nano, string(e.Value()))
	if err != nil {
		// Unreadable: keep the token refused for as long as any token lives.
		until = r.now().Add(DefaultTokenTTL)
	}
	r.ids[e.Key()] = until
}

// Revoke implements Revocations. The revocation is seen by this process at
// once and by the others as soon as their watch delivers it.
func (r *KVRevocations) Revoke(ctx context.Context, id string, until time.Time) error {
	if !kvSafe(id) {
		return fmt.Errorf("%w: token id %q is not a valid key", ErrStore, id)
	}
	if _, err := r.kv.Put(ctx, id, []byte(until.UTC().Format(time.RFC3339Nano))); err != nil {
		return fmt.Errorf("%w: revoke: %w", ErrStore, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	prune(r.ids, r.now())
	r.ids[id] = until
	return nil
}

// Revoked implements Revocations from memory.
func (r *KVRevocations) Revoked(_ context.Context, id string) (bool, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	until, ok := r.ids[id]
	return ok && r.now().Before(until), nil
}

// kvSafe reports whether s is a valid KV key made of token-id characters.
func kvSafe(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// MemoryCallLogs is an in-process CallLogStore for tests and a single
// process.
type MemoryCallLogs struct {
	mu   sync.Mutex
	logs map[string]CallLog
}

var _ CallLogStore = (*MemoryCallLogs)(nil)

// NewMemoryCallLogs returns an empty in-process store.
func NewMemoryCallLogs() *MemoryCallLogs { return &MemoryCallLogs{logs: map[string]CallLog{}} }

// Get implements CallLogStore.
func (m *MemoryCallLogs) Get(ctx context.Context, tenant, sessionID string) (CallLog, error) {
	if err := ctx.Err(); err != nil {
		return CallLog{}, fmt.Errorf("%w: %w", ErrStore, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cl, ok := m.logs[callLogKey(tenant, sessionID)]
	if !ok {
		return CallLog{}, fmt.Errorf("call log %s/%s: %w", tenant, sessionID, ErrNoCallLog)
	}
	return cloneCallLog(cl), nil
}

// Update implements CallLogStore.
func (m *MemoryCallLogs) Update(ctx context.Context, tenant, sessionID string, fn func(*CallLog, bool) error) (CallLog, error) {
	if err := ctx.Err(); err != nil {
		return CallLog{}, fmt.Errorf("%w: %w", ErrStore, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := callLogKey(tenant, sessionID)
	cl, ok := m.logs[k]
	cl = cloneCallLog(cl)
	if err := fn(&cl, ok); err != nil {
		return CallLog{}, err
	}
	cl.SessionID = sessionID
	m.logs[k] = cl
	return cloneCallLog(cl), nil
}

func cloneCallLog(cl CallLog) CallLog {
	cl.Dispositions = maps.Clone(cl.Dispositions)
	if cl.DurationSeconds != nil {
		d := *cl.DurationSeconds
		cl.DurationSeconds = &d
	}
	return cl
}

// KVCallLogs keeps CallLogs in a JetStream KV bucket (EnsureBuckets'
// callLogs), updated with compare-and-set so concurrent PATCH and PUT
// requests on one call do not lose each other's fields.
type KVCallLogs struct {
	kv jetstream.KeyValue
}

var _ CallLogStore = (*KVCallLogs)(nil)

// NewKVCallLogs uses a ready bucket.
func NewKVCallLogs(kv jetstream.KeyValue) *KVCallLogs { return &KVCallLogs{kv: kv} }

// maxCASTries bounds the retries of a contended update; writers of one
// call (a PATCH, a PUT, a repeated POST) rarely collide more than once.
const maxCASTries = 30

// Get implements CallLogStore.
func (s *KVCallLogs) Get(ctx context.Context, tenant, sessionID string) (CallLog, error) {
	cl, _, err := s.get(ctx, callLogKey(tenant, sessionID))
	if err != nil {
		return CallLog{}, fmt.Errorf("call log %s/%s: %w", tenant, sessionID, err)
	}
	return cl, nil
}

func (s *KVCallLogs) get(ctx context.Context, key string) (CallLog, uint64, error) {
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return CallLog{}, 0, ErrNoCallLog
	}
	if err != nil {
		return CallLog{}, 0, fmt.Errorf("%w: %w", ErrStore, err)
	}
	var cl CallLog
	if err := json.Unmarshal(e.Value(), &cl); err != nil {
		return CallLog{}, 0, fmt.Errorf("%w: decode: %w", ErrStore, err)
	}
	return cl, e.Revision(), nil
}

// Update implements CallLogStore.
func (s *KVCallLogs) Update(ctx context.Context, tenant, sessionID string, fn func(*CallLog, bool) error) (CallLog, error) {
	key := callLogKey(tenant, sessionID)
	for range maxCASTries {
		cl, rev, err := s.get(ctx, key)
		exists := err == nil
		if err != nil && !errors.Is(err, ErrNoCallLog) {
			return CallLog{}, fmt.Errorf("call log %s/%s: %w", tenant, sessionID, err)
		}
		if err := fn(&cl, exists); err != nil {
			return CallLog{}, err
		}
		cl.SessionID = sessionID
		b, err := json.Marshal(cl)
		if err != nil {
			return CallLog{}, fmt.Errorf("%w: encode: %w", ErrStore, err)
		}
		if exists {
			_, err = s.kv.Update(ctx, key, b, rev)
		} else {
			_, err = s.kv.Create(ctx, key, b)
		}
		switch {
		case err == nil:
			return cl, nil
		case errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch):
			// Another writer was first: read again after a jittered pause,
			// so that racing writers spread out.
			select {
			case <-ctx.Done():
				return CallLog{}, fmt.Errorf("%w: call log %s/%s: %w", ErrStore, tenant, sessionID, ctx.Err())
			case <-time.After(time.Duration(rand.Int64N(int64(2 * time.Millisecond)))):
			}
			continue
		default:
			return CallLog{}, fmt.Errorf("%w: call log %s/%s: %w", ErrStore, tenant, sessionID, err)
		}
	}
	return CallLog{}, fmt.Errorf("%w: call log %s/%s: too much contention", ErrStore, tenant, sessionID)
}

// Erase purges every call log of tenant whose stored JSON held reports
// true for (a number being erased), with its history, and returns how many
// it purged.
func (s *KVCallLogs) Erase(ctx context.Context, tenant string, held func(data []byte) bool) (int, error) {
	lister, err := s.kv.ListKeysFiltered(ctx, tenant+".>")
	if err != nil {
		return 0, fmt.Errorf("list call logs of %s: %w", tenant, err)
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	n := 0
	for _, k := range keys {
		e, err := s.kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("read call log %s: %w", k, err)
		}
		if !held(e.Value()) {
			continue
		}
		if err := s.kv.Purge(ctx, k); err != nil {
			return n, fmt.Errorf("purge call log %s: %w", k, err)
		}
		n++
	}
	return n, nil
}

// callLogKey is a valid KV key for any session id: ids are encoded
// base64url, tenants are already [a-z0-9_-].
func callLogKey(tenant, sessionID string) string {
	return tenant + "." + base64.RawURLEncoding.EncodeToString([]byte(sessionID))
}

// KVStores ensures the buckets (EnsureBuckets, default call log retention)
// and returns the revocations, followed until ctx ends, and the call logs
// kept in them.
func KVStores(ctx context.Context, js jetstream.JetStream, topo events.Topology, tokenTTL time.Duration) (*KVRevocations, *KVCallLogs, error) {
	revoked, callLogs, err := EnsureBuckets(ctx, js, topo, tokenTTL, 0)
	if err != nil {
		return nil, nil, err
	}
	revocations, err := NewKVRevocations(ctx, revoked)
	if err != nil {
		return nil, nil, err
	}
	return revocations, NewKVCallLogs(callLogs), nil
}
