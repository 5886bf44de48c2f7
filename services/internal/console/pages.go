package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/services/internal/ingress"
	"github.com/calldex/calldex/workflows/crmsync"
	"github.com/calldex/calldex/workflows/deadletter"
)

// pages are the templates by page name, each with the layout.
type pages map[string]*template.Template

var funcs = template.FuncMap{
	"since": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return time.Since(t).Round(time.Second).String() + " ago"
	},
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"join": strings.Join,
	"num": func(v float64, unit string) string {
		if math.IsNaN(v) {
			return "—"
		}
		return strconv.FormatFloat(v, 'f', -1, 64) + unit
	},
}

func parsePages() (pages, error) {
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("console templates: %w", err)
	}
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	ps := pages{}
	for _, n := range names {
		base := strings.TrimSuffix(path.Base(n), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(assets, n)
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", n, err)
		}
		ps[base] = t
	}
	return ps, nil
}

// view is what every page's template gets.
type view struct {
	Title, Page string
	CSRF        string
	Tenants     []string
	// Tenant is the tenant filter ("" for every tenant).
	Tenant string
	Flash  flash
	Error  string
	Data   any
}

func (c *Console) tenantIDs() []string {
	var ids []string
	for _, t := range c.deps.Tenants.Tenants() {
		ids = append(ids, t.ID)
	}
	slices.Sort(ids)
	return ids
}

// filter is the ?tenant= of r when it names a tenant, else "" (all).
func (c *Console) filter(r *http.Request) string {
	t := r.FormValue("tenant")
	if slices.Contains(c.tenantIDs(), t) {
		return t
	}
	return ""
}

// scope is the tenants a page shows: the filter's, or every tenant.
func (c *Console) scope(r *http.Request) []string {
	if t := c.filter(r); t != "" {
		return []string{t}
	}
	return c.tenantIDs()
}

