package tenant

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Errors of Authenticate. The HTTP layer answers both without saying which
// tenant, if any, was meant.
var (
	ErrUnauthenticated = errors.New("missing or unknown credential")
	ErrAddressRefused  = errors.New("client address not allowed")
)

// Registry finds tenants by id and by credential. Its tenant set can be
// replaced while requests read it: every read sees one immutable snapshot
// (an atomic pointer), and Replace and Apply publish a new one.
type Registry struct {
	key []byte
	// macs are HMAC states keyed with key, reused across requests: a new
	// one costs every request two hash blocks and its allocations.
	macs sync.Pool
	cur  atomic.Pointer[snapshot]
	mu   sync.Mutex // serialises writers
}

// snapshot is one version of the tenant set. It is never modified once
// published.
type snapshot struct {
	byID map[string]*Tenant
	// byLookup maps the lookup id of each credential (see secret.go) to
	// its entry, so a request costs one HMAC and map access per credential
	// location, not one comparison per tenant.
	byLookup map[lookupID]*credEntry
	// ids are the lookup ids of each tenant's credentials, so that a
	// change of one tenant does not hash the others' again.
	ids     map[*Tenant][]lookupID
	headers []string
	queries []string
}

type credEntry struct {
	tenant *Tenant
	stored string // the configured value: a token or its hash form
	hash   *hashed
	// verified remembers the full HMAC of the token that last passed the
	// argon2 check, shared by the snapshots in which the credential did
	// not change, so that rotating one tenant costs the others nothing.
	verified *atomic.Pointer[[32]byte]
}

// NewRegistry indexes a validated config under an empty lookup key (see
// NewKeyedRegistry).
func NewRegistry(cfg *Config) *Registry {
	ts := make([]*Tenant, len(cfg.Tenants))
	for i := range cfg.Tenants {
		ts[i] = &cfg.Tenants[i]
	}
	return NewKeyedRegistry(nil, ts)
}

// NewKeyedRegistry indexes validated tenants; key is the credential lookup
// key (CALLDEX_CREDENTIAL_KEY) that hashed credentials were made with.
// The registry keeps the tenants: callers must not modify them.
func NewKeyedRegistry(key []byte, tenants []*Tenant) *Registry {
	r := &Registry{key: key}
	r.macs.New = func() any { return newMACState(key) }
	r.cur.Store(r.build(nil, tenants))
	return r
}

// Replace makes tenants the whole tenant set, atomically for readers.
func (r *Registry) Replace(tenants []*Tenant) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cur.Store(r.build(r.cur.Load(), tenants))
}

// Apply adds or replaces the tenants of put and removes the ids of
// remove, in one atomic step for readers.
func (r *Registry) Apply(put []*Tenant, remove []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.cur.Load()
	next := maps.Clone(old.byID)
	for _, id := range remove {
		delete(next, id)
	}
	for _, t := range put {
		next[t.ID] = t
	}
	r.cur.Store(r.build(old, slices.Collect(maps.Values(next))))
}

// build indexes tenants, reusing the verification caches of old for the
// credentials that did not change. Of two tenants presenting the same
// credential (the store and Validate refuse that), the smaller id keeps it.
func (r *Registry) build(old *snapshot, tenants []*Tenant) *snapshot {
	slices.SortFunc(tenants, func(a, b *Tenant) int { return strings.Compare(a.ID, b.ID) })
	s := &snapshot{byID: make(map[string]*Tenant, len(tenants)), byLookup: make(map[lookupID]*credEntry, len(tenants)),
		ids: make(map[*Tenant][]lookupID, len(tenants))}
	for _, t := range tenants {
		s.byID[t.ID] = t
		var known []lookupID
		if old != nil {
			known = old.ids[t]
		}
		ids := make([]lookupID, len(t.Credentials))
		for j, c := range t.Credentials {
			kind, name := c.location()
			if kind == "h" {
				if !slices.Contains(s.headers, name) {
					s.headers = append(s.headers, name)
				}
			} else if !slices.Contains(s.queries, name) {
				s.queries = append(s.queries, name)
			}
			if known != nil {
				// The same tenant as before: its entries stay as they are.
				ids[j] = known[j]
				if e, ok := old.byLookup[known[j]]; ok && e.tenant == t {
					if _, taken := s.byLookup[known[j]]; !taken {
						s.byLookup[known[j]] = e
					}
				}
				continue
			}
			e := &credEntry{tenant: t, stored: c.Value}
			var id lookupID
			if h, err := parseHashed(c.Value); err == nil {
				e.hash, id = &h, h.lookup
			} else {
				id = lookupOf(mac(r.key, kind, name, c.Value))
			}
			ids[j] = id
			if _, taken := s.byLookup[id]; taken {
				continue
			}
			e.verified = new(atomic.Pointer[[32]byte])
			if old != nil {
				if prev, ok := old.byLookup[id]; ok && prev.stored == e.stored && prev.tenant.ID == t.ID {
					e.verified = prev.verified
				}
			}
			s.byLookup[id] = e
		}
		s.ids[t] = ids
	}
	return s
}

