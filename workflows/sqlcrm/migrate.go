package sqlcrm

import (
	"context"
	"embed"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations
var migrations embed.FS

type migration struct {
	version int
	name    string
	stmts   []string
}

// loadMigrations reads the dialect's migration files, ordered by the
// number their name starts with.
func loadMigrations(dialect, prefix string) ([]migration, error) {
	dir := path.Join("migrations", dialect)
	entries, err := migrations.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration %s: name must be NNNN_what.sql", e.Name())
		}
		raw, err := migrations.ReadFile(path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		out = append(out, migration{version: v, name: e.Name(), stmts: splitStatements(withPrefix(string(raw), prefix))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// splitStatements splits a migration file at semicolons ending a line, after
// dropping comment lines: drivers differ on multi-statement Exec (MySQL
// refuses it unless the DSN allows it), one statement per Exec works on all.
func splitStatements(src string) []string {
	var (
		out []string
		cur strings.Builder
	)
	for _, line := range strings.Split(src, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(trimmed, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// migrate applies the migrations not yet recorded in
// <prefix>schema_migrations, each in a transaction (atomic on PostgreSQL and
// SQLite; MySQL commits DDL implicitly, and the statements are written to be
// re-runnable), under a lock so that replicas starting together do not race.
func (s *Store) migrate(ctx context.Context) error {
	all, err := loadMigrations(s.d.name, s.cfg.TablePrefix)
	if err != nil {
		return err
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return classify("migrate: connect", err)
	}
	defer conn.Close()
	unlock, err := s.d.lock(ctx, conn, "calldex-sqlcrm-migrate:"+s.cfg.TablePrefix)
	if err != nil {
		return classify("migrate: lock", err)
	}
	defer unlock()

	table := s.cfg.TablePrefix + "schema_migrations"
	if _, err := conn.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+table+
		" (version BIGINT NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, applied_at VARCHAR(64) NOT NULL)"); err != nil {
		return classify("migrate: create "+table, err)
	}
	applied := map[int]bool{}
	rows, err := conn.QueryContext(ctx, "SELECT version FROM "+table)
	if err != nil {
		return classify("migrate: read "+table, err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return classify("migrate: read "+table, err)
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return classify("migrate: read "+table, err)
	}
	record, err := compile("INSERT INTO "+table+" (version, name, applied_at) VALUES (:version, :name, :applied_at)",
		s.d.numbered, []string{"version", "name", "applied_at"})
	if err != nil {
		return err
	}
	for _, m := range all {
		if applied[m.version] {
			continue
		}
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return classify("migrate: begin", err)
		}
		for _, stmt := range m.stmts {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				_ = tx.Rollback()
				return classify("migrate "+m.name, err)
			}
		}
		args := record.args(map[string]any{"version": m.version, "name": m.name, "applied_at": time.Now().UTC().Format(time.RFC3339)})
		if _, err := tx.ExecContext(ctx, record.query, args...); err != nil {
			_ = tx.Rollback()
			return classify("migrate: record "+m.name, err)
		}
		if err := tx.Commit(); err != nil {
			return classify("migrate: commit "+m.name, err)
		}
	}
	return nil
}
