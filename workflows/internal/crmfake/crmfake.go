// Package crmfake is the contract fake of the HTTP CRM connectors' tests: an
// httptest server that plays a script of a CRM's documented exchanges, in
// order, checking each request's credentials, method, path, query and JSON
// body, and answering the CRM's documented example payloads recorded as
// fixtures in the test package's testdata/ (whose README names the doc page
// of each). The test fails on any request off the script and on any
// scripted exchange left unused.
package crmfake

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/workflows/crm"
	"github.com/calldex/calldex/workflows/crm/crmtest"
)

// Exchange is one expected request and the answer to it.
type Exchange struct {
	Method, Path string
	// Query holds expected query values; "" expects the parameter absent
	// (or empty). Parameters not named are not checked.
	Query map[string]string
	// WantBody names the fixture the request's JSON body must equal (as
	// JSON values: key order and spacing do not matter).
	WantBody string
	// Check, when set, checks what WantBody cannot (one field of a body,
	// a body built at run time).
	Check func(t testing.TB, r *http.Request, body []byte)

	// Status of the answer; 0 is 200.
	Status int
	// Header is set on the answer, after Options.Header.
	Header map[string]string
	// Answer names the fixture served as the body, with Options.ContentType
	// unless Header sets a Content-Type; Raw is served when Answer is empty.
	Answer string
	Raw    []byte

	// Failure, when set, makes this exchange accept any request and answer
	// it as a CRM failing that way (crmtest.ServeFailure); the fields
	// above are then unused. Server.Fail scripts one.
	Failure crmtest.Outcome
}

// Options adapt the fake to one CRM.
type Options struct {
	// Auth checks the credentials of every request (WantHeader,
	// WantQuery); nil checks none.
	Auth func(t testing.TB, r *http.Request)
	// Header is set on every answer: what the CRM always sends, such as
	// rate limit headers a connector may read.
	Header map[string]string
	// ContentType of fixture answers; default "application/json".
	ContentType string
}

// Server is a running fake. It is closed when the test ends.
type Server struct {
	// URL is the fake's root, without trailing slash.
	URL string

	t      testing.TB
	opts   Options
	srv    *httptest.Server
	mu     sync.Mutex
	script []Exchange
	served int
}

// New starts a fake that expects exactly script, in order.
func New(t testing.TB, opts Options, script ...Exchange) *Server {
	t.Helper()
	if opts.ContentType == "" {
		opts.ContentType = "application/json"
	}
	s := &Server{t: t, opts: opts, script: script}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	t.Cleanup(func() {
		s.srv.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.served != len(s.script) {
			t.Errorf("fake served %d of %d scripted exchanges", s.served, len(s.script))
		}
	})
	return s
}

// Close stops the fake early, so that a test can see what a connector does
// when nothing answers.
func (s *Server) Close() { s.srv.Close() }

// Add appends exchanges to the script, for a test that arranges the CRM's
// answers call by call.
func (s *Server) Add(script ...Exchange) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = append(s.script, script...)
}

// Fail makes the CRM fail the next request as o: an HTTP failure is
// scripted as the next exchange; Unreachable closes the fake.
func (s *Server) Fail(o crmtest.Outcome) {
	if o == crmtest.Unreachable {
		s.Close()
		return
	}
	s.Add(Exchange{Failure: o})
}

// serve runs on the server's goroutines: it reports with Errorf only, since
// Fatalf must be called from the test's goroutine.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	t := s.t
	s.mu.Lock()
	if s.served >= len(s.script) {
		s.mu.Unlock()
		t.Errorf("unexpected request %s %s", r.Method, r.URL)
		http.Error(w, "unexpected", http.StatusTeapot)
		return
	}
	ex := s.script[s.served]
	s.served++
	s.mu.Unlock()

	if ex.Failure != 0 {
		if !crmtest.ServeFailure(w, r, ex.Failure) {
			t.Errorf("%s is no HTTP answer", ex.Failure)
			http.Error(w, "unexpected", http.StatusTeapot)
		}
		return
	}

	if s.opts.Auth != nil {
		s.opts.Auth(t, r)
	}
	if r.Method != ex.Method || r.URL.Path != ex.Path {
		t.Errorf("request %s %s, want %s %s", r.Method, r.URL.Path, ex.Method, ex.Path)
	}
	for k, v := range ex.Query {
		if got := r.URL.Query().Get(k); got != v {
			t.Errorf("%s %s: query %s=%q, want %q", r.Method, r.URL.Path, k, got, v)
		}
	}
	body, _ := io.ReadAll(r.Body)
	if len(body) > 0 && r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("%s %s: Content-Type %q", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
	}
	if ex.WantBody != "" {
		want, err := readFixture(ex.WantBody)
		if err != nil {
			t.Errorf("fixture: %v", err)
		} else if msg := jsonDiff(body, want); msg != "" {
			t.Errorf("%s %s: %s", r.Method, r.URL.Path, msg)
		}
	}
	if ex.Check != nil {
		ex.Check(t, r, body)
	}

	for k, v := range s.opts.Header {
		w.Header().Set(k, v)
	}
	for k, v := range ex.Header {
		w.Header().Set(k, v)
	}
	out := ex.Raw
	if ex.Answer != "" {
		var err error
		if out, err = readFixture(ex.Answer); err != nil {
			t.Errorf("fixture: %v", err)
			http.Error(w, "missing fixture", http.StatusTeapot)
			return
		}
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", s.opts.ContentType)
		}
	}
	status := ex.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

