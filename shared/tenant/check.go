package tenant

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Kinds of Problem.
const (
	// KindEnv: a ${VAR} the environment does not set.
	KindEnv = "env"
	// KindSyntax: the file is not YAML; nothing after it can be read.
	KindSyntax = "syntax"
	// KindField: an unknown field or a value of the wrong type.
	KindField = "field"
	// KindInvalid: a value Validate rejects.
	KindInvalid = "invalid"
)

// Problem is one thing wrong with a configuration.
type Problem struct {
	// Line is the line of the file the problem is about; 0 when unknown.
	Line int `json:"line,omitempty"`
	// Path names the field, like tenants[1].credentials[0].value.
	Path    string `json:"path,omitempty"`
	Kind    string `json:"kind"`
	Message string `json:"message"`

	path  []any  // field names and sequence indexes
	scope string // "tenant 2 (acme)": what Error says it is about, without a path
}

// Error renders the problem with its line when known, as Parse and
// Validate report it.
func (p Problem) Error() string {
	msg := p.Message
	if p.scope != "" {
		msg = p.scope + ": " + msg
	}
	if p.Line > 0 {
		return fmt.Sprintf("line %d: %s", p.Line, msg)
	}
	return msg
}

// Check reads a configuration as Load does and returns every problem it
// has, each with its line, sorted by line: environment variables that are
// not set, unknown fields and wrong types, and everything Validate rejects.
// Unlike Parse it goes on after a kind of problem, so that one run lists
// them all; only a YAML syntax error stops it. A variable that is not set
// is replaced by a placeholder for the rest of the checks. rules add what
// this package cannot check (see Rule).
func Check(raw []byte, getenv func(string) (string, bool), rules ...Rule) []Problem {
	var ps []Problem
	expanded := expandAll(raw, getenv, &ps)
	var root yaml.Node
	if err := yaml.Unmarshal(expanded, &root); err != nil {
		return append(ps, yamlProblems(err, KindSyntax)...)
	}
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(expanded))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return append(ps, yamlProblems(err, KindSyntax)...)
		}
		// Type errors leave the rest decoded: validate it too.
		ps = append(ps, yamlProblems(err, KindField)...)
	}
	vs := cfg.problems(rules)
	locateIn(&root, vs)
	ps = append(ps, vs...)
	slices.SortStableFunc(ps, func(a, b Problem) int { return a.Line - b.Line })
	return ps
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlProblems turns a yaml.v3 error (one, or a TypeError's list) into
// problems with their lines.
func yamlProblems(err error, kind string) []Problem {
	msgs := []string{err.Error()}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	ps := make([]Problem, 0, len(msgs))
	for _, m := range msgs {
		p := Problem{Kind: kind, Message: strings.TrimPrefix(m, "yaml: ")}
		if sm := yamlLine.FindStringSubmatch(m); sm != nil {
			p.Line, _ = strconv.Atoi(sm[1])
			p.Message = sm[2]
		}
		ps = append(ps, p)
	}
	return ps
}

// locate sets the line of each problem from the YAML text it was read from.
func locate(text []byte, ps []Problem) {
	var root yaml.Node
	if yaml.Unmarshal(text, &root) == nil {
		locateIn(&root, ps)
	}
}

// locateIn sets each problem's line to the line of the node its path
// names; for a field that is missing, the line of the closest node that
// exists (the tenant without credentials, the admin block without token).
func locateIn(root *yaml.Node, ps []Problem) {
	for i := range ps {
		ps[i].Line = lineOfPath(root, ps[i].path)
	}
}

func lineOfPath(root *yaml.Node, path []any) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := max(n.Line, 1)
	for _, el := range path {
		switch el := el.(type) {
		case string:
			if n.Kind != yaml.MappingNode {
				return line
			}
			found := false
			for j := 0; j+1 < len(n.Content); j += 2 {
				if n.Content[j].Value == el {
					// A mapping key is reported on its own line; its value
					// may be a block starting below.
					line, n, found = n.Content[j].Line, n.Content[j+1], true
					break
				}
			}
			if !found {
				return line
			}
		case int:
			if n.Kind != yaml.SequenceNode || el >= len(n.Content) {
				return line
			}
			n = n.Content[el]
			line = n.Line
		}
	}
	return line
}

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// renderPath writes a path as tenants[1].workflows.CallFlow.connector.
func renderPath(path []any) string {
	var b strings.Builder
	for _, el := range path {
		switch el := el.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", el)
		case string:
			if !plainKey.MatchString(el) {
				fmt.Fprintf(&b, "[%q]", el)
				continue
			}
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(el)
		}
	}
	return b.String()
}

// DecodeTenant reads one tenant in YAML (or JSON) as Check reads a file:
// unknown fields and wrong types are problems with their lines, and the
// rest is still decoded, so that the caller can check it too; only a
// syntax error leaves nothing decoded.
func DecodeTenant(raw []byte) (Tenant, []Problem) {
	var t Tenant
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	err := dec.Decode(&t)
	var te *yaml.TypeError
	switch {
	case err == nil:
		return t, nil
	case errors.As(err, &te):
		return t, yamlProblems(err, KindField)
	default:
		return t, yamlProblems(err, KindSyntax)
	}
}
