// Package sqltest gives tests a real database per dialect — PostgreSQL at
// POSTGRES_DSN, MariaDB/MySQL at MYSQL_DSN, SQLite in a temporary directory —
// with a table prefix no other test uses, and drops the test's tables on
// cleanup. Without the server a test skips, or fails when CI=true.
package sqltest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	// Drivers.
	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// Default DSNs of the local test servers.
const (
	DefaultPostgresDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	DefaultMySQLDSN    = "root@tcp(127.0.0.1:3306)/test"
)

// DB is one test's database: the sqlcrm driver name, a DSN, a table prefix
// and an open handle for assertions.
type DB struct {
	Driver string
	DSN    string
	Prefix string
	SQL    *sql.DB
}

// Backend opens a test database of one dialect.
type Backend struct {
	Name string
	Open func(t testing.TB) DB
}

// Backends lists the three dialects, for suites that run on each.
func Backends() []Backend {
	return []Backend{{"postgres", Postgres}, {"mysql", MySQL}, {"sqlite", SQLite}}
}

// Postgres connects to POSTGRES_DSN (default DefaultPostgresDSN).
func Postgres(t testing.TB) DB {
	t.Helper()
	dsn := env("POSTGRES_DSN", DefaultPostgresDSN)
	db := open(t, "pgx", dsn, "docker run -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust -e POSTGRES_DB=test postgres")
	prefix := Prefix()
	t.Cleanup(func() {
		drop(t, db, prefix, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()", "DROP TABLE IF EXISTS %s CASCADE")
		// Trigger functions of the schema outlive their tables.
		drop(t, db, prefix, "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = current_schema()",
			"DROP FUNCTION IF EXISTS %s CASCADE")
		db.Close()
	})
	return DB{Driver: "postgres", DSN: dsn, Prefix: prefix, SQL: db}
}

// MySQL connects to MYSQL_DSN (default DefaultMySQLDSN), MariaDB or MySQL.
func MySQL(t testing.TB) DB {
	t.Helper()
	dsn := env("MYSQL_DSN", DefaultMySQLDSN)
	db := open(t, "mysql", dsn, "docker run -p 3306:3306 -e MARIADB_ALLOW_EMPTY_ROOT_PASSWORD=1 -e MARIADB_DATABASE=test mariadb")
	prefix := Prefix()
	t.Cleanup(func() {
		drop(t, db, prefix, "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()", "DROP TABLE IF EXISTS %s")
		db.Close()
	})
	return DB{Driver: "mysql", DSN: dsn, Prefix: prefix, SQL: db}
}

// SQLite makes a database file in the test's temporary directory.
func SQLite(t testing.TB) DB {
	t.Helper()
	dsn := "file:" + filepath.Join(t.TempDir(), "crm.db")
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return DB{Driver: "sqlite", DSN: dsn, Prefix: Prefix(), SQL: db}
}

// Exec runs a statement written with ? placeholders (rewritten for
// PostgreSQL) and fails the test on error.
func (db DB) Exec(t testing.TB, query string, args ...any) {
	t.Helper()
	if _, err := db.SQL.Exec(Rebind(db.Driver, query), args...); err != nil {
		t.Fatalf("%.100s: %v", query, err)
	}
}

// Rebind rewrites ? placeholders as $1, $2, … for the postgres driver.
func Rebind(driver, query string) string {
	if driver != "postgres" {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Prefix returns a fresh table prefix.
func Prefix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "t" + hex.EncodeToString(b) + "_"
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func open(t testing.TB, driver, dsn, howto string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err = db.PingContext(ctx)
		cancel()
	}
	if err != nil {
		if db != nil {
			db.Close()
		}
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s database is required under CI=true: %v", driver, err)
		}
		t.Skipf("%s database unavailable (%v); start one with: %s", driver, err, howto)
	}
	return db
}

// drop removes the tables (or functions) whose name starts with prefix; filtering in Go
// avoids LIKE treating the prefix's "_" as a wildcard.
func drop(t testing.TB, db *sql.DB, prefix, list, dropStmt string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := db.QueryContext(ctx, list)
	if err != nil {
		t.Logf("list tables to drop: %v", err)
		return
	}
	var names []string
	for rows.Next() {
		var n string
		if rows.Scan(&n) == nil && strings.HasPrefix(n, prefix) {
			names = append(names, n)
		}
	}
	rows.Close()
	for _, n := range names {
		if _, err := db.ExecContext(ctx, strings.Replace(dropStmt, "%s", n, 1)); err != nil {
			t.Logf("drop %s: %v", n, err)
		}
	}
}
