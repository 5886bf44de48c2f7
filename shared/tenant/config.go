// Package tenant reads the tenants' configuration and tells, from a request's
// credential, which tenant is calling.
package tenant

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/phone"
	"github.com/calldex/calldex/shared/risk"
)

// Defaults applied to a tenant that leaves a field empty.
const (
	DefaultMaxResults   = 5
	DefaultWorkflowWait = 2 * time.Second
	// DefaultFallbackBudget leaves a ringing phone time to show the answer.
	DefaultFallbackBudget  = 400 * time.Millisecond
	DefaultFallbackMissTTL = 10 * time.Minute
	// DefaultLookupTimeout bounds the index part of a lookup: a phone shows
	// "unknown" rather than ring on without a name while Redis hangs.
	DefaultLookupTimeout = 500 * time.Millisecond
)

// Config is the whole configuration file.
type Config struct {
	// Admin holds the token of the admin API.
	Admin struct {
		Token string `yaml:"token"`
	} `yaml:"admin"`
	Tenants []Tenant `yaml:"tenants"`
}

// Tenant is one customer: its phone conventions, credentials and workflows.
type Tenant struct {
	ID string `yaml:"id"`
	// Region is the ISO 3166 country whose national numbers the tenant's
	// phone system and CRM use (e.g. CH).
	Region string `yaml:"region"`
	// TailDigits is how many trailing digits make a tail match.
	TailDigits int `yaml:"tailDigits"`
	// MaxResults caps every lookup answer.
	MaxResults int `yaml:"maxResults"`
	// ContactRanking orders the contacts found under one number, and so
	// picks the one automatic call logging uses. Default
	// mostRecentlyUpdated.
	ContactRanking ContactRanking `yaml:"contactRanking"`
	// LookupTimeout bounds how long a lookup waits for the index; past it
	// the dialect's error answer goes out. Default 500ms.
	LookupTimeout time.Duration `yaml:"lookupTimeout"`
	// WorkflowWait is how long a workflow request waits for its result
	// before answering 202.
	WorkflowWait time.Duration `yaml:"workflowWait"`
	Credentials  []Credential  `yaml:"credentials"`
	// AllowedCIDRs, when set, restricts the client addresses.
	AllowedCIDRs []string `yaml:"allowedCIDRs"`
	// Workflows maps a workflow name (as offered in crmActions) to what it does.
	Workflows map[string]Workflow `yaml:"workflows"`
	// CRMActions lists the workflow names a lookup offers, in order. Empty
	// means every configured workflow, sorted by name.
	CRMActions []string `yaml:"crmActions"`
	// Automatic lists workflows run on ended/missed call events.
	Automatic []string `yaml:"automatic"`
	// Connectors are the tenant's CRM connector instances by name.
	Connectors map[string]Connector `yaml:"connectors"`
	// Fallback asks CRMs live when the index has no match.
	Fallback Fallback `yaml:"fallback"`
	// AppConnect holds the tenant's RingCentral App Connect options, read
	// by the App Connect dialect (allowCreate, crm, livePhoneSearch, …).
	AppConnect map[string]any `yaml:"appConnect"`
	// Risk holds the tenant's caller risk settings.
	Risk Risk `yaml:"risk,omitempty"`

	cidrs []netip.Prefix
}

// Risk is a tenant's caller risk settings: the rules' thresholds (zero
// fields are risk's defaults), when it expects calls, and where a PBX
// should send high-risk callers.
type Risk struct {
	// Disabled leaves the risk signal out of the tenant's answers; its
	// calls still count for everyone else's.
	Disabled        bool `yaml:"disabled,omitempty"`
	risk.Thresholds `yaml:",inline"`
	// Timezone of the business hours (IANA name, default UTC).
	Timezone string `yaml:"timezone,omitempty"`
	// BusinessHours are "HH:MM-HH:MM", Monday to Friday (default
	// 08:00-18:00); calls outside them count for after_hours.
	BusinessHours string `yaml:"businessHours,omitempty"`
	// HighRiskRoute, when set, replaces the routing fields of the PBX
	// answer for a high-risk caller (to a voicemail, say).
	HighRiskRoute HighRiskRoute `yaml:"highRiskRoute,omitempty"`

	hours risk.BusinessHours
}

