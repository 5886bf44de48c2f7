package risk

import (
	"cmp"
	"context"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
)

var _ Store = (*Memory)(nil)

// maxTenantsCounted bounds the distinct tenants remembered per number and
// bucket: far above any threshold, it only stops a caller of every tenant
// from growing the set without end.
const maxTenantsCounted = 1024

// Memory is the in-process Store of the embedded mode. Every answered
// lookup counts its caller here, so the numbers are spread over shards,
// each with its own lock: one lock would have the ringing path's
// goroutines queue for it.
type Memory struct {
	w      Window
	seed   maphash.Seed
	shards [memShards]memShard
	// numbers counts the numbers of every shard, for MaxNumbers (a
	// bound: concurrent adds may pass it by a few).
	numbers atomic.Int64
	// swept is the bucket of the last sweep: a full store sweeps once
	// per bucket, not for every new number of a flood.
	swept atomic.Int64
}

const memShards = 16

type memShard struct {
	// mu is held to read for a count that only adds to a slot's counters
	// (atomics) and to write for anything else.
	mu sync.RWMutex
	m  map[string]*memEntry
}

// memEntry is a ring of a number's buckets.
type memEntry struct{ slots []memSlot }

type memSlot struct {
	bucket  int64
	counts  memCounts
	tenants map[string]struct{}
}

// memCounts are a slot's counts, added to concurrently (count's fast path).
type memCounts struct{ calls, afterHours, finished, answered, short atomic.Int64 }

func (c *memCounts) add(o Observation) {
	var d counts
	d.add(o)
	for _, f := range [...]struct {
		n *atomic.Int64
		d int
	}{{&c.calls, d.calls}, {&c.afterHours, d.afterHours}, {&c.finished, d.finished}, {&c.answered, d.answered}, {&c.short, d.short}} {
		if f.d != 0 {
			f.n.Add(int64(f.d))
		}
	}
}

func (c *memCounts) load() counts {
	return counts{calls: int(c.calls.Load()), afterHours: int(c.afterHours.Load()), finished: int(c.finished.Load()),
		answered: int(c.answered.Load()), short: int(c.short.Load())}
}

// NewMemory returns an empty in-process store.
func NewMemory(w Window) (*Memory, error) {
	w, err := w.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Memory{w: w, seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].m = make(map[string]*memEntry)
	}
	return s, nil
}

func (s *Memory) shard(number string) *memShard {
	return &s.shards[maphash.String(s.seed, number)%memShards]
}

// Record implements Store.
func (s *Memory) Record(_ context.Context, obs []Observation) error {
	cur := s.w.bucket(s.w.Now())
	for _, o := range obs {
		s.count(o, cur)
	}
	return nil
}

// Count is Record of one observation made now (o.At is taken as the
// time): on the ringing path, where a slice passed through an interface
// would be an allocation and reading the clock again a tenth of the count.
func (s *Memory) Count(o Observation) {
	s.count(o, s.w.bucket(o.At))
}

// count adds o; a full store is swept first, once per bucket.
func (s *Memory) count(o Observation, cur int64) {
	sh := s.shard(o.Number)
	sh.mu.RLock()
	done := s.addKnown(sh, o, cur)
	sh.mu.RUnlock()
	if done {
		return
	}
	sh.mu.Lock()
	full := s.add(sh, o, cur)
	sh.mu.Unlock()
	if !full {
		return
	}
	if last := s.swept.Load(); last == cur || !s.swept.CompareAndSwap(last, cur) {
		return
	}
	s.sweep(cur)
	sh.mu.Lock()
	s.add(sh, o, cur)
	sh.mu.Unlock()
}

// addKnown counts o with sh read-locked, when that only adds to counters:
// the number is known, its slot is o's bucket and has o's tenant already
// (a caller ringing again, the most frequent case by far); it reports
// whether it did.
func (s *Memory) addKnown(sh *memShard, o Observation, cur int64) bool {
	b := s.w.bucket(o.At)
	e := sh.m[o.Number]
	if e == nil || !s.w.live(b, cur) {
		return false
	}
	slot := &e.slots[b%s.w.buckets()]
	if slot.bucket != b {
		return false
	}
	if _, ok := slot.tenants[o.Tenant]; !ok && len(slot.tenants) < maxTenantsCounted {
		return false
	}
	slot.counts.add(o)
	return true
}

// add counts o in its shard sh (locked), unless its bucket is gone; full
// reports that o's number is new and the store has no room for it.
func (s *Memory) add(sh *memShard, o Observation, cur int64) (full bool) {
	b := s.w.bucket(o.At)
	if !s.w.live(b, cur) {
		return false
	}
	e := sh.m[o.Number]
	if e == nil {
		if s.numbers.Load() >= int64(s.w.MaxNumbers) {
			return true
		}
		e = &memEntry{slots: make([]memSlot, s.w.buckets())}
		sh.m[o.Number] = e
		s.numbers.Add(1)
	}
	slot := &e.slots[b%s.w.buckets()]
	if slot.bucket != b {
		// Under the write lock: no count adds to the slot meanwhile.
		*slot = memSlot{bucket: b, tenants: map[string]struct{}{}}
	}
	slot.counts.add(o)
	if len(slot.tenants) < maxTenantsCounted {
		slot.tenants[o.Tenant] = struct{}{}
	}
	return false
}

// Forget implements Store.
func (s *Memory) Forget(_ context.Context, number string) (bool, error) {
	sh := s.shard(number)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	_, had := sh.m[number]
	if had {
		delete(sh.m, number)
		s.numbers.Add(-1)
	}
	return had, nil
}

// sweep drops the numbers without a live bucket, a shard at a time.
func (s *Memory) sweep(cur int64) {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for n, e := range sh.m {
			if !e.alive(s.w, cur) {
				delete(sh.m, n)
				s.numbers.Add(-1)
			}
		}
		sh.mu.Unlock()
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
		c := sl.counts.load()
		st.add(c)
		activity += c.activity()
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
	sh := s.shard(number)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.m[number]
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
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for num, e := range sh.m {
			st, act := e.stats(s.w, cur)
			if act == 0 {
				continue
			}
			all = append(all, ranked{NumberStats{num, st}, act})
		}
		sh.mu.Unlock()
	}
	slices.SortFunc(all, func(a, b ranked) int {
		return cmp.Or(cmp.Compare(b.activity, a.activity), cmp.Compare(a.Number, b.Number))
	})
	out := make([]NumberStats, 0, min(n, len(all)))
	for _, r := range all[:min(n, len(all))] {
		out = append(out, r.NumberStats)
	}
	return out, nil
}
