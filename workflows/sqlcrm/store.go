package sqlcrm

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/calldex/calldex/workflows/crm"
)

// Store is a SQL database used as a CRM. It implements crm.CallLogger,
// crm.TicketCreator, crm.MessageLogger and crm.DispositionLogger (the
// write side) and
// crm.ChangeLister, crm.PhoneSearcher and crm.NameSearcher (the read side),
// and is safe for concurrent use.
type Store struct {
	db    *sql.DB
	d     dialect
	cfg   Config
	stmts map[string]compiled
	// now is the clock of reconcile passes (crm.Now; tests replace it).
	now func() time.Time
	// maxSent bounds the fingerprints carried between polls (maxSent;
	// tests lower it).
	maxSent int

	// known caches the decoded set of the last cursor's known ids, which
	// the next page usually carries unchanged.
	knownMu sync.Mutex
	known   decodedIDs
}

var (
	_ crm.CallLogger        = (*Store)(nil)
	_ crm.TicketCreator     = (*Store)(nil)
	_ crm.MessageLogger     = (*Store)(nil)
	_ crm.DispositionLogger = (*Store)(nil)
	_ crm.ChangeLister      = (*Store)(nil)
	_ crm.PhoneSearcher     = (*Store)(nil)
	_ crm.NameSearcher      = (*Store)(nil)
)

// findOf names the statement that finds the row an insert statement made.
var findOf = map[string]string{
	StmtLogCall:      StmtFindCall,
	StmtCreateTicket: StmtFindTicket,
	StmtLogMessage:   StmtFindMessage,
}

