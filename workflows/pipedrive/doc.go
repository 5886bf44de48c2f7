// Package pipedrive is the Pipedrive CRM connector (api_token query
// parameter, root https://{companyDomain}.pipedrive.com/api). It uses API
// v2 wherever a call has a v2 form: persons (list, search, create) and
// activities (list, get, create, update); only GET /v1/recents has none and
// stays v1.
//
// It implements crm.ChangeLister, crm.PhoneSearcher, crm.NameSearcher,
// crm.ContactCreator, crm.CallLogger and crm.DispositionLogger (the call
// activity's note ends with the dispositions). It does not implement
// crm.TicketCreator: Pipedrive has no tickets.
//
// # Sync (ListChanges)
//
// GET /v1/recents only reaches back about 30 days, so a sync from the
// start ("" cursor) first loads every person with GET /v2/persons (cursor
// paging sorted by id, which a deletion during the load cannot shift; the
// organizations' names, which a v2 person lacks, come from GET
// /v2/organizations?ids=, one request per page), then follows GET
// /v1/recents?items=person from the moment the load began. A cursor
// written while the load paged by offset restarts the load.
// A cursor older than RecentsMaxAge starts a new full load: deletes that
// happened in the gap are then missed (the load lists live persons only).
//
// Recents are read oldest first. After each page the cursor moves to the
// page's last_timestamp_on_page minus one second and paging restarts at
// 0: offset paging over a list that changes while it is read skips entries,
// and Pipedrive's timestamps have one-second resolution, so the boundary
// second is read again (upserts are idempotent). Only when a whole page
// falls within one second does the cursor page by offset within it. Once
// caught up, the cursor stays SyncOverlap behind now.
//
// # Deletes
//
// A recents entry for a person whose data is null or has active_flag false
// (deleted, or merged into another person) is reported as a delete.
// Persons deleted via the API are purged after 30 days; a sync stopped
// longer than that misses their deletion.
//
// # Idempotency of call logs
//
// Pipedrive has no idempotency header and activities have no custom
// fields. LogCall appends "[cdx:<key>]" to the activity's note and, before
// creating, lists the done activities updated since the call's day (GET
// /v2/activities?done=true&updated_since=, of the call's person when it
// has one; v2 filters neither by type nor by due date) looking for a call
// activity due that day whose note carries it. The marker is visible to
// users; an activity whose note was edited to remove it is not found
// again.
//
// # Limits
//
// Searches are spaced to 10 per 2 seconds per company
// (Config.SearchLimiter, shared by every instance of the company), the
// limit Pipedrive puts on its search API. Every call counts its token cost
// against the company's daily budget when Config.DailyBudget is set; past
// it calls fail transient, unsent, with Retry-After until 00:00 UTC, when
// Pipedrive's budget resets. No answer header reports what is left of the
// daily budget (x-ratelimit-* are the burst window's), so the count is
// this process's own and cannot see other apps spending the same budget;
// Pipedrive's own refusal of a spent budget is a 429, transient as well.
//
// # Failures
//
// Every HTTP status goes through crm.ClassifyStatus; a 429 without
// Retry-After waits x-ratelimit-reset seconds. A 2xx whose body is not
// JSON, or says success:false, is transient. The api_token is never part
// of an error message.
package pipedrive
