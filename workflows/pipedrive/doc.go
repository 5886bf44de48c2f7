// Package pipedrive is the Pipedrive CRM connector (API v1, api_token query
// parameter, base https://{companyDomain}.pipedrive.com/api/v1).
//
// It implements crm.ChangeLister, crm.PhoneSearcher, crm.NameSearcher,
// crm.ContactCreator and crm.CallLogger. It does not implement
// crm.TicketCreator: Pipedrive has no tickets.
//
// # Sync (ListChanges)
//
// GET /recents only reaches back about 30 days, so a sync from the start
// ("" cursor) first loads every person with GET /persons (offset paging,
// sorted by id; each page starts PageSize/50 persons early so that a
// deletion during the load cannot shift a person past a page boundary),
// then follows GET /recents?items=person from the moment the load began.
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
// creating, lists the token user's call activities due that day (GET
// /activities?type=call&start_date=&end_date=) looking for it. The marker
// is visible to users; an activity whose note was edited to remove it is
// not found again.
//
// # Failures
//
// Every HTTP status goes through crm.ClassifyStatus; a 429 without
// Retry-After waits x-ratelimit-reset seconds. A 2xx whose body is not
// JSON, or says success:false, is transient. The api_token is never part
// of an error message.
package pipedrive