// Open connects to the database and, unless cfg.Migrate is false, brings
// the default schema up to date. A wrong config is a permanent error; an
// unreachable database a transient one (the caller may try again later).
func Open(ctx context.Context, cfg Config) (*Store, error) {
	stmts, err := prepare(&cfg)
	if err != nil {
		return nil, crm.Permanent(err)
	}
	d := dialects[cfg.Driver]
	dsn := cfg.DSN
	if d.name == "sqlite" && !strings.Contains(dsn, "busy_timeout") {
		// Another process (a CLI, a second worker) may hold the write lock
		// for a moment: wait for it instead of failing with SQLITE_BUSY.
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		dsn += sep + "_pragma=busy_timeout(5000)"
	}
	db, err := sql.Open(d.driver, dsn)
	if err != nil {
		// Only a malformed DSN fails here (no dial yet); never print it,
		// it may hold a password.
		return nil, crm.Permanent(fmt.Errorf("%w: open %s database: %w", ErrConfig, d.name, err))
	}
	db.SetMaxOpenConns(cfg.MaxOpenConns)
	db.SetMaxIdleConns(cfg.MaxOpenConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s := &Store{db: db, d: d, cfg: cfg, stmts: stmts, now: crm.Now, maxSent: maxSent}
	if *cfg.Migrate {
		err = s.migrate(ctx)
	} else {
		err = classify("ping", db.PingContext(ctx))
	}
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// Check reports every problem of cfg that Open would report before
// connecting (options, statements), without connecting.
func Check(cfg Config) error {
	_, err := prepare(&cfg)
	return err
}

// prepare validates cfg and compiles its statements, reporting every
// problem at once.
func prepare(cfg *Config) (map[string]compiled, error) {
	errs := []error{cfg.Validate()}
	d, ok := dialects[cfg.Driver]
	if !ok {
		return nil, errs[0]
	}
	stmts := map[string]compiled{}
	defaults := d.defaultStatements()
	maps.Copy(defaults, d.readStatements())
	for _, name := range slices.Sorted(maps.Keys(defaults)) {
		stmt := defaults[name]
		if custom, ok := cfg.Statements[name]; ok {
			stmt = custom
		}
		params, read := ReadParams[name]
		if !read {
			params = Params
		}
		c, err := compile(withPrefix(stmt, cfg.TablePrefix), d.numbered, params)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: statement %s: %w", ErrConfig, name, err))
			continue
		}
		stmts[name] = c
	}
	return stmts, errors.Join(errs...)
}

// Close closes the connection pool.
func (s *Store) Close() error { return s.db.Close() }

// LogCall inserts a call_logs row (kind call) once per key.
func (s *Store) LogCall(ctx context.Context, c crm.Call) (crm.Result, error) {
	vals, err := s.values(c, "call")
	if err != nil {
		return crm.Result{}, fmt.Errorf("sql log call: %w", err)
	}
	return s.insert(ctx, StmtLogCall, vals, s.cfg.URLTemplate, c.Tenant)
}

// LogMessage inserts a call_logs row of kind message (SMS, fax, voicemail)
// once per key: a message is a call log without answer times, and one table
// gives the CRM user one timeline per contact.
func (s *Store) LogMessage(ctx context.Context, c crm.Call) (crm.Result, error) {
	vals, err := s.values(c, "message")
	if err != nil {
		return crm.Result{}, fmt.Errorf("sql log message: %w", err)
	}
	return s.insert(ctx, StmtLogMessage, vals, s.cfg.URLTemplate, c.Tenant)
}

// CreateTicket inserts a tickets row once per key. Without a subject or note
// in the inputs, both are written from the call.
func (s *Store) CreateTicket(ctx context.Context, c crm.Call) (crm.Result, error) {
	vals, err := s.values(c, "ticket")
	if err != nil {
		return crm.Result{}, fmt.Errorf("sql create ticket: %w", err)
	}
	return s.insert(ctx, StmtCreateTicket, vals, s.cfg.TicketURLTemplate, c.Tenant)
}

// LogDisposition writes the dispositions into the disposition column of
// the logged call's call_logs row (Input.LogID), as a JSON object: the
// same dispositions again leave the row as it is.
func (s *Store) LogDisposition(ctx context.Context, c crm.Call) (crm.Result, error) {
	const op = StmtLogDisposition
	if _, err := crm.LogIDOf(c); err != nil {
		return crm.Result{}, fmt.Errorf("sql %s: %w", op, err)
	}
	vals, err := s.values(c, "call")
	if err != nil {
		return crm.Result{}, fmt.Errorf("sql %s: %w", op, err)
	}
	st := s.stmts[op]
	var id string
	if s.d.returning {
		err = s.db.QueryRowContext(ctx, st.query, st.args(vals)...).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			err = nil
		}
	} else {
		var res sql.Result
		if res, err = s.db.ExecContext(ctx, st.query, st.args(vals)...); err == nil {
			if n, e := res.LastInsertId(); e == nil && n > 0 {
				id = strconv.FormatInt(n, 10)
			}
		}
	}
	if err != nil {
		return crm.Result{}, classify(op, err)
	}
	if id == "" {
		return crm.Result{}, crm.Permanent(fmt.Errorf("sql %s: no call log %s", op, vals["log_id"]))
	}
	return crm.Result{ID: id, URL: expand(s.cfg.URLTemplate, id, c.Tenant)}, nil
}

// insert runs an idempotent insert statement and returns the row's id, the
// new one or the one already stored under the key.
func (s *Store) insert(ctx context.Context, op string, vals map[string]any, urlTemplate, tenant string) (crm.Result, error) {
	ins := s.stmts[op]
	var id string
	if s.d.returning {
		err := s.db.QueryRowContext(ctx, ins.query, ins.args(vals)...).Scan(&id)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return crm.Result{}, classify(op, err)
		}
	} else {
		res, err := s.db.ExecContext(ctx, ins.query, ins.args(vals)...)
		if err != nil {
			return crm.Result{}, classify(op, err)
		}
		if n, err := res.LastInsertId(); err == nil && n > 0 {
			id = strconv.FormatInt(n, 10)
		}
	}
	if id == "" {
		// The key was there already (a redelivery): return that row.
		find := s.stmts[findOf[op]]
		err := s.db.QueryRowContext(ctx, find.query, find.args(vals)...).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			// The insert saw the key but the row is gone (deleted in
			// between, or a custom statement that filters it): inserting
			// again on the next attempt is the way out.
			return crm.Result{}, crm.Transient(fmt.Errorf("sql %s: key %s neither inserted nor found", op, vals["key"]))
		}
		if err != nil {
			return crm.Result{}, classify(findOf[op], err)
		}
	}
	return crm.Result{ID: id, URL: expand(urlTemplate, id, tenant)}, nil
}

