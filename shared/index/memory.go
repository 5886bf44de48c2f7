package index

import (
	"context"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"sync"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/phone"
)

var _ Index = (*Memory)(nil)

// Memory is the in-process Index of the embedded mode, rebuilt from the
// CONTACTS stream at start. It ranks exactly like Redis (same tie-break,
// same millisecond resolution), so the two are interchangeable. It honours
// a context that is already done, like Redis, but never blocks on one.
//
// It holds millions of contacts without making the garbage collector the
// lookups' bottleneck: each contact is one record (see record), and the
// maps and lists that find it hold only integers.
//
// SearchName scans every contact of the tenant: fine for the embedded mode's
// sizes, and, unlike Redis, it has no cap on the entries it examines.
type Memory struct {
	hash    func(string) uint64
	mu      sync.RWMutex
	tenants map[string]*memTenant
}

// memTenant is one tenant's part of the index. Contacts live in slots;
// refs and phone keys are found by their 64-bit hash, and since two
// strings may share a hash, every hit is checked against the record.
type memTenant struct {
	slots     []memSlot
	free      []int32          // unused slots
	count     int              // contacts stored
	distinct  int              // distinct keys posted
	refs      map[uint64]int32 // hash(ref) → first slot of its chain (memSlot.next)
	keys      map[uint64]int32 // hash(key) → first link of its postings
	links     []memLink
	freeLinks []int32 // unused links
}

// memSlot is a stored contact.
type memSlot struct {
	rec  record // "" when the slot is free
	ms   int64  // UpdatedAt in Unix milliseconds, Redis's score
	next int32  // next slot whose ref has the same hash, -1 at the end
}

// memLink is one slot in the postings of a key hash.
type memLink struct {
	slot, next int32
}

// NewMemory returns an empty in-process index.
func NewMemory() *Memory {
	seed := maphash.MakeSeed()
	return newMemory(func(s string) uint64 { return maphash.String(seed, s) })
}

func newMemory(hash func(string) uint64) *Memory {
	return &Memory{hash: hash, tenants: make(map[string]*memTenant)}
}

// Upsert stores e, replacing every key and name of the previous version.
func (m *Memory) Upsert(ctx context.Context, tenant string, e Entry) error {
	if err := checkCall(ctx, tenant); err != nil {
		return fmt.Errorf("index upsert %s: %w", tenant, err)
	}
	if err := validContact(tenant, e.Contact.Source, e.Contact.ID); err != nil {
		return fmt.Errorf("index upsert %s: %w", tenant, err)
	}
	rec := encodeRecord(e)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.put(tenant, rec, e.Contact.UpdatedAt.UnixMilli())
	return nil
}

