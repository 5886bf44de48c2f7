package risk

import (
	"cmp"
	"context"
	"slices"
	"sync"
)

var _ Store = (*Memory)(nil)

// maxTenantsCounted bounds the distinct tenants remembered per number and
// bucket: far above any threshold, it only stops a caller of every tenant
// from growing the set without end.
const maxTenantsCounted = 1024

// Memory is the in-process Store of the embedded mode.
type Memory struct {
	w  Window
	mu sync.Mutex
	m  map[string]*memEntry
	// swept is the bucket of the last sweep: a full store sweeps once
	// per bucket, not for every new number of a flood.
	swept int64
}

// memEntry is a ring of a number's buckets.
type memEntry struct{ slots []memSlot }

type memSlot struct {
	bucket  int64
	counts  counts
	tenants map[string]struct{}
}

// NewMemory returns an empty in-process store.
func NewMemory(w Window) (*Memory, error) {
	w, err := w.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Memory{w: w, m: make(map[string]*memEntry)}, nil
}

// Record implements Store.
func (s *Memory) Record(_ context.Context, obs []Observation) error {
	cur := s.w.bucket(s.w.Now())
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range obs {
		s.add(o, cur)
	}
	return nil
}

// Count is Record of one observation: on the ringing path, where a slice
// passed through an interface would be an allocation per lookup.
func (s *Memory) Count(o Observation) {
	cur := s.w.bucket(s.w.Now())
	s.mu.Lock()
	defer s.mu.Unlock()
	s.add(o, cur)
}

// add counts o, unless its bucket is gone or the store is full.
func (s *Memory) add(o Observation, cur int64) {
	b := s.w.bucket(o.At)
	if !s.w.live(b, cur) {
		return
	}
	e := s.m[o.Number]
	if e == nil {
		if len(s.m) >= s.w.MaxNumbers && s.swept != cur {
			s.sweep(cur)
			s.swept = cur
		}
		if len(s.m) >= s.w.MaxNumbers {
			return
		}
		e = &memEntry{slots: make([]memSlot, s.w.buckets())}
		s.m[o.Number] = e
	}
	slot := &e.slots[b%s.w.buckets()]
	if slot.bucket != b {
		*slot = memSlot{bucket: b, tenants: map[string]struct{}{}}
	}
	slot.counts.add(o)
	if len(slot.tenants) < maxTenantsCounted {
		slot.tenants[o.Tenant] = struct{}{}
	}
}

// Forget implements Store.
func (s *Memory) Forget(_ context.Context, number string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, had := s.m[number]
	delete(s.m, number)
	return had, nil
}

// sweep drops the numbers without a live bucket.
func (s *Memory) sweep(cur int64) {
	for n, e := range s.m {
		if !e.alive(s.w, cur) {
			delete(s.m, n)
		}
	}
}

func (e *memEntry) alive(w Window, cur int64) bool {
	for i := range e.slots {
		if w.live(e.slots[i].bucket, cur) {
			return true
		}
	}
	return false
}

// stats folds the live buckets; activity is what Top ranks by.
func (e *memEntry) stats(w Window, cur int64) (st Stats, activity int) {
	var tenants map[string]struct{}
	for i := range e.slots {
		sl := &e.slots[i]
		if !w.live(sl.bucket, cur) {
			continue
		}
		st.add(sl.counts)
		activity += sl.counts.activity()
		if tenants == nil {
			tenants = make(map[string]struct{}, len(sl.tenants))
		}
		for t := range sl.tenants {
			tenants[t] = struct{}{}
		}
	}
	st.Tenants = len(tenants)
	return st, activity
}

// Stats implements Store.
func (s *Memory) Stats(_ context.Context, number string) (Stats, error) {
	cur := s.w.bucket(s.w.Now())
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[number]
	if e == nil {
		return Stats{}, nil
	}
	st, _ := e.stats(s.w, cur)
	return st, nil
}

// Top implements Store.
func (s *Memory) Top(_ context.Context, n int) ([]NumberStats, error) {
	cur := s.w.bucket(s.w.Now())
	type ranked struct {
		NumberStats
		activity int
	}
	var all []ranked
	s.mu.Lock()
	for num, e := range s.m {
		st, act := e.stats(s.w, cur)
		if act == 0 {
			continue
		}
		all = append(all, ranked{NumberStats{num, st}, act})
	}
	s.mu.Unlock()
	slices.SortFunc(all, func(a, b ranked) int {
		return cmp.Or(cmp.Compare(b.activity, a.activity), cmp.Compare(a.Number, b.Number))
	})
	out := make([]NumberStats, 0, min(n, len(all)))
	for _, r := range all[:min(n, len(all))] {
		out = append(out, r.NumberStats)
	}
	return out, nil
}