// HighRiskRoute is the PBX routing of high-risk callers.
type HighRiskRoute struct {
	RouteIdentifier string `yaml:"routeIdentifier,omitempty"`
	DirectLine      string `yaml:"directLine,omitempty"`
}

// ContactRanking is how a tenant wants the contacts of one number ordered
// (the policies RingCentral App Connect offers for several matched
// contacts). Exact matches come before tail matches whatever the ranking.
type ContactRanking string

// The contact rankings.
const (
	// RankMostRecentlyUpdated: the most recently updated first (the
	// index's own order).
	RankMostRecentlyUpdated ContactRanking = "mostRecentlyUpdated"
	// RankAlphabetical: by name (case and accents folded), then the most
	// recently updated.
	RankAlphabetical ContactRanking = "alphabetical"
	// RankEarliestCreated: the earliest created first (UpdatedAt when the
	// source does not tell), then the most recently updated.
	RankEarliestCreated ContactRanking = "earliestCreated"
)

// ContactRankings are the rankings a tenant may choose.
var ContactRankings = []ContactRanking{RankMostRecentlyUpdated, RankAlphabetical, RankEarliestCreated}

// Fallback configures the live search of a tenant's CRMs on an index miss.
type Fallback struct {
	// Sources are connectors (able to search by phone) asked in parallel.
	// Empty disables the fallback.
	Sources []string `yaml:"sources"`
	// Budget bounds the live search; the phone is ringing. Default 400ms.
	Budget time.Duration `yaml:"budget"`
	// MissTTL is how long an unknown number is not asked again. Default 10m.
	MissTTL time.Duration `yaml:"missTTL"`
}

// Credential is one way a tenant authenticates: a header name and value (the
// peoplefone portal lets the customer choose both) or a query parameter.
type Credential struct {
	Header string `yaml:"header"`
	Query  string `yaml:"query"`
	Value  string `yaml:"value"`
}

// Workflow binds a workflow name to an action of a connector.
type Workflow struct {
	Action    string `yaml:"action"` // logCall, createTicket, logMessage
	Connector string `yaml:"connector"`
}

// Connector is a CRM connector instance; Options are read by its package.
type Connector struct {
	Type    string         `yaml:"type"`
	Options map[string]any `yaml:",inline"`
}

// Load reads a config file, expanding ${VAR} with getenv (outside
// comments), and validates it, with rules after the checks of this package.
func Load(path string, getenv func(string) (string, bool), rules ...Rule) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(raw, getenv, rules...)
}

// Rule checks what this package cannot know, such as a connector's options
// or what a connector type can do. It returns problems made by
// TenantProblem; Check, Parse and Load give them their lines. Rules run
// after the checks of this package, with the defaults applied, even when
// those found problems: a rule must not assume a valid tenant.
type Rule func(*Config) []Problem

// Parse is Load on bytes. Its errors name the line of each problem.
func Parse(raw []byte, getenv func(string) (string, bool), rules ...Rule) (*Config, error) {
	var missing []Problem
	expanded := expandAll(raw, getenv, &missing)
	if len(missing) > 0 {
		return nil, joinProblems(missing)
	}
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(expanded))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("parse config: %w", err)
	}
	if ps := cfg.problems(rules); len(ps) > 0 {
		locate(expanded, ps)
		return nil, joinProblems(ps)
	}
	return &cfg, nil
}

func joinProblems(ps []Problem) error {
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = p
	}
	return errors.Join(errs...)
}

// Validate applies defaults and reports every problem at once.
func (c *Config) Validate() error {
	return joinProblems(c.problems(nil))
}

