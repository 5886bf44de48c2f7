package tenantstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"gopkg.in/yaml.v3"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/natsx"
	"github.com/calldex/calldex/shared/tenant"
)

// EnsureBucket creates or opens the tenants bucket of the topology, with
// the topology's replicas (CALLDEX_STREAM_REPLICAS: 3 in a cluster).
func EnsureBucket(ctx context.Context, js jetstream.JetStream, topo events.Topology) (jetstream.KeyValue, error) {
	return natsx.EnsureBucket(ctx, js, topo, jetstream.KeyValueConfig{
		Bucket:      events.BucketTenants,
		Description: "Calldex tenant definitions, one key per tenant id",
		History:     5,
	})
}

// CredentialOwners tells which tenant presents a credential
// (*tenant.Registry).
type CredentialOwners interface {
	CredentialOwner(c tenant.Credential) (string, bool)
}

var _ CredentialOwners = (*tenant.Registry)(nil)

// Config configures a Store.
type Config struct {
	// LookupKey is the credential lookup key (CALLDEX_CREDENTIAL_KEY); it
	// must be the one the registries are made with.
	LookupKey []byte
	// Getenv resolves ${VAR} in credential values before they are hashed.
	// Default: nothing is set.
	Getenv func(string) (string, bool)
	// Owners, when set, lets Put refuse a credential another tenant
	// presents already.
	Owners CredentialOwners
}

// Store reads and writes tenant definitions in the tenants bucket. It is
// safe for concurrent use.
type Store struct {
	kv  jetstream.KeyValue
	cfg Config
}

// New returns a Store on the tenants bucket (EnsureBucket).
func New(kv jetstream.KeyValue, cfg Config) *Store {
	if cfg.Getenv == nil {
		cfg.Getenv = func(string) (string, bool) { return "", false }
	}
	return &Store{kv: kv, cfg: cfg}
}

// KV is the tenants bucket, for a Watcher.
func (s *Store) KV() jetstream.KeyValue { return s.kv }

// Entry is a stored tenant with its revision in the bucket.
type Entry struct {
	Tenant   tenant.Tenant
	Revision uint64
	Created  time.Time
}

// Prepare returns the tenant as Put stores it (credential references
// resolved and tokens hashed) and every problem that keeps Put from
// storing it: the checks of the configuration file, a literal secret in
// a connector option, a credential another tenant has.
func (s *Store) Prepare(t tenant.Tenant) (tenant.Tenant, []tenant.Problem) {
	return s.prepare(t, true)
}

func (s *Store) prepare(t tenant.Tenant, strict bool) (tenant.Tenant, []tenant.Problem) {
	check := t // ValidateTenant sets defaults: keep them out of the bucket
	ps := tenant.ValidateTenant(&check)
	creds := make([]tenant.Credential, len(t.Credentials))
	for i, c := range t.Credentials {
		if strings.Contains(c.Value, "${") {
			v, err := tenant.ExpandRefs(c.Value, s.cfg.Getenv)
			if err != nil {
				ps = append(ps, problem(fmt.Sprintf("credentials[%d].value", i), err.Error()))
				continue
			}
			c.Value = v
		}
		if s.cfg.Owners != nil {
			if owner, ok := s.cfg.Owners.CredentialOwner(c); ok && owner != t.ID {
				ps = append(ps, problem(fmt.Sprintf("credentials[%d]", i), "the credential is another tenant's"))
			}
		}
		creds[i] = c
	}
	if strict {
		for _, name := range slices.Sorted(maps.Keys(t.Connectors)) {
			for k, v := range t.Connectors[name].Options {
				if str, ok := v.(string); ok && SecretOption(k) && str != "" && !isRef(str) {
					ps = append(ps, problem("connectors."+name+"."+k, "a secret must be a ${VAR} or ${file:/path} reference, not its value"))
				}
			}
		}
	}
	if len(ps) > 0 {
		return t, ps
	}
	for i, c := range creds {
		creds[i] = tenant.HashCredential(s.cfg.LookupKey, c)
	}
	t.Credentials = creds
	return t, nil
}

func problem(path, msg string) tenant.Problem {
	return tenant.Problem{Kind: tenant.KindInvalid, Path: path, Message: msg}
}

