package crmsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/calldex/calldex/shared/tenant"
)

// suffixError keys the last failure of a source's sync
// (<tenant>.<source>.error), for operators: the cursor's state is written
// by compare-and-set on success only, so a failure lives beside it.
const suffixError = ".error"

type failureRecord struct {
	At    time.Time `json:"at"`
	Error string    `json:"error"`
}

// recordFailure keeps the last failure of a run where every replica and
// tool can read it; losing it costs only the operator's view.
func (s *source) recordFailure(ctx context.Context, err error) {
	data, _ := json.Marshal(failureRecord{At: s.sy.now().UTC(), Error: err.Error()})
	if _, perr := s.sy.deps.Cursors.Put(ctx, stateKey(s.tenant, s.name)+suffixError, data); perr != nil {
		s.log.Debug("crm sync: failure not recorded", "err", perr)
	}
}

// Status is what an operator sees of one source, read from the
// sync_cursors bucket (so any process can answer, sync role or not).
type Status struct {
	Tenant string `json:"tenant"`
	Source string `json:"source"`
	// Leader is the replica holding the lease of the source's shard, ""
	// when none holds it; LeaseExpires is when it ends unless renewed.
	Leader       string    `json:"leader"`
	LeaseExpires time.Time `json:"leaseExpires,omitzero"`
	Cursor       string    `json:"cursor"`
	// NewestChange is the newest contact update the sync has seen; Lag is
	// now minus it.
	NewestChange time.Time     `json:"newestChange,omitzero"`
	Lag          time.Duration `json:"lagNanos"`
	SyncedAt     time.Time     `json:"syncedAt,omitzero"`
	Resyncing    bool          `json:"resyncing"`
	LastError    string        `json:"lastError,omitempty"`
	LastErrorAt  time.Time     `json:"lastErrorAt,omitzero"`
}

// SourceStatus reads a source's leader, cursor, lag and last failure.
func SourceStatus(ctx context.Context, kv jetstream.KeyValue, cfg Config, tenant, source string) (Status, error) {
	st := Status{Tenant: tenant, Source: source}
	key := stateKey(tenant, source)
	s, _, err := loadState(ctx, kv, key)
	if err != nil {
		return st, err
	}
	st.Cursor, st.NewestChange, st.SyncedAt, st.Resyncing = s.Cursor, s.NewestChange, s.SyncedAt, s.Resync != nil
	if !s.NewestChange.IsZero() {
		st.Lag = time.Since(s.NewestChange)
	}
	var lr leaseRecord
	if ok, err := readJSON(ctx, kv, ShardKey(cfg, tenant, source), &lr); err != nil {
		return st, err
	} else if ok && lr.ExpiresAt.After(time.Now()) {
		st.Leader, st.LeaseExpires = lr.Owner, lr.ExpiresAt
	}
	var fr failureRecord
	if ok, err := readJSON(ctx, kv, key+suffixError, &fr); err != nil {
		return st, err
	} else if ok {
		st.LastError, st.LastErrorAt = fr.Error, fr.At
	}
	return st, nil
}

// readJSON reads a key's JSON value; false when the key is absent.
func readJSON(ctx context.Context, kv jetstream.KeyValue, key string, v any) (bool, error) {
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", key, err)
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return false, fmt.Errorf("read %s: %w", key, err)
	}
	return true, nil
}

// Statuses reads the status of each source of a tenant: its connectors
// with sync on that isSource accepts (those that can list changes).
func Statuses(ctx context.Context, kv jetstream.KeyValue, cfg Config, t *tenant.Tenant, isSource func(tenant.Connector) bool) ([]Status, error) {
	out := []Status{}
	for _, name := range slices.Sorted(maps.Keys(t.Connectors)) {
		c := t.Connectors[name]
		if so, err := ParseSourceOptions(c.Options); err != nil || !so.Sync || !isSource(c) {
			continue
		}
		st, err := SourceStatus(ctx, kv, cfg, t.ID, name)
		if err != nil {
			return out, err
		}
		out = append(out, st)
	}
	return out, nil
}
