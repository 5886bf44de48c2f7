package index

import (
	"context"
	"fmt"
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
// SearchName scans every contact of the tenant: fine for the embedded mode's
// sizes, and, unlike Redis, it has no cap on the entries it examines.
type Memory struct {
	mu      sync.RWMutex
	tenants map[string]*memTenant
}

// memTenant is one tenant's part of the index.
type memTenant struct {
	contacts map[string]*memContact        // by ref
	keys     map[phone.Key]map[string]bool // phone key → refs
}

// memContact is a stored contact: a private deep copy plus what ranking and
// replacing it need.
type memContact struct {
	ref     string
	contact events.Contact
	ms      int64 // UpdatedAt in Unix milliseconds, Redis's score
	keys    []phone.Key
	words   []string
}

// NewMemory returns an empty in-process index.
func NewMemory() *Memory {
	return &Memory{tenants: make(map[string]*memTenant)}
}

// Upsert stores e, replacing every key and name of the previous version.
func (m *Memory) Upsert(ctx context.Context, tenant string, e Entry) error {
	if err := checkCall(ctx, tenant); err != nil {
		return fmt.Errorf("index upsert %s: %w", tenant, err)
	}
	if err := validContact(tenant, e.Contact.Source, e.Contact.ID); err != nil {
		return fmt.Errorf("index upsert %s: %w", tenant, err)
	}
	c := newMemContact(e)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tenant(tenant).put(c)
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
	// Copied before locking: lookups wait only for the map updates.
	cs := make([]*memContact, len(changes))
	for i, c := range changes {
		if !c.Delete {
			cs[i] = newMemContact(c.Entry)
		}
	}
	for lo := 0; lo < len(changes); lo += memLockChunk {
		m.applyLocked(tenant, changes[lo:min(lo+memLockChunk, len(changes))], cs[lo:])
	}
	return nil
}

func (m *Memory) applyLocked(tenant string, changes []Change, cs []*memContact) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, c := range changes {
		if c.Delete {
			m.remove(tenant, c.ref())
		} else {
			m.tenant(tenant).put(cs[i])
		}
	}
}

// newMemContact makes the stored form of e: a private copy of the contact.
func newMemContact(e Entry) *memContact {
	return &memContact{
		ref:     ref(e.Contact.Source, e.Contact.ID),
		contact: copyContact(e.Contact),
		ms:      e.Contact.UpdatedAt.UnixMilli(),
		keys:    dedupeKeys(e.Keys),
		words:   FoldName(e.Contact.Name),
	}
}

// put stores c, replacing the previous version; the caller holds the
// write lock.
func (t *memTenant) put(c *memContact) {
	t.remove(c.ref)
	t.contacts[c.ref] = c
	for _, k := range c.keys {
		refs := t.keys[k]
		if refs == nil {
			refs = make(map[string]bool)
			t.keys[k] = refs
		}
		refs[c.ref] = true
	}
}

// remove drops a contact of tenant, and the tenant once it has none; the
// caller holds the write lock.
func (m *Memory) remove(tenant, r string) {
	if t := m.tenants[tenant]; t != nil {
		t.remove(r)
		if len(t.contacts) == 0 {
			delete(m.tenants, tenant)
		}
	}
}

// Lookup returns at most limit contacts found under any of keys, exact
// matches first, then newest first.
func (m *Memory) Lookup(ctx context.Context, tenant string, keys []phone.Key, limit int) ([]Match, error) {
	if err := checkCall(ctx, tenant); err != nil {
		return nil, fmt.Errorf("index lookup %s: %w", tenant, err)
	}
	if limit <= 0 || len(keys) == 0 {
		return nil, nil
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	t := m.tenants[tenant]
	if t == nil {
		return nil, nil
	}
	type hit struct {
		c    *memContact
		kind phone.Kind
	}
	var hits []hit
	seen := make(map[string]int) // ref → position in hits
	for _, k := range keys {
		kind := k.Kind()
		for r := range t.keys[k] {
			if i, ok := seen[r]; ok {
				// Found again: the contact matches as well as its best key.
				hits[i].kind = min(hits[i].kind, kind)
				continue
			}
			seen[r] = len(hits)
			hits = append(hits, hit{c: t.contacts[r], kind: kind})
		}
	}
	slices.SortFunc(hits, func(a, b hit) int {
		if a.kind != b.kind {
			return int(a.kind) - int(b.kind)
		}
		return newerFirst(a.c, b.c)
	})
	hits = hits[:min(limit, len(hits))]
	out := make([]Match, len(hits))
	for i, h := range hits {
		out[i] = Match{Contact: copyContact(h.c.contact), Kind: h.kind}
	}
	return out, nil
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
	type hit struct {
		c     *memContact
		whole int
	}
	var hits []hit
	for _, c := range t.contacts {
		if whole, ok := matchWords(c.words, q); ok {
			hits = append(hits, hit{c: c, whole: whole})
		}
	}
	slices.SortFunc(hits, func(a, b hit) int {
		if a.whole != b.whole {
			return b.whole - a.whole
		}
		return newerFirst(a.c, b.c)
	})
	hits = hits[:min(limit, len(hits))]
	out := make([]events.Contact, len(hits))
	for i, h := range hits {
		out[i] = copyContact(h.c.contact)
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
	return Stats{Contacts: int64(len(t.contacts)), Keys: int64(len(t.keys))}, nil
}

// tenant returns the tenant's part, creating it; the caller holds the write lock.
func (m *Memory) tenant(name string) *memTenant {
	t := m.tenants[name]
	if t == nil {
		t = &memTenant{
			contacts: make(map[string]*memContact),
			keys:     make(map[phone.Key]map[string]bool),
		}
		m.tenants[name] = t
	}
	return t
}

// remove drops a contact and its keys, deleting keys left empty so that
// Stats.Keys counts only keys that still find someone.
func (t *memTenant) remove(r string) {
	c := t.contacts[r]
	if c == nil {
		return
	}
	delete(t.contacts, r)
	for _, k := range c.keys {
		delete(t.keys[k], r)
		if len(t.keys[k]) == 0 {
			delete(t.keys, k)
		}
	}
}

// newerFirst orders by UpdatedAt (ms), newest first, then by ref descending:
// the order of Redis's ZREVRANGE, so both implementations break ties alike.
func newerFirst(a, b *memContact) int {
	if a.ms != b.ms {
		if a.ms > b.ms {
			return -1
		}
		return 1
	}
	return strings.Compare(b.ref, a.ref)
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

// copyContact deep-copies c so that neither the caller's later changes nor
// changes to a returned contact reach the stored one.
func copyContact(c events.Contact) events.Contact {
	c.Phones = slices.Clone(c.Phones)
	c.Emails = slices.Clone(c.Emails)
	c.CustomData = slices.Clone(c.CustomData)
	if p := c.Routing.QueuePosition; p != nil {
		v := *p
		c.Routing.QueuePosition = &v
	}
	return c
}