// oneTenant is the filter's tenant, or the first one for pages about one.
func (c *Console) oneTenant(r *http.Request) string {
	if t := c.filter(r); t != "" {
		return t
	}
	if ids := c.tenantIDs(); len(ids) > 0 {
		return ids[0]
	}
	return ""
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, page string, s *session, data any) {
	v := view{Page: page, Title: titles[page], Tenants: c.tenantIDs(), Tenant: c.filter(r), Data: data}
	if s != nil {
		v.CSRF, v.Flash = s.csrf, c.sessions.takeFlash(s)
	}
	if m, ok := data.(map[string]any); ok {
		if e, ok := m["Error"].(string); ok {
			v.Error = e
		}
	}
	var buf bytes.Buffer
	if err := c.pages[page].ExecuteTemplate(&buf, "layout", v); err != nil {
		c.deps.Log.Error("console page", "page", page, "err", err)
		http.Error(w, "page failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

var titles = map[string]string{
	"login": "Log in", "overview": "Overview", "lookup": "Lookup tester", "contacts": "Contacts",
	"sources": "Sources", "workflows": "Workflows", "config": "Configuration",
}

// done keeps an action's outcome for the next page and goes back to it.
func (c *Console) done(w http.ResponseWriter, r *http.Request, s *session, back string, ans apiAnswer, okMessage string) {
	f := flash{Message: okMessage}
	if !ans.ok() {
		f = flash{Message: "Failed: " + ans.message(), Error: true}
	}
	c.sessions.setFlash(s, f)
	q := url.Values{}
	if t := r.PostFormValue("tenant"); t != "" {
		q.Set("tenant", t)
	}
	if back2 := r.PostFormValue("q"); back2 != "" {
		q.Set("q", back2)
	}
	if len(q) > 0 {
		back += "?" + q.Encode()
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

func tenantPath(tenant string, rest ...string) string {
	p := "/tenants/" + url.PathEscape(tenant)
	for _, s := range rest {
		p += "/" + url.PathEscape(s)
	}
	return p
}

// --- overview ---

func (c *Console) overview(w http.ResponseWriter, r *http.Request, s *session) {
	c.render(w, r, http.StatusOK, "overview", s, nil)
}

// stats are the overview's figures over the ring's span.
type stats struct {
	Span          time.Duration
	LookupsPerSec float64
	HitRatio      float64
	Latency       []dialectLatency
	Done, Retry   float64
	Dead          float64
	DLQ           []tenantCount
	SyncLag       []sourceLag
	Dropped       float64
	// TenantScoped says the lookup figures are the process's (lookups are
	// not counted per tenant).
	TenantScoped bool
}

type dialectLatency struct {
	Dialect  string
	P50, P99 float64 // ms
}

type tenantCount struct {
	Tenant string
	Count  int
	Error  string
}

type sourceLag struct {
	Source string
	Lag    float64
}

func (c *Console) overviewStats(w http.ResponseWriter, r *http.Request, s *session) {
	tenant := c.filter(r)
	st := stats{HitRatio: math.NaN(), LookupsPerSec: math.NaN(), TenantScoped: tenant != ""}
	ss := c.sampler.samples()
	if n := len(ss); n > 0 {
		first, last := ss[0], ss[n-1]
		if n > 1 {
			st.Span = last.at.Sub(first.at)
			st.LookupsPerSec = (last.lookups - first.lookups) / st.Span.Seconds()
		}
		if d := last.lookups - first.lookups; d > 0 {
			st.HitRatio = (last.hits - first.hits) / d
		} else if n == 1 && last.lookups > 0 {
			st.HitRatio = last.hits / last.lookups
		}
		for _, d := range slices.Sorted(mapsKeys(last.buckets)) {
			st.Latency = append(st.Latency, dialectLatency{d,
				round(quantile(0.5, first.buckets[d], last.buckets[d])*1000, 3),
				round(quantile(0.99, first.buckets[d], last.buckets[d])*1000, 3)})
		}
		if n == 1 {
			for i := range st.Latency {
				d := st.Latency[i].Dialect
				st.Latency[i].P50 = round(quantile(0.5, nil, last.buckets[d])*1000, 3)
				st.Latency[i].P99 = round(quantile(0.99, nil, last.buckets[d])*1000, 3)
			}
		}
		st.Done = last.workflowCount(tenant, "done") - first.workflowCount(tenant, "done")
		st.Retry = last.workflowCount(tenant, "retry") - first.workflowCount(tenant, "retry")
		st.Dead = last.workflowCount(tenant, "failed") - first.workflowCount(tenant, "failed")
		st.Dropped = last.dropped - first.dropped
		for _, k := range slices.Sorted(mapsKeys(last.syncLag)) {
			if tenant == "" || strings.HasPrefix(k, tenant+"/") {
				st.SyncLag = append(st.SyncLag, sourceLag{k, round(last.syncLag[k], 1)})
			}
		}
	}
	// DLQ depth per tenant through the admin API (bounded list).
	for _, t := range c.scope(r) {
		var ans struct{ DeadLetters []deadletter.Letter }
		a := c.call(r, s, http.MethodGet, tenantPath(t, "dead-letters"), url.Values{"limit": {"1000"}}, "", nil)
		tc := tenantCount{Tenant: t}
		if !a.ok() || a.decode(&ans) != nil {
			tc.Error = a.message()
		}
		tc.Count = len(ans.DeadLetters)
		st.DLQ = append(st.DLQ, tc)
	}
	c.renderFragment(w, "overview", "stats", st)
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func (c *Console) renderFragment(w http.ResponseWriter, page, name string, data any) {
	var buf bytes.Buffer
	if err := c.pages[page].ExecuteTemplate(&buf, name, data); err != nil {
		c.deps.Log.Error("console fragment", "page", page, "fragment", name, "err", err)
		http.Error(w, "fragment failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = buf.WriteTo(w)
}

// seriesAnswer is the overview's charts' data: one point per interval
// between consecutive samples (uPlot's columns; null for no data).
type seriesAnswer struct {
	T       []int64    `json:"t"`
	Lookups []*float64 `json:"lookupsPerSec"`
	Hit     []*float64 `json:"hitRatio"`
	P50     []*float64 `json:"p50ms"`
	P99     []*float64 `json:"p99ms"`
	Done    []*float64 `json:"done"`
	Retry   []*float64 `json:"retry"`
	Dead    []*float64 `json:"dead"`
	Dropped []*float64 `json:"dropped"`
}

func num(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func (c *Console) series(w http.ResponseWriter, r *http.Request, _ *session) {
	tenant := c.filter(r)
	ss := c.sampler.samples()
	out := seriesAnswer{}
	for i := 1; i < len(ss); i++ {
		a, b := ss[i-1], ss[i]
		secs := b.at.Sub(a.at).Seconds()
		lookups := b.lookups - a.lookups
		out.T = append(out.T, b.at.Unix())
		out.Lookups = append(out.Lookups, num(lookups/secs))
		out.Hit = append(out.Hit, num((b.hits-a.hits)/lookups))
		out.P50 = append(out.P50, num(quantile(0.5, a.mergedBuckets(""), b.mergedBuckets(""))*1000))
		out.P99 = append(out.P99, num(quantile(0.99, a.mergedBuckets(""), b.mergedBuckets(""))*1000))
		out.Done = append(out.Done, num(b.workflowCount(tenant, "done")-a.workflowCount(tenant, "done")))
		out.Retry = append(out.Retry, num(b.workflowCount(tenant, "retry")-a.workflowCount(tenant, "retry")))
		out.Dead = append(out.Dead, num(b.workflowCount(tenant, "failed")-a.workflowCount(tenant, "failed")))
		out.Dropped = append(out.Dropped, num(b.dropped-a.dropped))
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// --- lookup tester ---

// rankReason says why a match of this kind ranks where it does.
func rankReason(kind string, i int) string {
	switch kind {
	case "exact":
		return fmt.Sprintf("#%d: exact number match; exact matches rank first, newest update first", i+1)
	case "tail":
		return fmt.Sprintf("#%d: last digits match; after every exact match, newest update first", i+1)
	default:
		return fmt.Sprintf("#%d: %s match, newest update first", i+1, kind)
	}
}

func (c *Console) lookupPage(w http.ResponseWriter, r *http.Request, s *session) {
	tenant, number := c.oneTenant(r), strings.TrimSpace(r.FormValue("number"))
	data := map[string]any{"LookupTenant": tenant, "Number": number}
	if number != "" {
		a := c.call(r, s, http.MethodGet, tenantPath(tenant, "lookup"), url.Values{"number": {number}}, "", nil)
		var e ingress.Explanation
		if !a.ok() || a.decode(&e) != nil {
			data["Error"] = "Lookup failed: " + a.message()
		} else {
			type row struct {
				Kind, Reason string
				Contact      events.Contact
			}
			rows := make([]row, len(e.Matches))
			for i, m := range e.Matches {
				rows[i] = row{m.Kind, rankReason(m.Kind, i), m.Contact}
			}
			data["Result"], data["Rows"] = e, rows
		}
	}
	c.render(w, r, http.StatusOK, "lookup", s, data)
}

// --- contacts ---

type found struct {
	Kind    string         `json:"kind"`
	Contact events.Contact `json:"contact"`
}

func (c *Console) contactsPage(w http.ResponseWriter, r *http.Request, s *session) {
	tenant, q := c.oneTenant(r), strings.TrimSpace(r.FormValue("q"))
	data := map[string]any{"ContactsTenant": tenant, "Q": q}
	if q != "" {
		a := c.call(r, s, http.MethodGet, tenantPath(tenant, "contacts"), url.Values{"q": {q}}, "", nil)
		var ans struct{ Contacts []found }
		if !a.ok() || a.decode(&ans) != nil {
			data["Error"] = "Search failed: " + a.message()
		} else {
			type row struct {
				found
				Phones, Emails string
				JSON           string
			}
			rows := make([]row, len(ans.Contacts))
			for i, f := range ans.Contacts {
				var phones []string
				for _, p := range f.Contact.Phones {
					phones = append(phones, p.Raw)
				}
				b, _ := json.MarshalIndent(f.Contact, "", "  ")
				rows[i] = row{f, strings.Join(phones, "\n"), strings.Join(f.Contact.Emails, "\n"), string(b)}
			}
			data["Rows"] = rows
		}
	}
	c.render(w, r, http.StatusOK, "contacts", s, data)
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// saveContact writes a contact through PUT …/contacts/{id}.
func (c *Console) saveContact(w http.ResponseWriter, r *http.Request, s *session) {
	tenant := r.PostFormValue("tenant")
	ct := events.Contact{ID: strings.TrimSpace(r.PostFormValue("id")), Name: r.PostFormValue("name"),
		Company: r.PostFormValue("company"), ContactURI: r.PostFormValue("contactUri"), Emails: lines(r.PostFormValue("emails"))}
	for _, p := range lines(r.PostFormValue("phones")) {
		ct.Phones = append(ct.Phones, events.Phone{Raw: p})
	}
	a := c.callJSON(r, s, http.MethodPut, tenantPath(tenant, "contacts", ct.ID), ct)
	c.done(w, r, s, "/console/contacts", a, "Saved contact "+ct.ID+".")
}

// deleteContact deletes through DELETE …/contacts/{id}?source=.
func (c *Console) deleteContact(w http.ResponseWriter, r *http.Request, s *session) {
	tenant, id := r.PostFormValue("tenant"), r.PostFormValue("id")
	a := c.call(r, s, http.MethodDelete, tenantPath(tenant, "contacts", id), url.Values{"source": {r.PostFormValue("source")}}, "", nil)
	c.done(w, r, s, "/console/contacts", a, "Deleted contact "+id+".")
}

// uploadContacts streams a CSV or NDJSON file to POST …/contacts and
// answers the import's report as a fragment (the page shows the upload's
// progress meanwhile).
func (c *Console) uploadContacts(w http.ResponseWriter, r *http.Request, s *session) {
	tenant := c.filter(r)
	if tenant == "" {
		tenant = r.Header.Get("X-Calldex-Tenant")
	}
	ct := "application/x-ndjson"
	if strings.HasSuffix(strings.ToLower(r.Header.Get("X-Calldex-Filename")), ".csv") || strings.Contains(r.Header.Get("Content-Type"), "csv") {
		ct = "text/csv"
	}
	a := c.call(r, s, http.MethodPost, tenantPath(tenant, "contacts"), nil, ct, r.Body)
	var rep struct {
		Accepted, Rejected int
		Errors             []struct {
			Line   int
			Reason string
		}
		Indexed bool
	}
	data := map[string]any{"Tenant": tenant}
	if !a.ok() || a.decode(&rep) != nil {
		data["Error"] = "Upload failed: " + a.message()
	} else {
		data["Report"] = rep
	}
	c.renderFragment(w, "contacts", "upload-result", data)
}

// --- sources ---

func (c *Console) sourcesPage(w http.ResponseWriter, r *http.Request, s *session) {
	type tenantSources struct {
		Tenant  string
		Sources []crmsync.Status
		Error   string
	}
	var all []tenantSources
	for _, t := range c.scope(r) {
		a := c.call(r, s, http.MethodGet, tenantPath(t, "sources"), nil, "", nil)
		ts := tenantSources{Tenant: t}
		var ans struct{ Sources []crmsync.Status }
		if !a.ok() || a.decode(&ans) != nil {
			ts.Error = a.message()
		}
		ts.Sources = ans.Sources
		all = append(all, ts)
	}
	c.render(w, r, http.StatusOK, "sources", s, map[string]any{"Tenants": all})
}

func (c *Console) resync(w http.ResponseWriter, r *http.Request, s *session) {
	tenant, source := r.PostFormValue("source_tenant"), r.PostFormValue("source")
	a := c.call(r, s, http.MethodPost, tenantPath(tenant, "sources", source, "resync"), nil, "", nil)
	c.done(w, r, s, "/console/sources", a, "Full resync of "+tenant+"/"+source+" requested.")
}

// --- workflows ---

func (c *Console) workflowsPage(w http.ResponseWriter, r *http.Request, s *session) {
	type tenantWorkflows struct {
		Tenant      string
		Runs        []events.WorkflowResult
		DeadLetters []deadletter.Letter
		Error       string
	}
	var all []tenantWorkflows
	for _, t := range c.scope(r) {
		tw := tenantWorkflows{Tenant: t}
		var runs struct{ Runs []events.WorkflowResult }
		if a := c.call(r, s, http.MethodGet, tenantPath(t, "workflows"), nil, "", nil); !a.ok() || a.decode(&runs) != nil {
			tw.Error = "runs: " + a.message()
		}
		var dl struct{ DeadLetters []deadletter.Letter }
		if a := c.call(r, s, http.MethodGet, tenantPath(t, "dead-letters"), nil, "", nil); !a.ok() || a.decode(&dl) != nil {
			tw.Error = strings.TrimPrefix(tw.Error+"; dead letters: "+a.message(), "; ")
		}
		tw.Runs, tw.DeadLetters = runs.Runs, dl.DeadLetters
		all = append(all, tw)
	}
	c.render(w, r, http.StatusOK, "workflows", s, map[string]any{"Tenants": all})
}

func (c *Console) redrive(w http.ResponseWriter, r *http.Request, s *session) {
	tenant := r.PostFormValue("dl_tenant")
	body := map[string]any{"all": true}
	what := "every dead letter of " + tenant
	if id := r.PostFormValue("id"); id != "" {
		n, err := strconv.ParseUint(id, 10, 64)
		if err != nil {
			http.Error(w, "bad dead letter id", http.StatusBadRequest)
			return
		}
		body, what = map[string]any{"ids": []uint64{n}}, "dead letter "+id
	}
	a := c.callJSON(r, s, http.MethodPost, tenantPath(tenant, "dead-letters", "redrive"), body)
	var rep deadletter.Report
	msg := "Redrove " + what + "."
	if a.ok() && a.decode(&rep) == nil {
		msg = fmt.Sprintf("Redrove %d dead letter(s) (%s).", len(rep.Redriven), what)
	}
	c.done(w, r, s, "/console/workflows", a, msg)
}

// --- configuration ---

func (c *Console) configPage(w http.ResponseWriter, r *http.Request, s *session) {
	type tenantConfig struct {
		Tenant   string
		Revision uint64
		YAML     string
		Problems []struct {
			Path, Message string
			Line          int
		}
		Error string
	}
	var all []tenantConfig
	for _, t := range c.scope(r) {
		tc := tenantConfig{Tenant: t}
		var def struct {
			Revision uint64
			Tenant   map[string]any
		}
		if a := c.call(r, s, http.MethodGet, tenantPath(t), nil, "", nil); !a.ok() || a.decode(&def) != nil {
			tc.Error = a.message()
		} else {
			y, _ := yaml.Marshal(def.Tenant)
			tc.YAML, tc.Revision = string(y), def.Revision
		}
		if a := c.call(r, s, http.MethodGet, tenantPath(t, "check"), nil, "", nil); !a.ok() || a.decode(&tc) != nil {
			tc.Error = strings.TrimPrefix(tc.Error+"; check: "+a.message(), "; ")
		}
		all = append(all, tc)
	}
	c.render(w, r, http.StatusOK, "config", s, map[string]any{"Tenants": all})
}
