package tenantcheck

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/calldex/calldex/services/internal/appconnect"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/workflows/connectors"
)

// Connectors checks a connector's config without building it
// (*connectors.Factory).
type Connectors interface {
	Check(c tenant.Connector) (connectors.Capabilities, error)
}

// Check reads a tenants file as Load does and returns every problem it
// has, each with its line, sorted by line (see tenant.Check).
func Check(raw []byte, getenv func(string) (string, bool)) []tenant.Problem {
	return tenant.Check(raw, getenv, Rule(builtin()))
}

// Load reads a tenants file as the services run it: every problem Check
// reports is an error.
func Load(path string, getenv func(string) (string, bool)) (*tenant.Config, error) {
	return tenant.Load(path, getenv, Rule(builtin()))
}

// Parse is Load on bytes.
func Parse(raw []byte, getenv func(string) (string, bool)) (*tenant.Config, error) {
	return tenant.Parse(raw, getenv, Rule(builtin()))
}

// builtin knows the connector types every Calldex process knows.
func builtin() Connectors {
	f, err := connectors.New(connectors.Config{}, connectors.Deps{})
	if err != nil {
		panic(fmt.Sprintf("connectors' defaults do not validate: %v", err)) // a bug
	}
	return f
}

// workflowActions are the actions a workflow may name.
var workflowActions = []string{connectors.ActionLogCall, connectors.ActionCreateTicket, connectors.ActionLogMessage, connectors.ActionLogDisposition}

// Rule checks each tenant's connectors, workflows, fallback and App
// Connect options with conns.
func Rule(conns Connectors) tenant.Rule {
	return func(c *tenant.Config) []tenant.Problem {
		var ps []tenant.Problem
		for i := range c.Tenants {
			ps = append(ps, checkTenant(conns, i, &c.Tenants[i])...)
		}
		return ps
	}
}

func checkTenant(conns Connectors, i int, t *tenant.Tenant) []tenant.Problem {
	var ps []tenant.Problem
	bad := func(field []any, format string, a ...any) {
		ps = append(ps, tenant.TenantProblem(i, t, field, format, a...))
	}
	// What each connector that checked out can do; a connector that did
	// not is reported once, on its own lines.
	caps := map[string]connectors.Capabilities{}
	for _, name := range slices.Sorted(maps.Keys(t.Connectors)) {
		c := t.Connectors[name]
		if c.Type == "" {
			continue // tenant reports it
		}
		cc, err := conns.Check(c)
		if err != nil {
			for _, msg := range leaves(err) {
				field := []any{"connectors", name}
				if key := optionKey(msg, c.Options); key != "" {
					field = append(field, key)
				} else if errors.Is(err, connectors.ErrUnknownType) {
					field = append(field, "type")
				}
				bad(field, "connector %s (%s): %s", name, c.Type, msg)
			}
			continue
		}
		caps[name] = cc
	}
	for _, name := range slices.Sorted(maps.Keys(t.Workflows)) {
		w := t.Workflows[name]
		cc, checked := caps[w.Connector]
		switch {
		case w.Action == "":
			// tenant reports it
		case !slices.Contains(workflowActions, w.Action):
			bad([]any{"workflows", name, "action"}, "workflow %s: action %q is not one of %s", name, w.Action, strings.Join(workflowActions, ", "))
		case checked && !slices.Contains(cc.Actions, w.Action):
			bad([]any{"workflows", name, "action"}, "workflow %s: connector %s (%s) cannot %s (it can: %s)",
				name, w.Connector, t.Connectors[w.Connector].Type, w.Action, orNothing(cc.Actions))
		}
	}
	for j, name := range t.Fallback.Sources {
		if cc, ok := caps[name]; ok && !cc.SearchPhone {
			bad([]any{"fallback", "sources", j}, "fallback source %s (%s) cannot search by phone", name, t.Connectors[name].Type)
		}
	}
	return append(ps, checkAppConnect(t, caps, bad)...)
}

