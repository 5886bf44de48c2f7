// Package hubspot is the HubSpot CRM connector (CRM API v3, private app
// token sent as "Authorization: Bearer").
//
// It implements crm.ChangeLister, crm.PhoneSearcher, crm.NameSearcher,
// crm.ContactCreator, crm.CallLogger, crm.TicketCreator and
// crm.DispositionLogger (the call's outcome, hs_call_disposition).
//
// # Sync (ListChanges)
//
// Contacts are read with POST /crm/v3/objects/contacts/search, filtered on
// lastmodifieddate GTE the cursor and sorted by lastmodifieddate ascending.
// The search API's "after" token is an offset, and offset paging over a set
// that changes while it is read skips records (a contact modified during the
// run moves to the end and shifts the next page by one), and it stops at
// 10,000 results. So every page restarts the query at the last
// lastmodifieddate seen instead of following "after": that is the documented
// "move the cursor to the last seen lastmodifieddate and restart paging"
// done on every page, so the cap is never reached and nothing is skipped.
// The contacts of the boundary millisecond are read again (duplicates are
// harmless: upserts are idempotent). When a whole page shares one
// lastmodifieddate (a bulk import), the connector pages through that
// millisecond by hs_object_id (keyset) before moving on.
//
// Search is an index that lags writes by a few seconds, so once the run has
// caught up the cursor never moves past now-SyncOverlap: the last
// SyncOverlap of changes is read again by the next poll.
//
// # Deletes
//
// Search never returns archived (deleted) contacts. Every
// ArchivedSweepInterval (default 1 h) the connector pages through
// GET /crm/v3/objects/contacts?archived=true and reports as deleted those
// archived since the previous sweep (all of them on the first sweep).
// HubSpot keeps archived contacts 90 days, which bounds the sweep; a sync
// stopped longer than that misses deletes, as do GDPR deletions (purged at
// once) and the losing side of a merge.
//
// # Idempotency of calls and tickets
//
// HubSpot has no idempotency header. Before creating, the connector
// searches the calls (tickets) for the Call.Key and returns the existing
// record. The key lives in the custom property named by CallKeyProperty
// (TicketKeyProperty) when configured; otherwise it is appended to the
// title (subject) as "[cdx:<key>]" and the search matches the exact title.
// Search lags writes by a few seconds, so two executions of one Call closer
// than that can still create two records; the worker's retry backoff makes
// that rare. A user who edits the title defeats the default scheme: create
// the custom properties for exactly-once behaviour.
//
// # Failures
//
// Every HTTP status goes through crm.ClassifyStatus. A 429 without
// Retry-After gets a delay from its policyName: SECONDLY 1 s,
// TEN_SECONDLY_ROLLING the X-HubSpot-RateLimit-Interval-Milliseconds header
// (else 10 s), DAILY 1 h (the daily limit resets at midnight in the portal's
// time zone, which the connector does not know). Transport errors and
// malformed JSON (usually a proxy's error page) are transient.
package hubspot
