package sqlcrm

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/calldex/calldex/workflows/crm/options"
)

// Type is the connector type name in the tenant config.
const Type = "sql"

// Statement names, as keys of Config.Statements.
const (
	StmtLogCall      = "logCall"
	StmtFindCall     = "findCall"
	StmtCreateTicket = "createTicket"
	StmtFindTicket   = "findTicket"
	StmtLogMessage   = "logMessage"
	StmtFindMessage  = "findMessage"
	// StmtLogDisposition updates the call_logs row :log_id with
	// :disposition and returns its id (RETURNING id; on MySQL, SET id =
	// LAST_INSERT_ID(id)); no id back means no such row.
	StmtLogDisposition = "logDisposition"

	// Read side (see ReadParams).
	StmtListChanges = "listChanges"
	StmtListIDs     = "listIds"
	StmtSearchPhone = "searchPhone"
	StmtSearchName  = "searchName"
	StmtNow         = "now"
)

// Defaults of the read side.
const (
	DefaultPageSize          = 1000
	DefaultSyncOverlap       = 10 * time.Second
	DefaultReconcileInterval = 10 * time.Minute
	maxPageSize              = 50_000
)

// Params are the named parameters a statement may use. Times are UTC (NULL
// when the input was empty); answered and missed are booleans; kind is
// "call" or "message"; log_id is the id of the logged call a disposition is
// for and disposition its dispositions as a JSON object ("" for none).
var Params = []string{
	"log_id", "disposition",
	"key", "tenant", "workflow", "kind", "call_id",
	"direction", "originator_number", "originator_name", "destination_number", "destination_name",
	"contact_crm_id", "user_crm_id",
	"started_at", "answered_at", "ended_at", "declined_at", "duration_seconds", "answered", "missed",
	"message_type", "subject", "note", "result", "recording", "description",
}

// ReadParams are the named parameters of the read statements, by
// statement. :cursor_time and :cursor_id are the updated_at and id of the
// last row read, bound exactly as the statement returned them, NULL on the
// first page; :limit is the page size. :number is an E.164 number
// (+41215522000), :digits its digits, :tail its last 9 digits and
// :tail_like "%" followed by them. :name is the query as typed and
// :name_like "%query%" in lower case with %, _ and ! escaped by ! (write
// LIKE :name_like ESCAPE '!'). See the package documentation for the
// columns each statement returns.
var ReadParams = map[string][]string{
	StmtListChanges: {"cursor_time", "cursor_id", "limit"},
	StmtListIDs:     {"cursor_id", "limit"},
	StmtSearchPhone: {"number", "digits", "tail", "tail_like", "limit"},
	StmtSearchName:  {"name", "name_like", "limit"},
	StmtNow:         nil,
}