// checkAppConnect checks the appConnect section key by key, so that each
// problem gets the line of its key.
func checkAppConnect(t *tenant.Tenant, caps map[string]connectors.Capabilities, bad func([]any, string, ...any)) []tenant.Problem {
	for _, key := range slices.Sorted(maps.Keys(t.AppConnect)) {
		_, err := appconnect.DecodeTenantOptions(map[string]any{key: t.AppConnect[key]})
		var te *yaml.TypeError
		switch {
		case errors.As(err, &te):
			for _, msg := range te.Errors {
				bad([]any{"appConnect", key}, "appConnect: %s", yamlLinePrefix.ReplaceAllString(msg, ""))
			}
		case err != nil:
			for _, msg := range leaves(err) {
				bad([]any{"appConnect", key}, "appConnect: %s", msg)
			}
		}
	}
	opts, err := appconnect.DecodeTenantOptions(t.AppConnect)
	if err != nil {
		return nil // reported above, key by key
	}
	crmName := opts.CRM
	if crmName != "" {
		if _, ok := t.Connectors[crmName]; !ok {
			bad([]any{"appConnect", "crm"}, "appConnect: crm %q is not a defined connector", crmName)
			return nil
		}
	} else if len(t.Connectors) == 1 {
		crmName = slices.Collect(maps.Keys(t.Connectors))[0]
	}
	cc, ok := caps[crmName]
	if !ok {
		return nil // no CRM, or one reported above
	}
	typ := t.Connectors[crmName].Type
	for _, need := range []struct {
		key     string
		on, can bool
		what    string
	}{
		{"livePhoneSearch", opts.LivePhoneSearch, cc.SearchPhone, "search by phone"},
		{"liveNameSearch", opts.LiveNameSearch, cc.SearchName, "search by name"},
	} {
		if need.on && !need.can {
			bad([]any{"appConnect", need.key}, "appConnect: %s: connector %s (%s) cannot %s", need.key, crmName, typ, need.what)
		}
	}
	return nil
}

var yamlLinePrefix = regexp.MustCompile(`^(yaml: )?line \d+: `)

// leaves splits an error into the messages of the problems it joins
// (errors.Join, at any depth): a wrapper of several problems gives way to
// them, a single problem keeps the words around it.
func leaves(err error) []string {
	var kids []error
	switch x := err.(type) {
	case interface{ Unwrap() []error }:
		kids = x.Unwrap()
	case interface{ Unwrap() error }:
		kids = []error{x.Unwrap()}
	}
	if len(kids) > 1 && isJoin(err, kids) {
		var out []string
		for _, k := range kids {
			out = append(out, leaves(k)...)
		}
		return out
	}
	if n := len(kids); n > 0 && kids[n-1] != nil && strings.HasSuffix(err.Error(), kids[n-1].Error()) {
		if ls := leaves(kids[n-1]); len(ls) > 1 {
			return ls
		}
	}
	return []string{err.Error()}
}

// isJoin tells an errors.Join from a wrapper of several errors with words
// of its own (fmt.Errorf with several %w).
func isJoin(err error, kids []error) bool {
	msgs := make([]string, len(kids))
	for i, k := range kids {
		msgs[i] = k.Error()
	}
	return strings.Join(msgs, "\n") == err.Error()
}

// optionKey finds the option a message is about: the first word before
// any quoted value that is one of the connector's options.
func optionKey(msg string, opts map[string]any) string {
	if q := strings.IndexAny(msg, `"'`); q >= 0 {
		msg = msg[:q]
	}
	for _, w := range strings.FieldsFunc(msg, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_')
	}) {
		if _, ok := opts[w]; ok && w != "type" {
			return w
		}
	}
	return ""
}

func orNothing(actions []string) string {
	if len(actions) == 0 {
		return "no workflow action"
	}
	return strings.Join(actions, ", ")
}