// SecretOption reports whether a connector option holds a secret: its
// value must be a reference in the store and is masked in answers.
func SecretOption(key string) bool {
	k := strings.ToLower(key)
	for _, s := range []string{"token", "secret", "password", "dsn", "apikey", "credential"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// isRef reports whether a value is made of references only.
func isRef(v string) bool {
	out, _ := tenant.ExpandRefs(v, func(string) (string, bool) { return "", true })
	return out == "" && strings.Contains(v, "${")
}

// Put validates and stores a tenant (see Prepare), replacing the stored
// one. Errors: *InvalidError (ErrInvalid) with every problem at once.
func (s *Store) Put(ctx context.Context, t tenant.Tenant) (Entry, error) {
	stored, ps := s.prepare(t, true)
	if len(ps) > 0 {
		return Entry{}, &InvalidError{ID: t.ID, Problems: ps}
	}
	return s.write(ctx, stored, false)
}

func (s *Store) write(ctx context.Context, t tenant.Tenant, onlyNew bool) (Entry, error) {
	data, err := yaml.Marshal(&t)
	if err != nil {
		return Entry{}, fmt.Errorf("encode tenant %s: %w", t.ID, err)
	}
	var rev uint64
	if onlyNew {
		rev, err = s.kv.Create(ctx, t.ID, data)
	} else {
		rev, err = s.kv.Put(ctx, t.ID, data)
	}
	if err != nil {
		return Entry{}, fmt.Errorf("store tenant %s: %w", t.ID, err)
	}
	return Entry{Tenant: t, Revision: rev}, nil
}

// Get reads a stored tenant as stored: hashed credentials, secret
// references. Errors: ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (Entry, error) {
	if err := events.ValidID(id); err != nil {
		return Entry{}, fmt.Errorf("get tenant: %w", ErrNotFound)
	}
	e, err := s.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Entry{}, fmt.Errorf("get tenant %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Entry{}, fmt.Errorf("get tenant %s: %w", id, err)
	}
	t, err := decode(e.Value())
	if err != nil {
		return Entry{}, fmt.Errorf("get tenant %s: %w", id, err)
	}
	return Entry{Tenant: t, Revision: e.Revision(), Created: e.Created()}, nil
}

// Delete removes a tenant. Errors: ErrNotFound.
func (s *Store) Delete(ctx context.Context, id string) error {
	if _, err := s.Get(ctx, id); err != nil {
		return err
	}
	if err := s.kv.Delete(ctx, id); err != nil {
		return fmt.Errorf("delete tenant %s: %w", id, err)
	}
	return nil
}

// List reads every stored tenant, sorted by id.
func (s *Store) List(ctx context.Context) ([]Entry, error) {
	lister, err := s.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	var ids []string
	for k := range lister.Keys() {
		ids = append(ids, k)
	}
	slices.Sort(ids)
	out := make([]Entry, 0, len(ids))
	for _, id := range ids {
		e, err := s.Get(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// Import writes the tenants the bucket does not have yet, as they are
// (connector secrets may be literal in a bootstrap file), and returns how
// many it wrote. A tenant the bucket has is left alone: after the first
// import the bucket wins (see the package documentation). Tokens are
// hashed on every core.
func (s *Store) Import(ctx context.Context, ts []tenant.Tenant) (int, error) {
	var (
		mu      sync.Mutex
		written int
		errs    []error
		wg      sync.WaitGroup
		next    = make(chan tenant.Tenant)
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for t := range next {
				if _, err := s.kv.Get(ctx, t.ID); err == nil {
					continue
				}
				stored, ps := s.prepare(t, false)
				var err error
				if len(ps) > 0 {
					err = &InvalidError{ID: t.ID, Problems: ps}
				} else if _, err = s.write(ctx, stored, true); errors.Is(err, jetstream.ErrKeyExists) {
					err = nil
					continue
				}
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					written++
				}
				mu.Unlock()
			}
		})
	}
	for _, t := range ts {
		next <- t
	}
	close(next)
	wg.Wait()
	return written, errors.Join(errs...)
}

func decode(data []byte) (tenant.Tenant, error) {
	var t tenant.Tenant
	if err := yaml.Unmarshal(data, &t); err != nil {
		return t, fmt.Errorf("decode tenant: %w", err)
	}
	return t, nil
}

// Masked replaces a secret in what is shown.
const Masked = "********"

// Mask returns t with every credential value and every literal secret
// option replaced by ********; references stay.
func Mask(t tenant.Tenant) tenant.Tenant {
	creds := make([]tenant.Credential, len(t.Credentials))
	for i, c := range t.Credentials {
		c.Value = Masked
		creds[i] = c
	}
	t.Credentials = creds
	conns := make(map[string]tenant.Connector, len(t.Connectors))
	for name, c := range t.Connectors {
		opts := make(map[string]any, len(c.Options))
		for k, v := range c.Options {
			if s, ok := v.(string); ok && SecretOption(k) && !strings.HasPrefix(s, "${") {
				v = Masked
			}
			opts[k] = v
		}
		c.Options = opts
		conns[name] = c
	}
	t.Connectors = conns
	return t
}
