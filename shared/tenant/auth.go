package tenant

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/netip"
	"slices"
)

// Errors of Authenticate. The HTTP layer answers both without saying which
// tenant, if any, was meant.
var (
	ErrUnauthenticated = errors.New("missing or unknown credential")
	ErrAddressRefused  = errors.New("client address not allowed")
)

// Registry finds tenants by id and by credential.
type Registry struct {
	byID map[string]*Tenant
	// byHash maps sha256(kind, name, value) of each credential to its tenant,
	// so a request costs one hash and map access per credential location,
	// not one comparison per tenant; the final comparison is constant time.
	byHash  map[[32]byte]credTenant
	headers []string
	queries []string
}

type credTenant struct {
	value  string
	tenant *Tenant
}

// NewRegistry indexes a validated config.
func NewRegistry(cfg *Config) *Registry {
	r := &Registry{byID: map[string]*Tenant{}, byHash: map[[32]byte]credTenant{}}
	for i := range cfg.Tenants {
		t := &cfg.Tenants[i]
		r.byID[t.ID] = t
		for _, c := range t.Credentials {
			if c.Header != "" {
				name := http.CanonicalHeaderKey(c.Header)
				r.byHash[credHash("h", name, c.Value)] = credTenant{c.Value, t}
				if !slices.Contains(r.headers, name) {
					r.headers = append(r.headers, name)
				}
			} else {
				r.byHash[credHash("q", c.Query, c.Value)] = credTenant{c.Value, t}
				if !slices.Contains(r.queries, c.Query) {
					r.queries = append(r.queries, c.Query)
				}
			}
		}
	}
	return r
}

func credHash(kind, name, value string) [32]byte {
	return sha256.Sum256([]byte(kind + "\x00" + name + "\x00" + value))
}

// Tenant returns a tenant by id.
func (r *Registry) Tenant(id string) (*Tenant, bool) {
	t, ok := r.byID[id]
	return t, ok
}

// Tenants lists every tenant.
func (r *Registry) Tenants() []*Tenant {
	out := make([]*Tenant, 0, len(r.byID))
	for _, t := range r.byID {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b *Tenant) int {
		if a.ID < b.ID {
			return -1
		}
		return 1
	})
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
	for _, h := range r.headers {
		if t := r.match("h", h, value); t != nil {
			return t, true
		}
	}
	for _, q := range r.queries {
		if t := r.match("q", q, value); t != nil {
			return t, true
		}
	}
	return nil, false
}

func (r *Registry) byCredential(req *http.Request) *Tenant {
	for _, h := range r.headers {
		if v := req.Header.Get(h); v != "" {
			if t := r.match("h", h, v); t != nil {
				return t
			}
		}
	}
	if len(r.queries) > 0 && req.URL.RawQuery != "" {
		q := req.URL.Query()
		for _, name := range r.queries {
			if v := q.Get(name); v != "" {
				if t := r.match("q", name, v); t != nil {
					return t
				}
			}
		}
	}
	return nil
}

func (r *Registry) match(kind, name, value string) *Tenant {
	ct, ok := r.byHash[credHash(kind, name, value)]
	if !ok || subtle.ConstantTimeCompare([]byte(ct.value), []byte(value)) != 1 {
		return nil
	}
	return ct.tenant
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

// CheckAdmin compares an admin bearer token in constant time.
func (c *Config) CheckAdmin(token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(c.Admin.Token)) == 1
}
