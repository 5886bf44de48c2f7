// Package erasure removes one phone number of one tenant from everything
// Calldex keeps (DELETE /admin/v1/tenants/{tenant}/numbers/{e164}, and
// calldexctl erase through it):
//
//   - Contacts: every contact the index finds under the number is
//     published again to CONTACTS without that number (a redacted contact,
//     with the UpdatedAt the CRM gave it). CONTACTS keeps one message per
//     contact, so the redacted one replaces the one that held the number:
//     a rebuild of the index cannot bring it back. The projector then takes
//     the number out of the index; Erase waits until it has.
//   - CALLS, WORKFLOWS and DLQ: every message of the tenant whose content
//     holds the number is deleted, one by one, with a secure delete
//     (JetStream overwrites the stored bytes). Message deletes, not subject
//     purges: these subjects are per tenant and event or workflow, so a
//     subject purge would erase every other caller too.
//   - workflow_results: the result of every deleted workflow request (its
//     Nats-Msg-Id is the result's key) is purged, that is its KV subject,
//     with its history: one key is one result.
//   - App Connect's call logs: every log of the tenant that holds the
//     number is purged (KV subject purge, same reason).
//
// A string holds the number when its digits contain the number's E.164
// digits (+41 21 552 20 00, 0041215522000, "call from 41215522000"), or
// when it is a phone number that reads as it in the tenant's region
// (021 552 20 00). A national form inside free text is not recognised.
//
// The CRM sync: a redacted contact keeps the UpdatedAt of the CRM's
// version, so a sync that asks the CRM for changes since its cursor does
// not fetch it again; it comes back only when the CRM changes the contact
// again (then the CRM's new version is what counts). A full resync
// rereads every contact and would bring the number back if the CRM still
// holds it: erase it in the CRM too.
package erasure
