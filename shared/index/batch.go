package index

import (
	"fmt"

	"github.com/calldex/calldex/events"
)

// Change is one write of a batch (ApplyBatch): the upsert of Entry, or,
// with Delete set, the removal of the contact that Entry.Contact's Source
// and ID name (the rest of Entry is then ignored).
type Change struct {
	Entry  Entry
	Delete bool
}

// Upserted is the change that stores e.
func Upserted(e Entry) Change { return Change{Entry: e} }

// Deleted is the change that removes a contact.
func Deleted(source, id string) Change {
	return Change{Entry: Entry{Contact: events.Contact{Source: source, ID: id}}, Delete: true}
}

// ref names the contact the change is about.
func (c Change) ref() string { return ref(c.Entry.Contact.Source, c.Entry.Contact.ID) }

// checkBatch is ApplyBatch's precondition, the same as Upsert's and
// Delete's for every change: a batch with one invalid change writes nothing.
func checkBatch(tenant string, changes []Change) error {
	if err := validTenant(tenant); err != nil {
		return err
	}
	for i, c := range changes {
		if err := validContact(tenant, c.Entry.Contact.Source, c.Entry.Contact.ID); err != nil {
			return fmt.Errorf("change %d: %w", i, err)
		}
	}
	return nil
}

// lastPerContact keeps, for each contact, only its last change, in the
// order of those last changes. Each change replaces everything its
// contact had, so the result leaves the index as the whole sequence does;
// and since every contact is then written once, running the batch again
// after a partial failure never shows an older version in between.
func lastPerContact(changes []Change) []Change {
	last := make(map[string]int, len(changes))
	for i, c := range changes {
		last[c.ref()] = i
	}
	if len(last) == len(changes) {
		return changes
	}
	out := make([]Change, 0, len(last))
	for i, c := range changes {
		if last[c.ref()] == i {
			out = append(out, c)
		}
	}
	return out
}
