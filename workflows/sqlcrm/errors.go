package sqlcrm

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"

	"github.com/calldex/calldex/workflows/crm"
)

// Errors of the package; each is also wrapped in a crm failure class.
var (
	// ErrInvalidInput: the workflow's inputs cannot be stored (bad time).
	ErrInvalidInput = errors.New("invalid workflow input")
	// ErrConfig: the connector's options are wrong.
	ErrConfig = errors.New("invalid sql connector config")
)

// classify wraps a database error in its crm failure class: statement and
// data errors (syntax, unknown table, constraint, bad value) are permanent,
// since the same statement will fail again; everything else — refused
// connections, timeouts, deadlocks, a server shutting down, an error we do
// not recognise — is transient.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	err = fmt.Errorf("sql %s: %w", op, err)
	if permanentDB(err) {
		return crm.Permanent(err)
	}
	return crm.Transient(err)
}

func permanentDB(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return false
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) && len(pg.Code) >= 2 {
		switch pg.Code[:2] {
		case "22", // data exception: bad value, too long
			"23", // integrity constraint violation
			"42", // syntax error, undefined table/column, privilege
			"54": // program limit exceeded
			return true
		}
		return false
	}
	var my *mysql.MySQLError
	if errors.As(err, &my) {
		switch my.Number {
		case 1048, // column cannot be null
			1054,       // unknown column
			1062,       // duplicate entry
			1064,       // syntax error
			1146,       // no such table
			1149,       // syntax error
			1264,       // out of range
			1292,       // incorrect value
			1364,       // no default value
			1366,       // incorrect string value
			1406,       // data too long
			1451, 1452, // foreign key
			3819, 4025: // check constraint
			return true
		}
		return false
	}
	var lite *sqlite.Error
	if errors.As(err, &lite) {
		switch lite.Code() & 0xff {
		case 1, // SQLITE_ERROR: syntax, no such table
			18, // SQLITE_TOOBIG
			19, // SQLITE_CONSTRAINT
			20, // SQLITE_MISMATCH
			25: // SQLITE_RANGE
			return true
		}
		return false
	}
	return false
}