// problems applies defaults and lists every problem, its own and those of
// rules, each with the path of the field it is about (lines are added by
// locate).
func (c *Config) problems(rules []Rule) []Problem {
	var ps []Problem
	add := func(path []any, format string, a ...any) {
		ps = append(ps, Problem{path: path, Kind: KindInvalid, Message: fmt.Sprintf(format, a...)})
	}
	if c.Admin.Token == "" {
		add([]any{"admin", "token"}, "admin.token is required")
	}
	if len(c.Tenants) == 0 {
		ps = append(ps, Problem{path: []any{"tenants"}, Kind: KindInvalid, scope: "tenants", Message: "at least one tenant is required"})
	}
	seen := map[string]bool{}
	type credAt struct {
		tenant string
	}
	creds := map[Credential]credAt{}
	for i := range c.Tenants {
		t := &c.Tenants[i]
		if seen[t.ID] {
			ps = append(ps, Problem{path: []any{"tenants", i, "id"}, Kind: KindInvalid, scope: fmt.Sprintf("tenants[%d]", i), Message: fmt.Sprintf("duplicate id %q", t.ID)})
		}
		seen[t.ID] = true
		ps = append(ps, t.validate([]any{"tenants", i}, fmt.Sprintf("tenant %d (%s)", i, t.ID))...)
		for j, cr := range t.Credentials {
			if other, dup := creds[cr]; dup && other.tenant != t.ID {
				ps = append(ps, Problem{path: []any{"tenants", i, "credentials", j}, Kind: KindInvalid, scope: "tenant " + t.ID,
					Message: "a credential is shared with tenant " + other.tenant})
			}
			creds[cr] = credAt{t.ID}
		}
	}
	for _, rule := range rules {
		ps = append(ps, rule(c)...)
	}
	for i := range ps {
		ps[i].Path = renderPath(ps[i].path)
	}
	return ps
}

// TenantProblem is a problem of field (names and sequence indexes below
// the tenant, like "connectors", "crm", "driver") of c.Tenants[i], for
// rules.
func TenantProblem(i int, t *Tenant, field []any, format string, a ...any) Problem {
	path := append([]any{"tenants", i}, field...)
	return Problem{path: path, Kind: KindInvalid, scope: fmt.Sprintf("tenant %d (%s)", i, t.ID), Message: fmt.Sprintf(format, a...)}
}

// ValidateTenant applies defaults to one tenant and returns every problem
// it has, each with the path of its field within the tenant (region,
// credentials[0].value): the checks Validate and Check make of each tenant
// of a file.
func ValidateTenant(t *Tenant) []Problem {
	ps := t.validate(nil, "tenant "+t.ID)
	for i := range ps {
		ps[i].Path = renderPath(ps[i].path)
	}
	return ps
}