// WantHeader is an Options.Auth that expects header name to be value
// (a bearer token, an API key header).
func WantHeader(name, value string) func(testing.TB, *http.Request) {
	return func(t testing.TB, r *http.Request) {
		if got := r.Header.Get(name); got != value {
			t.Errorf("%s %s: header %s %q, want %q", r.Method, r.URL.Path, name, got, value)
		}
	}
}

// WantQuery is an Options.Auth that expects query parameter name to be
// value (a token sent in the URL).
func WantQuery(name, value string) func(testing.TB, *http.Request) {
	return func(t testing.TB, r *http.Request) {
		if got := r.URL.Query().Get(name); got != value {
			t.Errorf("%s %s: query %s %q, want %q", r.Method, r.URL.Path, name, got, value)
		}
	}
}

// Fixture returns the test package's testdata/name.
func Fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := readFixture(name)
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return b
}

func readFixture(name string) ([]byte, error) {
	return os.ReadFile(filepath.Join("testdata", name))
}

// jsonDiff describes how the JSON request body got differs from the
// fixture want, or returns "" when they are equal as JSON values.
func jsonDiff(got, want []byte) string {
	var g, w any
	if err := json.Unmarshal(want, &w); err != nil {
		return fmt.Sprintf("fixture is not JSON: %v", err)
	}
	if err := json.Unmarshal(got, &g); err != nil {
		return fmt.Sprintf("request body is not JSON: %v: %s", err, got)
	}
	if reflect.DeepEqual(g, w) {
		return ""
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	return fmt.Sprintf("request body\n got: %s\nwant: %s", gb, wb)
}

// AssertFailure checks how a connector classified a failure: err is want
// (crm.ErrPermanent or crm.ErrTransient), permanent exactly when want is,
// and carries the CRM's Retry-After delay after (0: none). Retries are
// decided on these alone, so every connector must get them right.
func AssertFailure(t testing.TB, err, want error, after time.Duration) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err %v, want %v", err, want)
	}
	if permanent := want == crm.ErrPermanent; crm.IsPermanent(err) != permanent {
		t.Errorf("IsPermanent = %v, want %v (err %v)", !permanent, permanent, err)
	}
	if got, ok := crm.RetryAfter(err); got != after || ok != (after > 0) {
		t.Errorf("RetryAfter = %s, %v; want %s, %v", got, ok, after, after > 0)
	}
}

// SetNow fixes crm.Now for the rest of the test. Tests that use it must not
// run in parallel: crm.Now is one variable.
func SetNow(t testing.TB, now time.Time) {
	t.Helper()
	old := crm.Now
	crm.Now = func() time.Time { return now }
	t.Cleanup(func() { crm.Now = old })
}

// AssertContacts compares contacts field by field, every field of
// events.Contact (a field added later is compared too), so that a failure
// names what differs. Times must be the same instant in the same location:
// connectors hand out UTC.
func AssertContacts(t testing.TB, got, want []events.Contact) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d contacts, want %d: %+v", len(got), len(want), got)
	}
	typ := reflect.TypeFor[events.Contact]()
	for i := range want {
		g, w := reflect.ValueOf(got[i]), reflect.ValueOf(want[i])
		for f := range typ.NumField() {
			gf, wf := g.Field(f).Interface(), w.Field(f).Interface()
			if gt, ok := gf.(time.Time); ok {
				wt := wf.(time.Time)
				if !gt.Equal(wt) || gt.Location() != wt.Location() {
					t.Errorf("contact %d %s = %s, want %s", i, typ.Field(f).Name, gt, wt)
				}
				continue
			}
			if !reflect.DeepEqual(gf, wf) {
				t.Errorf("contact %d %s = %#v, want %#v", i, typ.Field(f).Name, gf, wf)
			}
		}
	}
}

// Answers are the exchanges that make a CRM answer one call of the
// conformance suite with an outcome, by operation and outcome.
type Answers map[crmtest.Op]map[crmtest.Outcome][]Exchange

// Arrange is a crmtest.Subject's Arrange on s: it scripts a failure with
// Fail, and a success with its exchanges from answers.
func Arrange(s *Server, answers Answers) func(t *testing.T, op crmtest.Op, o crmtest.Outcome) {
	return func(t *testing.T, op crmtest.Op, o crmtest.Outcome) {
		t.Helper()
		if slices.Contains(crmtest.HTTPFailures, o) {
			s.Fail(o)
			return
		}
		script, ok := answers[op][o]
		if !ok {
			t.Fatalf("no answer scripted for %s %s", op, o)
		}
		s.Add(script...)
	}
}