// Delete removes a contact and all its keys; a missing contact is no error.
func (m *Memory) Delete(ctx context.Context, tenant, source, id string) error {
	if err := checkCall(ctx, tenant); err != nil {
		return fmt.Errorf("index delete %s: %w", tenant, err)
	}
	if err := validContact(tenant, source, id); err != nil {
		return fmt.Errorf("index delete %s: %w", tenant, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.remove(tenant, ref(source, id))
	return nil
}

// memLockChunk bounds the changes ApplyBatch makes under one hold of the
// write lock, so that lookups wait microseconds, not a whole batch.
const memLockChunk = 256

// ApplyBatch applies changes of one tenant as Upsert and Delete would, one
// after the other, taking the write lock once per 256 changes. It writes
// nothing when a change is invalid (events.ErrInvalid) or ctx is done.
func (m *Memory) ApplyBatch(ctx context.Context, tenant string, changes []Change) error {
	if err := checkCall(ctx, tenant); err != nil {
		return fmt.Errorf("index batch %s: %w", tenant, err)
	}
	if err := checkBatch(tenant, changes); err != nil {
		return fmt.Errorf("index batch %s: %w", tenant, err)
	}
	changes = lastPerContact(changes)
	// Encoded before locking: lookups wait only for the map updates.
	recs := make([]record, len(changes))
	for i, c := range changes {
		if !c.Delete {
			recs[i] = encodeRecord(c.Entry)
		}
	}
	for lo := 0; lo < len(changes); lo += memLockChunk {
		hi := min(lo+memLockChunk, len(changes))
		m.applyLocked(tenant, changes[lo:hi], recs[lo:hi])
	}
	return nil
}

func (m *Memory) applyLocked(tenant string, changes []Change, recs []record) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, c := range changes {
		if c.Delete {
			m.remove(tenant, c.ref())
		} else {
			m.put(tenant, recs[i], c.Entry.Contact.UpdatedAt.UnixMilli())
		}
	}
}

// put stores rec, replacing the contact's previous version; the caller
// holds the write lock.
func (m *Memory) put(tenant string, rec record, ms int64) {
	t := m.tenants[tenant]
	if t == nil {
		t = &memTenant{refs: make(map[uint64]int32), keys: make(map[uint64]int32)}
		m.tenants[tenant] = t
	}
	r := rec.ref()
	s := t.find(m.hash(r), r)
	if s < 0 {
		s = t.alloc(m.hash(r))
	} else {
		t.slots[s].rec.keys(func(k phone.Key) { t.unlink(m.hash(string(k)), s, k) })
	}
	t.slots[s].rec, t.slots[s].ms = rec, ms
	rec.keys(func(k phone.Key) { t.link(m.hash(string(k)), s, k) })
}

// remove drops a contact of tenant, and the tenant once it has none; the
// caller holds the write lock.
func (m *Memory) remove(tenant, r string) {
	t := m.tenants[tenant]
	if t == nil {
		return
	}
	h := m.hash(r)
	s := t.find(h, r)
	if s < 0 {
		return
	}
	t.slots[s].rec.keys(func(k phone.Key) { t.unlink(m.hash(string(k)), s, k) })
	t.release(h, s)
	if t.count == 0 {
		delete(m.tenants, tenant)
	}
}

// first is the head of the chain of hash h in m, or -1.
func first(m map[uint64]int32, h uint64) int32 {
	if i, ok := m[h]; ok {
		return i
	}
	return -1
}

// take returns an unused element of items, reusing a freed one if any.
func take[T any](items *[]T, free *[]int32) int32 {
	if n := len(*free); n > 0 {
		i := (*free)[n-1]
		*free = (*free)[:n-1]
		return i
	}
	*items = append(*items, *new(T))
	return int32(len(*items) - 1)
}

// find returns the slot of ref r (hash h), or -1.
func (t *memTenant) find(h uint64, r string) int32 {
	for s := first(t.refs, h); s >= 0; s = t.slots[s].next {
		if t.slots[s].rec.ref() == r {
			return s
		}
	}
	return -1
}

// alloc takes a slot for a new contact whose ref hashes to h.
func (t *memTenant) alloc(h uint64) int32 {
	s := take(&t.slots, &t.free)
	t.slots[s].next = first(t.refs, h)
	t.refs[h] = s
	t.count++
	return s
}

// release frees slot s, whose ref hashes to h.
func (t *memTenant) release(h uint64, s int32) {
	if head := t.refs[h]; head == s {
		if next := t.slots[s].next; next >= 0 {
			t.refs[h] = next
		} else {
			delete(t.refs, h)
		}
	} else {
		p := head
		for t.slots[p].next != s {
			p = t.slots[p].next
		}
		t.slots[p].next = t.slots[s].next
	}
	t.slots[s] = memSlot{next: -1}
	t.free = append(t.free, s)
	t.count--
}

// link adds slot s to the postings of key k (hash h).
func (t *memTenant) link(h uint64, s int32, k phone.Key) {
	if !t.posted(h, k, s) {
		t.distinct++
	}
	l := take(&t.links, &t.freeLinks)
	t.links[l] = memLink{slot: s, next: first(t.keys, h)}
	t.keys[h] = l
}

// unlink removes slot s from the postings of key k (hash h).
func (t *memTenant) unlink(h uint64, s int32, k phone.Key) {
	prev := int32(-1)
	for l := first(t.keys, h); l >= 0; prev, l = l, t.links[l].next {
		if t.links[l].slot != s {
			continue
		}
		switch next := t.links[l].next; {
		case prev >= 0:
			t.links[prev].next = next
		case next >= 0:
			t.keys[h] = next
		default:
			delete(t.keys, h)
		}
		t.links[l] = memLink{slot: -1, next: -1}
		t.freeLinks = append(t.freeLinks, l)
		if !t.posted(h, k, s) {
			t.distinct--
		}
		return
	}
}

// posted tells whether a slot other than s is posted under key k (hash h).
// A number many contacts share finds one at once, so this stays cheap.
func (t *memTenant) posted(h uint64, k phone.Key, s int32) bool {
	for l := first(t.keys, h); l >= 0; l = t.links[l].next {
		if x := t.links[l].slot; x != s && t.slots[x].rec.hasKey(k) {
			return true
		}
	}
	return false
}

// Instant says that Memory answers from the process's memory: a lookup
// never waits on a network or a disk, so a deadline is of no use to it.
func (m *Memory) Instant() {}

// Lookup returns at most limit contacts found under any of keys, exact
// matches first, then newest first.
func (m *Memory) Lookup(ctx context.Context, tenant string, keys []phone.Key, limit int) ([]Match, error) {
	if err := checkCall(ctx, tenant); err != nil {
		return nil, fmt.Errorf("index lookup %s: %w", tenant, err)
	}
	if limit <= 0 || len(keys) == 0 {
		return nil, nil
	}
	hashes := make([]uint64, len(keys))
	for i, k := range keys {
		hashes[i] = m.hash(string(k))
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	t := m.tenants[tenant]
	if t == nil {
		return nil, nil
	}
	var hits []memHit
	var seen map[int32]int // slot → position in hits, once hits are many
	for i, k := range keys {
		kind := k.Kind()
		for l := first(t.keys, hashes[i]); l >= 0; l = t.links[l].next {
			s := t.links[l].slot
			slot := &t.slots[s]
			if !slot.rec.hasKey(k) {
				continue // another key with the same hash
			}
			if j := hitAt(hits, seen, s); j >= 0 {
				// Found again: the contact matches as well as its best key.
				hits[j].kind = min(hits[j].kind, kind)
				continue
			}
			hits = append(hits, memHit{slot: s, rec: slot.rec, ms: slot.ms, kind: kind})
			if len(hits) > memSeenScan {
				if seen == nil {
					seen = make(map[int32]int, 2*len(hits))
					for j, h := range hits {
						seen[h.slot] = j
					}
				}
				seen[s] = len(hits) - 1
			}
		}
	}
	slices.SortFunc(hits, func(a, b memHit) int {
		return lookupOrder(a.kind, b.kind, a.ms, b.ms, a.rec.ref(), b.rec.ref())
	})
	hits = hits[:min(limit, len(hits))]
	out := make([]Match, len(hits))
	for i, h := range hits {
		out[i] = Match{Contact: h.rec.contact(), Kind: h.kind}
	}
	return out, nil
}

// memSeenScan is how many hits a lookup scans for duplicates before it
// indexes them in a map (a number many contacts share).
const memSeenScan = 16

// memHit is a contact found by a lookup or search.
type memHit struct {
	slot  int32
	rec   record
	ms    int64
	kind  phone.Kind
	whole int
}

// hitAt returns the position of slot s in hits, or -1.
func hitAt(hits []memHit, seen map[int32]int, s int32) int {
	if seen != nil {
		if j, ok := seen[s]; ok {
			return j
		}
		return -1
	}
	for j, h := range hits {
		if h.slot == s {
			return j
		}
	}
	return -1
}

// SearchName returns at most limit contacts whose name has, for every word
// of query, a word starting with it.
func (m *Memory) SearchName(ctx context.Context, tenant, query string, limit int) ([]events.Contact, error) {
	if err := checkCall(ctx, tenant); err != nil {
		return nil, fmt.Errorf("index search %s: %w", tenant, err)
	}
	q := FoldName(query)
	if limit <= 0 || len(q) == 0 {
		return nil, nil
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	t := m.tenants[tenant]
	if t == nil {
		return nil, nil
	}
	var hits []memHit
	var words []string
	for s, slot := range t.slots {
		if slot.rec == "" {
			continue
		}
		words = slot.rec.words(words[:0])
		if whole, ok := matchWords(words, q); ok {
			hits = append(hits, memHit{slot: int32(s), rec: slot.rec, ms: slot.ms, whole: whole})
		}
	}
	slices.SortFunc(hits, func(a, b memHit) int {
		if a.whole != b.whole {
			return b.whole - a.whole
		}
		return newerFirst(a.ms, b.ms, a.rec.ref(), b.rec.ref())
	})
	hits = hits[:min(limit, len(hits))]
	out := make([]events.Contact, len(hits))
	for i, h := range hits {
		out[i] = h.rec.contact()
	}
	return out, nil
}

// Stats counts what a tenant has in the index.
func (m *Memory) Stats(ctx context.Context, tenant string) (Stats, error) {
	if err := checkCall(ctx, tenant); err != nil {
		return Stats{}, fmt.Errorf("index stats %s: %w", tenant, err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	t := m.tenants[tenant]
	if t == nil {
		return Stats{}, nil
	}
	return Stats{Contacts: int64(t.count), Keys: int64(t.distinct)}, nil
}

// matchWords reports whether every query word starts some name word, and
// how many query words equal a name word (the ranking's "whole-word hits").
// The Redis search script implements the same rule in Lua.
func matchWords(words, query []string) (whole int, ok bool) {
	for _, q := range query {
		found, equal := false, false
		for _, w := range words {
			if w == q {
				found, equal = true, true
				break
			}
			if strings.HasPrefix(w, q) {
				found = true
			}
		}
		if !found {
			return 0, false
		}
		if equal {
			whole++
		}
	}
	return whole, true
}