// validate applies defaults and lists the tenant's problems; prefix is the
// path of the tenant, scope what Error says the problem is about.
func (t *Tenant) validate(prefix []any, scope string) []Problem {
	var ps []Problem
	bad := func(field []any, format string, a ...any) {
		path := append(slices.Clip(prefix), field...)
		ps = append(ps, Problem{path: path, Kind: KindInvalid, scope: scope, Message: fmt.Sprintf(format, a...)})
	}
	if err := events.ValidID(t.ID); err != nil {
		bad([]any{"id"}, "%v", err)
	}
	if t.TailDigits == 0 {
		t.TailDigits = phone.DefaultTailDigits
	}
	if err := t.PhoneOptions().Validate(); err != nil {
		for _, e := range unjoin(err) {
			field := "region"
			if errors.Is(e, phone.ErrInvalidTailDigits) {
				field = "tailDigits"
			}
			bad([]any{field}, "%v", e)
		}
	}
	if t.MaxResults == 0 {
		t.MaxResults = DefaultMaxResults
	}
	if t.MaxResults < 1 || t.MaxResults > 100 {
		bad([]any{"maxResults"}, "maxResults %d must be between 1 and 100", t.MaxResults)
	}
	if t.ContactRanking == "" {
		t.ContactRanking = RankMostRecentlyUpdated
	}
	if !slices.Contains(ContactRankings, t.ContactRanking) {
		bad([]any{"contactRanking"}, "contactRanking %q must be one of %s, %s, %s", t.ContactRanking, RankMostRecentlyUpdated, RankAlphabetical, RankEarliestCreated)
	}
	if t.WorkflowWait == 0 {
		t.WorkflowWait = DefaultWorkflowWait
	}
	if t.LookupTimeout == 0 {
		t.LookupTimeout = DefaultLookupTimeout
	}
	if t.LookupTimeout < 0 || t.LookupTimeout > 10*time.Second {
		bad([]any{"lookupTimeout"}, "lookupTimeout %s must be between 0 and 10s", t.LookupTimeout)
	}
	if len(t.Credentials) == 0 {
		bad([]any{"credentials"}, "at least one credential is required")
	}
	for j, cr := range t.Credentials {
		switch {
		case (cr.Header == "") == (cr.Query == ""):
			bad([]any{"credentials", j}, "credentials[%d]: set exactly one of header or query", j)
		case IsHashed(cr.Value):
			if _, err := parseHashed(cr.Value); err != nil {
				bad([]any{"credentials", j, "value"}, "credentials[%d]: %v", j, err)
			}
		case len(cr.Value) < 8:
			bad([]any{"credentials", j, "value"}, "credentials[%d]: value must have at least 8 characters", j)
		}
	}
	t.cidrs = t.cidrs[:0]
	for j, c := range t.AllowedCIDRs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			bad([]any{"allowedCIDRs", j}, "allowedCIDRs: %v", err)
			continue
		}
		t.cidrs = append(t.cidrs, p.Masked())
	}
	for _, name := range sortedKeys(t.Workflows) {
		w := t.Workflows[name]
		if strings.ContainsAny(name, "/ .*>") || name == "" || name == "Lookup" {
			bad([]any{"workflows", name}, "workflow name %q must be a plain word and not Lookup", name)
		}
		if _, ok := t.Connectors[w.Connector]; !ok {
			bad([]any{"workflows", name, "connector"}, "workflow %s: connector %q is not defined", name, w.Connector)
		}
		if w.Action == "" {
			bad([]any{"workflows", name}, "workflow %s: action is required", name)
		}
	}
	for _, offered := range []struct {
		field string
		names []string
	}{{"crmActions", t.CRMActions}, {"automatic", t.Automatic}} {
		for j, name := range offered.names {
			if _, ok := t.Workflows[name]; !ok {
				bad([]any{offered.field, j}, "workflow %q is offered but not defined under workflows", name)
			}
		}
	}
	for j, name := range t.Fallback.Sources {
		if _, ok := t.Connectors[name]; !ok {
			bad([]any{"fallback", "sources", j}, "fallback source %q is not a defined connector", name)
		}
	}
	if t.Fallback.Budget == 0 {
		t.Fallback.Budget = DefaultFallbackBudget
	}
	if t.Fallback.Budget < 0 || t.Fallback.Budget > 5*time.Second {
		bad([]any{"fallback", "budget"}, "fallback budget %s must be between 0 and 5s", t.Fallback.Budget)
	}
	if t.Fallback.MissTTL == 0 {
		t.Fallback.MissTTL = DefaultFallbackMissTTL
	}
	for _, name := range sortedKeys(t.Connectors) {
		if t.Connectors[name].Type == "" {
			bad([]any{"connectors", name}, "connector %s: type is required", name)
		}
	}
	hours, err := risk.ParseBusinessHours(t.Risk.Timezone, t.Risk.BusinessHours)
	for _, e := range append(unjoin(t.Risk.Thresholds.Validate()), unjoin(err)...) {
		if fe := (*risk.FieldError)(nil); errors.As(e, &fe) {
			bad([]any{"risk", fe.Field}, "risk: %v", e)
		}
	}
	t.Risk.hours = hours
	return ps
}

// BusinessHours are when the tenant expects calls (Risk.Timezone and
// Risk.BusinessHours, read when the tenant was validated).
func (t *Tenant) BusinessHours() risk.BusinessHours { return t.Risk.hours }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// unjoin splits an errors.Join result into its errors.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// PhoneOptions are the tenant's phone conventions.
func (t *Tenant) PhoneOptions() phone.Options {
	return phone.Options{Region: t.Region, TailDigits: t.TailDigits}
}

// Actions returns the workflow names a lookup offers.
func (t *Tenant) Actions() []string {
	if len(t.CRMActions) > 0 {
		return t.CRMActions
	}
	names := make([]string, 0, len(t.Workflows))
	for n := range t.Workflows {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// IsAutomatic reports whether a workflow runs on call events by itself.
func (t *Tenant) IsAutomatic(workflow string) bool {
	for _, w := range t.Automatic {
		if w == workflow {
			return true
		}
	}
	return false
}
