// Package index is the contact index: phone keys → contacts, per tenant.
// Redis serves production; Memory serves the embedded default and tests.
// The projector is its only writer.
package index

import (
	"context"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/phone"
)

// Entry is a contact with the keys it is found under.
type Entry struct {
	Contact events.Contact
	// Keys are the phone keys of all the contact's numbers (phone.IndexKeys).
	Keys []phone.Key
}

// Match is one contact found by a lookup.
type Match struct {
	Contact events.Contact
	Kind    phone.Kind
}

// Stats describes a tenant's part of the index.
type Stats struct {
	Contacts int64 `json:"contacts"`
	// Keys counts the distinct phone keys that find at least one contact.
	Keys int64 `json:"keys"`
}

// Index stores contacts by phone key and name, isolated per tenant.
// A contact is identified by (tenant, Contact.Source, Contact.ID).
//
// Every method fails with an error wrapping events.ErrInvalid when tenant
// (or, for writes, source) is not an events.ValidID or the contact id is
// empty, and with ctx.Err() when ctx is already done. Implementations are
// safe for concurrent use. Ranking ties (same UpdatedAt millisecond) are
// broken by "source:id", descending, the same way in every implementation.
//
// Redis and Memory also write many changes of a tenant at once (ApplyBatch
// with Change), which the projector uses where it finds it.
type Index interface {
	// Upsert stores e, replacing every key and name of the previous version.
	Upsert(ctx context.Context, tenant string, e Entry) error
	// Delete removes a contact and all its keys; deleting a missing contact is no error.
	Delete(ctx context.Context, tenant, source, id string) error
	// Lookup returns at most limit contacts found under any of keys, exact
	// matches first, then by UpdatedAt, newest first; each contact once,
	// with the kind of its best key among keys. It is on the ringing path:
	// the Redis implementation answers in one round trip.
	Lookup(ctx context.Context, tenant string, keys []phone.Key, limit int) ([]Match, error)
	// SearchName returns at most limit contacts whose name has, for every
	// word of query, a word starting with it; case and accents are folded
	// by FoldName ("muller" finds "Müller"). Ranked: more whole-word hits
	// first, then newest UpdatedAt. A query without words finds nothing.
	SearchName(ctx context.Context, tenant, query string, limit int) ([]events.Contact, error)
	// Stats counts what a tenant has in the index.
	Stats(ctx context.Context, tenant string) (Stats, error)
}
