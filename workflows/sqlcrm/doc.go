// Package sqlcrm is the "sql" connector: a CRM that is a SQL database —
// PostgreSQL (pgx), MariaDB/MySQL or SQLite (modernc, no cgo). It logs calls
// and messages into call_logs and opens tickets in tickets, each row keyed by
// the workflow's idempotency key, so a workflow delivered twice inserts one
// row and returns the same id both times. It reads contacts from a table to
// keep the index in sync (crm.ChangeLister) and to search them live
// (crm.PhoneSearcher, crm.NameSearcher).
//
// It ships its schema (embedded migrations per dialect, applied at start
// unless migrate is false) and lets an existing database be used instead:
// every statement can be replaced in the options, written with named
// parameters (:key, :tenant, :started_at, …) that are bound the same way on
// every dialect. See Config and Params.
//
// # Reading contacts
//
// The read statements select contacts; their result columns are matched to
// contact fields by name, without regard to case (alias your columns):
//
//	id                          required; text or integer
//	updated_at                  required by listChanges: a time, text such as
//	                            2006-01-02 15:04:05[.999999] (no zone: UTC)
//	                            or RFC 3339, or Unix seconds
//	deleted_at                  set (not NULL, 0, false, '' or a zero date):
//	                            the contact was deleted, a tombstone is sent
//	created_at                  optional, a time as updated_at: when the
//	                            contact was created (earliestCreated ranking);
//	                            an unreadable one is left out
//	name, title, company, type  text
//	contact_uri, company_uri    links; without contact_uri, contactUrlTemplate
//	                            ({id} replaced) makes one
//	phone, phones, phone_<label> one number, or several split at
//	                            phoneSeparator; phone_mobile is labelled mobile
//	email, emails, email_<label> addresses, split at , ; and spaces
//	direct_line, queue_position, route_identifier, language, outbound_number
//	                            routing data (While1 PBX webservice)
//	custom_<key>                custom data shown to the agent, in column order
//
// A column of any other name is an error (a misspelt alias would otherwise
// leave a field empty without a word). Empty values are left out.
//
// listChanges gets :cursor_time, :cursor_id and :limit and returns at most
// :limit rows after (:cursor_time, :cursor_id) in the order of (updated_at,
// id): the rows with updated_at > :cursor_time, and those with updated_at =
// :cursor_time and id > :cursor_id. Both parameters are the updated_at and
// id of the last row read, bound exactly as the statement returned them, so
// the comparison is exact whatever the column types; both are NULL on the
// first page. (SQLite's driver reads a column declared DATETIME, DATE or
// TIMESTAMP as a time and binds a time in a text form of its own, which
// does not compare with the stored text: select CAST(col AS TEXT) AS
// updated_at, or declare the column TEXT.) On PostgreSQL the first use of a parameter decides its type:
// write the comparison before ":cursor_time IS NULL". The form decides the
// speed: the database must turn it into one range of an index on
// (updated_at, id), or every page reads the rows sharing the cursor's time
// again (a table loaded in one transaction shares one). The shipped
// statements are, on PostgreSQL
//
//	WHERE (updated_at, id) > (COALESCE(:cursor_time, '-infinity'::timestamptz),
//	                          COALESCE(:cursor_id, (-9223372036854775807)::bigint))
//	ORDER BY updated_at, id LIMIT :limit
//
// and on MariaDB/MySQL (whose row comparisons scan the table) and SQLite
//
//	WHERE updated_at >= COALESCE(:cursor_time, '1000-01-01')
//	  AND (:cursor_time IS NULL OR updated_at > :cursor_time
//	       OR (updated_at = :cursor_time AND id > :cursor_id))
//	ORDER BY updated_at, id LIMIT :limit
//
// The table must move updated_at on every change, a soft delete included
// (the shipped schema does it by trigger or ON UPDATE); rows whose
// updated_at is NULL are never read.
//
// listIds gets :cursor_id and :limit and returns the ids (column id) of
// the rows that exist, after :cursor_id (NULL on the first page) in the
// order of id. searchPhone gets :number (+41215522000), :digits, :tail (the
// last 9 digits), :tail_like ("%" and the tail) and :limit, and is run once
// per number; searchName gets :name, :name_like ("%name%" in lower case,
// with %, _ and ! escaped by !: write ESCAPE '!') and :limit. Both return
// contact columns; rows with deleted_at set are left out. now returns the
// database's clock, in the form updated_at has.
//
// # How the sync moves
//
// ListChanges reads listChanges after the cursor's position, page after
// page. The position only moves over rows older than the horizon — the
// database's clock minus SyncOverlap — so that a row whose transaction
// commits late, or whose updated_at another writer's clock set in the past,
// is still read by the next poll if it is within SyncOverlap. Rows past the
// horizon are published at once, and read again by the next poll, which
// does not publish them again unless they changed: the cursor carries a
// fingerprint (id, updated_at, deleted) of each. A poll that finds more
// than a page goes on past the horizon (the cursor records where), so a
// burst of fresh rows is read in one poll. Rows with deleted_at set become
// deletes, except in the first sync from an empty cursor, which has
// published nothing of them.
//
// Rows deleted for good (DELETE) leave nothing to read, with or without a
// deleted_at column: the table is reconciled every ReconcileInterval
// (default 10 min, 0 turns it off). The cursor then keeps
// the set of ids published and not deleted since the last pass; a pass
// lists every id with listIds, and its last page reports the known ids it
// did not list as deletes. The set is compressed (integer ids in runs:
// about a byte per gap; text ids front-coded) and bounded at 256 KiB, which
// holds millions of integer ids or of sequential text ids, but only some
// 13,000 random ones such as UUIDs: beyond it reconciling stops with a
// warning in the log until the next pass fits, and the table needs a
// deleted_at column. A full resync (POST
// /admin/v1/tenants/{tenant}/sources/{source}/resync) deletes whatever
// CONTACTS holds that the source no longer lists, whatever the table size.
//
// # Changes at once (PostgreSQL LISTEN/NOTIFY)
//
// With notify: <channel>, the sync LISTENs on that channel while it leads
// the source, and every notification makes it poll at once instead of at
// its next interval, so a change reaches the index well within a second
// without polling faster. The database sends the notifications; install a
// trigger such as this one on the contacts table (one notification per
// statement; the payload is not read):
//
//	CREATE OR REPLACE FUNCTION contacts_notify() RETURNS trigger LANGUAGE plpgsql AS $$
//	BEGIN PERFORM pg_notify('calldex_contacts', ''); RETURN NULL; END $$;
//	CREATE TRIGGER contacts_notify AFTER INSERT OR UPDATE OR DELETE ON contacts
//	    FOR EACH STATEMENT EXECUTE FUNCTION contacts_notify();
//
// A DELETE wakes the sync too, but a row deleted for good is still found
// by the next reconcile pass only. Lost notifications (a dropped
// connection) cost nothing but time: the interval polls go on, and the
// listener is set up again.
package sqlcrm