// Config are the options of a sql connector.
//
// Statements replace the default statements, for a database whose schema
// is not ours (set migrate: false then). Write them with named parameters
// from Params and {{prefix}} for the table prefix. An insert statement
// (logCall, createTicket, logMessage) must be idempotent on :key: on
// PostgreSQL and SQLite it returns the new id (RETURNING id) or no row when
// the key exists; on MySQL it sets LAST_INSERT_ID (ON DUPLICATE KEY UPDATE
// id = LAST_INSERT_ID(id)) or leaves it 0. Whenever no id comes back, the
// matching find statement (findCall, findTicket, findMessage) selects the
// existing row's id by :key.
//
// The read side (contact sync, live search) reads {{prefix}}contacts of the
// shipped schema unless listChanges, listIds, searchPhone and searchName
// are replaced; see the package documentation for their contract.
//
// Option keys (tenant YAML) are the lower-camel field names: driver, dsn,
// migrate, urlTemplate, ticketUrlTemplate, tablePrefix, statements,
// maxOpenConns, pageSize, syncOverlap, reconcileInterval,
// contactUrlTemplate, phoneSeparator, crmName, crmLogo, notify.
type Config struct {
	// Driver is postgres, mysql (also for MariaDB) or sqlite.
	Driver string
	// DSN is the driver's data source name (a postgres:// URL, a
	// go-sql-driver/mysql DSN, or a SQLite file name / file: URI).
	DSN string
	// Migrate creates and upgrades the default schema at start; default true.
	Migrate *bool
	// URLTemplate makes a call or message log's URL; {id} and {tenant} are
	// replaced. Empty gives results without URL.
	URLTemplate string
	// TicketURLTemplate is URLTemplate for tickets; default URLTemplate.
	TicketURLTemplate string
	// TablePrefix is put before every table name (letters, digits, _).
	TablePrefix string
	// Statements replace default statements by name (see the type doc).
	Statements map[string]string
	// MaxOpenConns caps the connection pool; default 10 (SQLite: 1, since
	// SQLite has one writer at a time anyway).
	MaxOpenConns int

	// PageSize is the number of rows of one ListChanges page, 1–50,000,
	// default 1000; a reconcile pass lists ten times as many ids per page.
	// The sync asks for at most rateLimit pages a second (default 4): raise
	// rateLimit rather than the page size to sync a large table faster.
	PageSize int
	// SyncOverlap is how far behind the database's clock the stored sync
	// position stays (default 10s): a row whose updated_at is older than
	// that when its transaction commits, or that another writer's clock
	// set that far in the past, is still read. Rows newer than it are
	// published at once and read again by the next poll, which publishes
	// only those that changed meanwhile.
	SyncOverlap time.Duration
	// ReconcileInterval is how often every id is listed (listIds) to find
	// the rows deleted for good, which a changes query cannot see, with or
	// without a deleted_at column (it reports soft deletes only). nil:
	// DefaultReconcileInterval; 0: never.
	ReconcileInterval *time.Duration
	// ContactURLTemplate makes a contact's contactUri when the statement
	// returns no contact_uri column; {id} is replaced.
	ContactURLTemplate string
	// PhoneSeparator splits a phone column holding several numbers (";"
	// or ","). Empty: one number per column (a tel: URI may hold ";").
	PhoneSeparator string
	// Notify names a PostgreSQL channel (notify) whose notifications make
	// the sync poll at once instead of at its next interval; the table's
	// trigger sends them (see the package documentation). PostgreSQL only.
	Notify string
	// CRMName and CRMLogo are put on every contact read (crmName,
	// crmLogo), shown by some dialects beside the contact.
	CRMName string
	CRMLogo string
	// Log receives what the read side cannot report as an error (a
	// reconcile given up because the ids do not fit in the cursor).
	// Default slog.Default().
	Log *slog.Logger
}

// ParseOptions reads a connector's options, e.g. {type: sql, driver:
// postgres, dsn: "${CRM_DSN}", urlTemplate: "https://crm/calls/{id}"},
// reporting every problem (unknown keys included) at once.
func ParseOptions(opts map[string]any) (Config, error) {
	var c Config
	scalars := make(map[string]any, len(opts))
	for k, v := range opts {
		if k != "statements" {
			scalars[k] = v
		}
	}
	r := options.New(scalars)
	r.String("driver", &c.Driver)
	r.String("dsn", &c.DSN)
	migrate := true
	r.Bool("migrate", &migrate)
	c.Migrate = &migrate
	r.String("urlTemplate", &c.URLTemplate)
	r.String("ticketUrlTemplate", &c.TicketURLTemplate)
	r.String("tablePrefix", &c.TablePrefix)
	r.Int("maxOpenConns", &c.MaxOpenConns)
	r.Int("pageSize", &c.PageSize)
	r.Duration("syncOverlap", &c.SyncOverlap)
	reconcile := time.Duration(math.MinInt64)
	r.Duration("reconcileInterval", &reconcile)
	if reconcile != math.MinInt64 {
		c.ReconcileInterval = &reconcile
	}
	r.String("contactUrlTemplate", &c.ContactURLTemplate)
	r.String("phoneSeparator", &c.PhoneSeparator)
	r.String("crmName", &c.CRMName)
	r.String("crmLogo", &c.CRMLogo)
	r.String("notify", &c.Notify)
	stmts, err := stringMap(opts["statements"])
	if err != nil {
		err = fmt.Errorf("option statements: %w", err)
	}
	c.Statements = stmts
	if err := errors.Join(r.Err(), err); err != nil {
		return c, fmt.Errorf("sql options: %w", err)
	}
	return c, nil
}

