package appconnect

import (
	"context"
	"log/slog"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/services/internal/authguard"
	"github.com/calldex/calldex/shared/lookup"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/workflows/crm"
)

// Tenants finds tenants by id and by credential value (*tenant.Registry).
type Tenants interface {
	Tenant(id string) (*tenant.Tenant, bool)
	// StoredCredential finds the tenant of a credential value and the
	// credential as the tenant stores it (hashed or plain).
	StoredCredential(value string) (*tenant.Tenant, string, bool)
}

// Lookup is the lookup core as every dialect runs it (*lookup.Recorder):
// number → ranked contacts, at most the tenant's MaxResults, recorded in
// metrics and as a call.lookup event. Its error is for a failing index only.
type Lookup interface {
	Lookup(ctx context.Context, t *tenant.Tenant, dialect, number, dnid string) (lookup.Result, error)
}

// NameIndex searches the index by name (index.Index): case- and
// accent-insensitive word prefixes.
type NameIndex interface {
	SearchName(ctx context.Context, tenant, query string, limit int) ([]events.Contact, error)
}

// ContactPublisher publishes a contact to CONTACTS and returns its stream
// sequence (*contact.Publisher).
type ContactPublisher interface {
	Upsert(ctx context.Context, tenant string, c events.Contact) (uint64, error)
}

// Projection tells when the index has applied a CONTACTS sequence
// (*projector.Projector).
type Projection interface {
	WaitApplied(ctx context.Context, seq uint64) error
}

// Dispatcher runs workflows durably (workflows/dispatch).
//
// Key derives the idempotency key Submit will use for the same request:
// the same tenant, workflow and CallInput.CallID always give the same key.
// Submit stores the request and returns its key once stored; the same key
// submitted again is never run twice and keeps the first outcome; force
// gives the request a fresh key (an explicit replay). Errors of Submit wrap
// dispatch.ErrUnavailable when nothing was stored. Wait returns the latest
// result after at most d (status accepted or running when time ran out).
// Status returns the recorded result of a key, or an error wrapping
// dispatch.ErrNotFound.
type Dispatcher interface {
	Key(tenant, workflow string, in events.CallInput) string
	Submit(ctx context.Context, tenant, workflow string, in events.CallInput, force bool) (string, error)
	Wait(ctx context.Context, key string, d time.Duration) (events.WorkflowResult, error)
	Status(ctx context.Context, key string) (events.WorkflowResult, error)
}

// CRM is a tenant's CRM connector as App Connect uses it: each capability
// it has, false for one it lacks (*connectors.Connector, whose capabilities
// run behind the connector's circuit breaker).
type CRM interface {
	PhoneSearcher() (crm.PhoneSearcher, bool)
	NameSearcher() (crm.NameSearcher, bool)
	ContactCreator() (crm.ContactCreator, bool)
}

// Connectors gives a tenant's CRM connector, built on first use.
type Connectors interface {
	Connector(ctx context.Context, tenantID, name string) (CRM, error)
}

// ConnectorsFunc adapts a function to Connectors.
type ConnectorsFunc func(ctx context.Context, tenantID, name string) (CRM, error)

// Connector calls f.
func (f ConnectorsFunc) Connector(ctx context.Context, tenantID, name string) (CRM, error) {
	return f(ctx, tenantID, name)
}

// Deps are what the handler is built on. Every field is required unless
// said otherwise.
type Deps struct {
	Tenants    Tenants
	Lookup     Lookup
	Names      NameIndex
	Contacts   ContactPublisher
	Projection Projection
	Workflows  Dispatcher
	// Revocations keeps revoked session token ids (NewKVRevocations).
	Revocations Revocations
	// CallLogs keeps what App Connect sent for each logged call
	// (NewKVCallLogs).
	CallLogs CallLogStore

	// Connectors gives live CRM capabilities; nil means none (index only,
	// contacts created as Calldex-owned).
	Connectors Connectors
	// Guard limits failed apiKeyLogin keys per client address; nil limits
	// nothing.
	Guard *authguard.Guard
	// Log defaults to slog.Default().
	Log *slog.Logger
	// Now defaults to time.Now (tests set a clock).
	Now func() time.Time
}