// CredentialOwner returns the id of the tenant presenting the same
// credential (same place, same token), plain or hashed.
func (r *Registry) CredentialOwner(c Credential) (string, bool) {
	e, ok := r.cur.Load().byLookup[credLookup(r.key, c)]
	if !ok {
		return "", false
	}
	return e.tenant.ID, true
}

// Key is the credential lookup key the registry was made with.
func (r *Registry) Key() []byte { return r.key }

// Tenant returns a tenant by id.
func (r *Registry) Tenant(id string) (*Tenant, bool) {
	t, ok := r.cur.Load().byID[id]
	return t, ok
}

// Tenants lists every tenant.
func (r *Registry) Tenants() []*Tenant {
	byID := r.cur.Load().byID
	out := make([]*Tenant, 0, len(byID))
	for _, t := range byID {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b *Tenant) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Authenticate identifies the tenant from the request's credential and
// checks the client address against the tenant's allowed CIDRs.
func (r *Registry) Authenticate(req *http.Request) (*Tenant, error) {
	t := r.byCredential(req)
	if t == nil {
		return nil, ErrUnauthenticated
	}
	if len(t.cidrs) > 0 && !allowed(t.cidrs, req.RemoteAddr) {
		return nil, ErrAddressRefused
	}
	return t, nil
}

// ByCredentialValue finds the tenant owning a credential value, whatever its
// location (App Connect sends the tenant's API key in a body).
func (r *Registry) ByCredentialValue(value string) (*Tenant, bool) {
	t, _, ok := r.StoredCredential(value)
	return t, ok
}

// StoredCredential is ByCredentialValue that also returns the credential's
// value as the tenant stores it (hashed or plain): what a session can be
// tied to, and find again among the tenant's Credentials.
func (r *Registry) StoredCredential(value string) (*Tenant, string, bool) {
	s := r.cur.Load()
	for _, h := range s.headers {
		if e := r.match(s, "h", h, value); e != nil {
			return e.tenant, e.stored, true
		}
	}
	for _, q := range s.queries {
		if e := r.match(s, "q", q, value); e != nil {
			return e.tenant, e.stored, true
		}
	}
	return nil, "", false
}

func (r *Registry) byCredential(req *http.Request) *Tenant {
	s := r.cur.Load()
	for _, h := range s.headers {
		if v := req.Header.Get(h); v != "" {
			if e := r.match(s, "h", h, v); e != nil {
				return e.tenant
			}
		}
	}
	if len(s.queries) > 0 && req.URL.RawQuery != "" {
		q := req.URL.Query()
		for _, name := range s.queries {
			if v := q.Get(name); v != "" {
				if e := r.match(s, "q", name, v); e != nil {
					return e.tenant
				}
			}
		}
	}
	return nil
}

// match finds the credential of a presented token: one HMAC and one map
// access; a hashed credential is checked with argon2 only the first time
// a token passes on this replica.
func (r *Registry) match(s *snapshot, kind, name, value string) *credEntry {
	st := r.macs.Get().(*macState)
	m := st.sum(kind, name, value)
	r.macs.Put(st)
	e, ok := s.byLookup[lookupOf(m)]
	if !ok {
		return nil
	}
	if e.hash == nil {
		if subtle.ConstantTimeCompare([]byte(e.stored), []byte(value)) != 1 {
			return nil
		}
		return e
	}
	if p := e.verified.Load(); p != nil && subtle.ConstantTimeCompare(p[:], m[:]) == 1 {
		return e
	}
	if !e.hash.verify(value) {
		return nil
	}
	v := m // a copy, so that m, stored only here, stays off the heap
	e.verified.Store(&v)
	return e
}

func allowed(cidrs []netip.Prefix, remote string) bool {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return false
	}
	addr := ap.Addr().Unmap()
	for _, p := range cidrs {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// verifiedAdmin remembers admin tokens that passed the argon2 check, by
// stored hash and SHA-256 of the token (only successes: a handful).
var verifiedAdmin sync.Map

// CheckAdmin compares an admin bearer token in constant time. admin.token
// may be the token or its hash form (HashToken).
func (c *Config) CheckAdmin(token string) bool {
	stored := c.Admin.Token
	if token == "" || stored == "" {
		return false
	}
	if !IsHashed(stored) {
		return subtle.ConstantTimeCompare([]byte(token), []byte(stored)) == 1
	}
	sum := sha256.Sum256([]byte(token))
	k := stored + "\x00" + string(sum[:])
	if _, ok := verifiedAdmin.Load(k); ok {
		return true
	}
	h, err := parseHashed(stored)
	if err != nil || !h.verify(token) {
		return false
	}
	verifiedAdmin.Store(k, struct{}{})
	return true
}