func expand(tmpl, id, tenant string) string {
	if tmpl == "" {
		return ""
	}
	return strings.NewReplacer("{id}", url.PathEscape(id), "{tenant}", url.PathEscape(tenant)).Replace(tmpl)
}

// values computes every named parameter of a call.
func (s *Store) values(c crm.Call, kind string) (map[string]any, error) {
	in := c.Input
	var times [4]*time.Time
	for i, f := range []struct{ name, v string }{
		{"startedTime", in.StartedTime}, {"answeredTime", in.AnsweredTime},
		{"endedTime", in.EndedTime}, {"declinedTime", in.DeclinedTime},
	} {
		t, err := parseTime(f.name, f.v)
		if err != nil {
			return nil, err
		}
		times[i] = t
	}
	started, answeredAt, ended, declined := times[0], times[1], times[2], times[3]
	answered := answeredAt != nil
	duration := 0
	switch {
	case in.DurationSeconds != nil:
		duration = max(*in.DurationSeconds, 0)
	case answered && ended != nil:
		// Talk time: from answer to hang-up; ringing does not count.
		duration = max(int(ended.Sub(*answeredAt)/time.Second), 0)
	}
	subject, description := in.Subject, in.Note
	if kind == "ticket" {
		if subject == "" {
			subject = ticketSubject(in.Direction, in.OriginatorName, in.OriginatorNumber, in.DestinationName, in.DestinationNumber)
		}
		if description == "" {
			description = ticketDescription(c, started, duration, answered)
		}
	}
	if kind == "ticket" {
		kind = "call" // the :kind of a ticket's call, should a custom statement want it
	}
	return map[string]any{
		"key": c.Key, "tenant": c.Tenant, "workflow": c.Workflow, "kind": kind, "call_id": in.CallID,
		"direction": in.Direction, "originator_number": in.OriginatorNumber, "originator_name": in.OriginatorName,
		"destination_number": in.DestinationNumber, "destination_name": in.DestinationName,
		"contact_crm_id": in.ContactCRMID, "user_crm_id": in.UserCRMID,
		"started_at": s.timeArg(started), "answered_at": s.timeArg(answeredAt),
		"ended_at": s.timeArg(ended), "declined_at": s.timeArg(declined),
		"duration_seconds": duration, "answered": answered,
		"missed":       !answered && in.Direction == "incoming" && kind == "call",
		"message_type": in.MessageType, "subject": subject, "note": in.Note, "result": in.Result,
		"recording": in.Recording, "description": description,
		"log_id": in.LogID, "disposition": dispositionJSON(in.Dispositions),
	}, nil
}

// dispositionJSON is the disposition parameter: a JSON object, keys in
// order, or "" for none.
func dispositionJSON(d map[string]string) string {
	if len(d) == 0 {
		return ""
	}
	b, _ := json.Marshal(d) // a map of strings always marshals
	return string(b)
}

func (s *Store) timeArg(t *time.Time) any {
	if t == nil {
		return nil
	}
	if s.d.timeAsText {
		return t.Format(time.RFC3339Nano)
	}
	return *t
}

func ticketSubject(direction, origName, origNumber, destName, destNumber string) string {
	who, verb := firstOf(origName, origNumber), "Call from"
	if direction == "outgoing" {
		who, verb = firstOf(destName, destNumber), "Call to"
	}
	if who == "" {
		return "Call"
	}
	return verb + " " + who
}

func ticketDescription(c crm.Call, started *time.Time, duration int, answered bool) string {
	in := c.Input
	var b strings.Builder
	fmt.Fprintf(&b, "%s call from %s to %s", firstOf(in.Direction, "A"), firstOf(in.OriginatorNumber, "unknown"), firstOf(in.DestinationNumber, "unknown"))
	if started != nil {
		fmt.Fprintf(&b, " at %s", started.Format(time.RFC3339))
	}
	if answered {
		fmt.Fprintf(&b, ", answered, %d s.", duration)
	} else {
		b.WriteString(", not answered.")
	}
	return b.String()
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
