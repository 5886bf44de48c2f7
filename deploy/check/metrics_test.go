package check

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// prometheusMetrics are series Prometheus makes itself for every target.
var prometheusMetrics = map[string]bool{"up": true}

// query is one PromQL expression and where it is written.
type query struct{ where, expr string }

// grafanaVars stand for Grafana's built-in interval variables, which
// PromQL does not know.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

func dashboardQueries(t *testing.T) []query {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, dashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string `json:"uid"`
		Title  string `json:"title"`
		Panels []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("%s: no uid or title", dashboardFile)
	}
	var qs []query
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q: no query", p.Title)
		}
		for _, tg := range p.Targets {
			qs = append(qs, query{where: "panel " + p.Title, expr: grafanaVars.Replace(tg.Expr)})
		}
	}
	return qs
}

func alertQueries(t *testing.T) []query {
	t.Helper()
	groups, errs := rulefmt.ParseFile(filepath.Join(root, alertsFile), false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.Default())
	for _, err := range errs {
		t.Errorf("alert rules: %v", err)
	}
	if groups == nil {
		t.FailNow()
	}
	var qs []query
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				t.Errorf("group %s: a rule without alert name", g.Name)
				continue
			}
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("alert %s: no severity label or summary", r.Alert)
			}
			qs = append(qs, query{where: "alert " + r.Alert, expr: r.Expr})
		}
	}
	return qs
}

// queriedMetrics are the metric names the dashboard and alert rules select,
// with where each is used.
func queriedMetrics(t *testing.T) map[string][]string {
	t.Helper()
	p := parser.NewParser(parser.Options{})
	used := map[string][]string{}
	for _, q := range append(dashboardQueries(t), alertQueries(t)...) {
		expr, err := p.ParseExpr(q.expr)
		if err != nil {
			t.Errorf("%s: %q: %v", q.where, q.expr, err)
			continue
		}
		n := 0
		parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
			if vs, ok := node.(*parser.VectorSelector); ok {
				used[vs.Name] = append(used[vs.Name], q.where)
				n++
			}
			return nil
		})
		if n == 0 {
			t.Errorf("%s: %q selects no metric", q.where, q.expr)
		}
	}
	return used
}

// TestDashboardAndAlertsParse: the dashboard is JSON with a query on every
// panel, the alert rules load as Prometheus loads them, every expression
// parses and selects Calldex metrics.
func TestDashboardAndAlertsParse(t *testing.T) {
	for name, where := range queriedMetrics(t) {
		if !strings.HasPrefix(name, "calldex_") && !prometheusMetrics[name] {
			t.Errorf("%s: metric %s is not Calldex's", where[0], name)
		}
	}
}

// checkQueriedMetrics: every metric the dashboard and the alert rules
// select is exported.
func checkQueriedMetrics(t *testing.T, exported map[string]bool) {
	t.Helper()
	registered := registeredMetrics(t)
	for name, where := range queriedMetrics(t) {
		switch {
		case prometheusMetrics[name]:
		case exported[name]:
		case registered[name]:
			// A vector without an observed child (an error counter the
			// run caused no error for) is absent from /metrics: its name
			// is checked against the collectors' definitions instead.
			t.Logf("%s: registered, not observed in this run (used by %s)", name, strings.Join(where, ", "))
		default:
			t.Errorf("%s selects %s, which no Calldex process exports", strings.Join(where, ", "), name)
		}
	}
}

// registeredMetrics are the names of the collectors defined in
// shared/metrics (histograms with their _bucket, _sum and _count series).
func registeredMetrics(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "shared/metrics/metrics.go"))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, m := range collectorName.FindAllStringSubmatch(string(b), -1) {
		names[m[1]] = true
		if strings.Contains(m[0], "Histogram") {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				names[m[1]+suffix] = true
			}
		}
	}
	if len(names) == 0 {
		t.Fatal("shared/metrics/metrics.go: no collector names found")
	}
	return names
}

// collectorName matches a collector definition and its name.
var collectorName = regexp.MustCompile(`prometheus\.New(?:Counter|Gauge|Histogram|Summary)(?:Vec)?\(prometheus\.(?:Counter|Gauge|Histogram|Summary)Opts\{\s*Name:\s*"([a-z_:][a-z0-9_:]*)"`)
