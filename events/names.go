package events

import (
	"fmt"
	"regexp"
	"time"
)

// Stream names, KV buckets and subject roots. Production uses them as they
// are; a Topology with a prefix lets tests and side-by-side deployments share
// one NATS server without seeing each other.
const (
	StreamCalls     = "CALLS"
	StreamWorkflows = "WORKFLOWS"
	StreamContacts  = "CONTACTS"
	StreamDLQ       = "DLQ"
	StreamAudit     = "AUDIT"

	BucketWorkflowResults = "workflow_results"
	BucketSyncCursors     = "sync_cursors"
	BucketTenants         = "tenants"
)

// ValidID reports whether a tenant or source id is safe as a subject
// token: it matches [a-z0-9_-]{1,64}. (A loop, not a regexp: every lookup
// and every projected contact checks its tenant.)
func ValidID(id string) error {
	ok := len(id) >= 1 && len(id) <= 64
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		ok = 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-'
	}
	if !ok {
		return fmt.Errorf("%w: id %q must match [a-z0-9_-]{1,64}", ErrInvalid, id)
	}
	return nil
}

// prefixPattern is what every stream name, KV bucket name and subject
// token NATS accepts may start with.
var prefixPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{0,32}$`)

// ValidPrefix reports whether p can be a Topology's Prefix
// (CALLDEX_STREAM_PREFIX): empty, or letters of either case, digits, _
// and -, at most 32. Every role and calldexctl check it with this one
// rule.
func ValidPrefix(p string) error {
	if !prefixPattern.MatchString(p) {
		return fmt.Errorf("%w: stream prefix %q must match [A-Za-z0-9_-]{0,32}", ErrInvalid, p)
	}
	return nil
}

// Topology names every stream, subject and bucket, under an optional prefix.
type Topology struct {
	// Prefix is put before every stream and bucket name (as is) and every
	// subject (followed by a dot). Empty in production.
	Prefix string
	// Replicas is how many copies a NATS cluster keeps of every stream and
	// bucket; 0 means 1 (a single server).
	Replicas int
	// Retention is how long streams and buckets keep what they hold.
	Retention Retention
}

// Default retention of the streams and buckets that age.
const (
	DefaultCallsMaxAge     = 30 * 24 * time.Hour
	DefaultWorkflowsMaxAge = 30 * 24 * time.Hour
	DefaultResultsMaxAge   = 30 * 24 * time.Hour
)

// Retention is the maximum age of the messages of CALLS, WORKFLOWS and the
// workflow_results bucket; a zero field keeps its default.
type Retention struct {
	Calls, Workflows, Results time.Duration
}

// CallsMaxAge is how long CALLS keeps a call event.
func (r Retention) CallsMaxAge() time.Duration { return orDefault(r.Calls, DefaultCallsMaxAge) }

// WorkflowsMaxAge is how long WORKFLOWS keeps a request (and so how far
// back it can be replayed).
func (r Retention) WorkflowsMaxAge() time.Duration {
	return orDefault(r.Workflows, DefaultWorkflowsMaxAge)
}

// ResultsMaxAge is how long a workflow's result stays readable.
func (r Retention) ResultsMaxAge() time.Duration { return orDefault(r.Results, DefaultResultsMaxAge) }

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// StorageReplicas returns the replica count to create streams and buckets with.
func (t Topology) StorageReplicas() int { return max(t.Replicas, 1) }

// StreamSpec describes a stream, independent of any client library.
type StreamSpec struct {
	Name     string
	Subjects []string
	// MaxMsgsPerSubject keeps only the latest messages of each subject; 0 is unlimited.
	MaxMsgsPerSubject int64
	// MaxAge drops older messages; 0 keeps them forever.
	MaxAge time.Duration
	// WorkQueue removes a message once acked (no replay from it).
	WorkQueue bool
}

func (t Topology) subject(s string) string {
	if t.Prefix == "" {
		return s
	}
	return t.Prefix + "." + s
}

// Stream returns the prefixed stream (or bucket) name.
func (t Topology) Stream(name string) string { return t.Prefix + name }

// Streams lists every stream Calldex uses.
func (t Topology) Streams() []StreamSpec {
	return []StreamSpec{
		{Name: t.Stream(StreamCalls), Subjects: []string{t.subject("calls.>")}, MaxAge: t.Retention.CallsMaxAge()},
		{Name: t.Stream(StreamWorkflows), Subjects: []string{t.subject("workflows.>")}, MaxAge: t.Retention.WorkflowsMaxAge()},
		{Name: t.Stream(StreamContacts), Subjects: []string{t.subject("contacts.>")}, MaxMsgsPerSubject: 1},
		{Name: t.Stream(StreamDLQ), Subjects: []string{t.subject("dlq.>")}},
		// Kept until an operator decides otherwise: it is the record of
		// who did what.
		{Name: t.Stream(StreamAudit), Subjects: []string{t.subject("audit.>")}},
	}
}

// ContactSubject is where the latest state of one contact lives.
func (t Topology) ContactSubject(tenant, source, id string) string {
	return t.subject("contacts." + tenant + "." + source + "." + SubjectToken(id))
}

// ContactsFilter matches every contact of a tenant ("*" for all tenants).
func (t Topology) ContactsFilter(tenant string) string {
	return t.subject("contacts." + tenant + ".>")
}

// CallSubject carries call events of a tenant (event: lookup, ringing, …).
func (t Topology) CallSubject(tenant, event string) string {
	return t.subject("calls." + tenant + "." + event)
}

// WorkflowsFilter matches every workflow request of a tenant.
func (t Topology) WorkflowsFilter(tenant string) string {
	return t.subject("workflows." + tenant + ".>")
}

// WorkflowSubject carries workflow requests of a tenant.
func (t Topology) WorkflowSubject(tenant, workflow string) string {
	return t.subject("workflows." + tenant + "." + SubjectToken(workflow))
}

// AuditSubject carries the audit events of a tenant's administration
// (NoTenant for actions on no single tenant).
func (t Topology) AuditSubject(tenant string) string {
	return t.subject("audit." + tenant)
}

// DLQSubject is where a dead letter of the given original subject goes.
func (t Topology) DLQSubject(original string) string {
	return t.subject("dlq." + original)
}

// SubjectToken makes an arbitrary id (a CRM id may contain dots, spaces or
// slashes) safe as one subject token, reversibly: unsafe bytes become %XX.
func SubjectToken(id string) string {
	const hex = "0123456789ABCDEF"
	safe := true
	for i := 0; i < len(id); i++ {
		if !tokenSafe(id[i]) {
			safe = false
			break
		}
	}
	if safe && id != "" {
		return id
	}
	b := make([]byte, 0, len(id)+8)
	for i := 0; i < len(id); i++ {
		c := id[i]
		if tokenSafe(c) {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hex[c>>4], hex[c&15])
	}
	if len(b) == 0 {
		return "%"
	}
	return string(b)
}

func tokenSafe(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '=' || c == '+' || c == '@' || c == ':'
}
