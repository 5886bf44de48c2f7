package sqlcrm

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"strings"

	// Drivers of the three dialects.
	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// dialect is what differs between the databases.
type dialect struct {
	name string
	// driver is the database/sql driver name.
	driver string
	// numbered placeholders ($1) instead of ?.
	numbered bool
	// returning: insert statements return the id as a row; otherwise the
	// id is LAST_INSERT_ID.
	returning bool
	// timeAsText: bind times as RFC 3339 text (SQLite stores text).
	timeAsText bool
	// lock serialises migrations across processes; unlock is deferred.
	lock func(ctx context.Context, conn *sql.Conn, name string) (unlock func(), err error)
	// after is the condition of the default listChanges: rows after
	// (:cursor_time, :cursor_id), all of them when both are NULL, in the
	// form each database turns into one range of the (updated_at, id)
	// index. A form that ranges on updated_at only and filters on id
	// scans every row sharing the cursor's time again on each page: all
	// of a table bulk-loaded in one transaction share it.
	after string
	// minID is an integer literal below every id, where listIds starts.
	minID string
	// now is the database's clock.
	now string
}

var driverAliases = map[string]string{
	"postgres": "postgres", "postgresql": "postgres", "pgx": "postgres",
	"mysql": "mysql", "mariadb": "mysql",
	"sqlite": "sqlite", "sqlite3": "sqlite",
}

var dialects = map[string]dialect{
	"postgres": {name: "postgres", driver: "pgx", numbered: true, returning: true, lock: pgLock,
		// A row comparison is an index range even in a generic plan
		// (pgx prepares statements, PostgreSQL may reuse the plan), where
		// ":cursor_time IS NULL OR …" could not be simplified away.
		after: "(updated_at, id) > (COALESCE(:cursor_time, '-infinity'::timestamptz), COALESCE(:cursor_id, (-9223372036854775807)::bigint))",
		minID: "(-9223372036854775807)::bigint", now: "SELECT CURRENT_TIMESTAMP"},
	"mysql": {name: "mysql", driver: "mysql", lock: myLock,
		// MariaDB scans and sorts the whole table for a row comparison;
		// this form is one range of the index.
		after: "updated_at >= COALESCE(:cursor_time, '1000-01-01')" +
			" AND (:cursor_time IS NULL OR updated_at > :cursor_time OR (updated_at = :cursor_time AND id > :cursor_id))",
		minID: "-9223372036854775807", now: "SELECT CURRENT_TIMESTAMP(6)"},
	"sqlite": {name: "sqlite", driver: "sqlite", returning: true, timeAsText: true, lock: noLock,
		after: "updated_at >= COALESCE(:cursor_time, '')" +
			" AND (:cursor_time IS NULL OR updated_at > :cursor_time OR (updated_at = :cursor_time AND id > :cursor_id))",
		minID: "-9223372036854775807", now: "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"},
}

const callColumns = "idempotency_key, tenant, workflow, kind, direction, originator_number, originator_name, " +
	"destination_number, destination_name, contact_crm_id, user_crm_id, started_at, answered_at, ended_at, " +
	"declined_at, duration_seconds, answered, missed, message_type, subject, note, result, recording"

const callValues = ":key, :tenant, :workflow, :kind, :direction, :originator_number, :originator_name, " +
	":destination_number, :destination_name, :contact_crm_id, :user_crm_id, :started_at, :answered_at, :ended_at, " +
	":declined_at, :duration_seconds, :answered, :missed, :message_type, :subject, :note, :result, :recording"

// defaultStatements returns the statements for the shipped schema.
func (d dialect) defaultStatements() map[string]string {
	onConflict := " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"
	if !d.returning {
		// LAST_INSERT_ID(id) makes the existing row's id the insert id,
		// so a duplicate costs no second query.
		onConflict = " ON DUPLICATE KEY UPDATE id = LAST_INSERT_ID(id)"
	}
	logCall := "INSERT INTO {{prefix}}call_logs (" + callColumns + ") VALUES (" + callValues + ")" + onConflict
	findCall := "SELECT id FROM {{prefix}}call_logs WHERE idempotency_key = :key"
	logDisposition := "UPDATE {{prefix}}call_logs SET disposition = :disposition WHERE id = :log_id RETURNING id"
	if !d.returning {
		// LAST_INSERT_ID(id) reports the row's id even when the
		// disposition was already the same (no row changed).
		logDisposition = "UPDATE {{prefix}}call_logs SET disposition = :disposition, id = LAST_INSERT_ID(id) WHERE id = :log_id"
	}
	return map[string]string{
		StmtLogCall:  logCall,
		StmtFindCall: findCall,
		StmtCreateTicket: "INSERT INTO {{prefix}}tickets (idempotency_key, tenant, workflow, subject, description, contact_crm_id) " +
			"VALUES (:key, :tenant, :workflow, :subject, :description, :contact_crm_id)" + onConflict,
		StmtFindTicket:     "SELECT id FROM {{prefix}}tickets WHERE idempotency_key = :key",
		StmtLogMessage:     logCall,
		StmtFindMessage:    findCall,
		StmtLogDisposition: logDisposition,
	}
}

// contactColumns are the shipped contacts table's columns, named as the
// read statements' result contract wants them.
const contactColumns = "id, name, company, phone, email, updated_at, deleted_at"

// digitsOfPhone is the phone column without the separators people type,
// in SQL every dialect runs.
const digitsOfPhone = "REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(phone, ' ', ''), '-', ''), '.', ''), '/', ''), '(', ''), ')', ''), '+', '')"

// readStatements returns the read statements for the shipped schema.
func (d dialect) readStatements() map[string]string {
	from := "SELECT " + contactColumns + " FROM {{prefix}}contacts"
	return map[string]string{
		StmtListChanges: from + " WHERE " + d.after + " ORDER BY updated_at, id LIMIT :limit",
		StmtListIDs: "SELECT id FROM {{prefix}}contacts WHERE deleted_at IS NULL" +
			" AND id > COALESCE(:cursor_id, " + d.minID + ") ORDER BY id LIMIT :limit",
		StmtSearchPhone: from + " WHERE deleted_at IS NULL AND " + digitsOfPhone + " LIKE :tail_like ORDER BY id LIMIT :limit",
		StmtSearchName: from + " WHERE deleted_at IS NULL" +
			" AND (LOWER(name) LIKE :name_like ESCAPE '!' OR LOWER(company) LIKE :name_like ESCAPE '!')" +
			" ORDER BY name, id LIMIT :limit",
		StmtNow: d.now,
	}
}

func pgLock(ctx context.Context, conn *sql.Conn, name string) (func(), error) {
	h := fnv.New64a()
	h.Write([]byte(name))
	key := int64(h.Sum64())
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		return nil, err
	}
	return func() { _, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", key) }, nil
}

func myLock(ctx context.Context, conn *sql.Conn, name string) (func(), error) {
	if len(name) > 64 {
		name = name[:64]
	}
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 60)", name).Scan(&got); err != nil {
		return nil, err
	}
	if got.Int64 != 1 {
		return nil, fmt.Errorf("migration lock %s not acquired in 60s", name)
	}
	return func() { _, _ = conn.ExecContext(context.WithoutCancel(ctx), "DO RELEASE_LOCK(?)", name) }, nil
}

// noLock: SQLite serialises writers itself, and the pool has one connection.
func noLock(context.Context, *sql.Conn, string) (func(), error) { return func() {}, nil }

// withPrefix replaces {{prefix}} in a statement.
func withPrefix(stmt, prefix string) string { return strings.ReplaceAll(stmt, "{{prefix}}", prefix) }