// stringMap reads a map of text (statements by name); YAML may give a
// number where text was meant.
func stringMap(v any) (map[string]string, error) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%T is not a map of text", v)
	}
	out := make(map[string]string, len(m))
	for k, x := range m {
		switch s := x.(type) {
		case string:
			out[k] = s
		case int, int64, float64:
			out[k] = fmt.Sprint(s)
		default:
			return nil, fmt.Errorf("%s: %T is not text", k, x)
		}
	}
	return out, nil
}

var prefixPattern = regexp.MustCompile(`^[A-Za-z0-9_]{0,32}$`)

// channelPattern is a PostgreSQL channel name LISTEN takes unquoted.
var channelPattern = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

var statementNames = []string{StmtLogCall, StmtFindCall, StmtCreateTicket, StmtFindTicket, StmtLogMessage, StmtFindMessage,
	StmtLogDisposition, StmtListChanges, StmtListIDs, StmtSearchPhone, StmtSearchName, StmtNow}

// Validate applies defaults and reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Driver != "" {
		if canonical, ok := driverAliases[strings.ToLower(c.Driver)]; ok {
			c.Driver = canonical
		}
	}
	if _, ok := dialects[c.Driver]; !ok {
		errs = append(errs, fmt.Errorf("sql: driver %q must be postgres, mysql or sqlite", c.Driver))
	}
	if c.DSN == "" {
		errs = append(errs, errors.New("sql: dsn is required"))
	}
	if c.Migrate == nil {
		yes := true
		c.Migrate = &yes
	}
	if c.TicketURLTemplate == "" {
		c.TicketURLTemplate = c.URLTemplate
	}
	if !prefixPattern.MatchString(c.TablePrefix) {
		errs = append(errs, fmt.Errorf("sql: tablePrefix %q may only have letters, digits and _ (at most 32)", c.TablePrefix))
	}
	names := make([]string, 0, len(c.Statements))
	for name := range c.Statements {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !slices.Contains(statementNames, name) {
			errs = append(errs, fmt.Errorf("sql: unknown statement %q (known: %s)", name, strings.Join(statementNames, ", ")))
		}
	}
	if c.Notify != "" && c.Driver != "postgres" {
		errs = append(errs, fmt.Errorf("sql: notify needs driver postgres (LISTEN/NOTIFY), not %q", c.Driver))
	}
	if c.Notify != "" && !channelPattern.MatchString(c.Notify) {
		errs = append(errs, fmt.Errorf("sql: notify %q must be a channel name of lower-case letters, digits and _ (at most 63)", c.Notify))
	}
	if c.MaxOpenConns < 0 {
		errs = append(errs, errors.New("sql: maxOpenConns must not be negative"))
	}
	if c.MaxOpenConns == 0 {
		c.MaxOpenConns = 10
		if c.Driver == "sqlite" {
			c.MaxOpenConns = 1
		}
	}
	if c.PageSize == 0 {
		c.PageSize = DefaultPageSize
	}
	if c.PageSize < 1 || c.PageSize > maxPageSize {
		errs = append(errs, fmt.Errorf("sql: pageSize %d must be between 1 and %d", c.PageSize, maxPageSize))
	}
	if c.SyncOverlap == 0 {
		c.SyncOverlap = DefaultSyncOverlap
	}
	if c.SyncOverlap < 0 {
		errs = append(errs, fmt.Errorf("sql: syncOverlap %s must not be negative", c.SyncOverlap))
	}
	if c.ReconcileInterval != nil && *c.ReconcileInterval < 0 {
		errs = append(errs, fmt.Errorf("sql: reconcileInterval %s must not be negative (0 turns it off)", *c.ReconcileInterval))
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}
