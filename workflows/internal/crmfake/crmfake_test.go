package crmfake_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/workflows/crm"
	"github.com/calldex/calldex/workflows/internal/crmfake"
)

// recorder is a testing.TB that keeps the failures it is told of, so that a
// test can check the fake reports what it must.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	errors []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	r.TB.SkipNow() // stop the subtest, as Fatalf would, without failing it
}

func (r *recorder) failures() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.errors, "\n")
}

func send(t *testing.T, method, url, contentType, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Authorization", "Bearer t0k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// run plays script on a fake reporting to a recorder, sends what do sends,
// and returns the failures reported, those at cleanup included.
func run(t *testing.T, opts crmfake.Options, script []crmfake.Exchange, do func(t *testing.T, url string)) string {
	t.Helper()
	rec := &recorder{}
	t.Run("play", func(t *testing.T) {
		rec.TB = t
		f := crmfake.New(rec, opts, script...)
		do(t, f.URL)
	})
	return rec.failures()
}

func TestServesTheScript(t *testing.T) {
	var checked atomic.Bool
	opts := crmfake.Options{Auth: crmfake.WantHeader("Authorization", "Bearer t0k"), Header: map[string]string{"X-Limit": "40"}}
	script := []crmfake.Exchange{
		{Method: "POST", Path: "/things", Query: map[string]string{"limit": "2", "after": ""}, WantBody: "request.json",
			Check:  func(testing.TB, *http.Request, []byte) { checked.Store(true) },
			Status: http.StatusCreated, Header: map[string]string{"X-Limit": "39"}, Answer: "answer.json"},
		{Method: "GET", Path: "/things/512", Raw: []byte("plain")},
	}
	failures := run(t, opts, script, func(t *testing.T, url string) {
		resp := send(t, "POST", url+"/things?limit=2", "application/json", `{"tags":["a","b"],"name":"Jane Doe"}`)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusCreated || resp.Header.Get("X-Limit") != "39" ||
			resp.Header.Get("Content-Type") != "application/json" || !bytes.Equal(body, crmfake.Fixture(t, "answer.json")) {
			t.Errorf("answer %d %v %s", resp.StatusCode, resp.Header, body)
		}
		resp = send(t, "GET", url+"/things/512", "", "")
		body, _ = io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Limit") != "40" || string(body) != "plain" {
			t.Errorf("answer %d %v %s", resp.StatusCode, resp.Header, body)
		}
	})
	if failures != "" || !checked.Load() {
		t.Errorf("a request that follows the script: failures %q, Check ran %v", failures, checked.Load())
	}
}

func TestReportsWhatDiffers(t *testing.T) {
	post := crmfake.Exchange{Method: "POST", Path: "/things", Query: map[string]string{"limit": "2"}, WantBody: "request.json"}
	good := `{"name":"Jane Doe","tags":["a","b"]}`
	tests := []struct {
		name   string
		opts   crmfake.Options
		script []crmfake.Exchange
		do     func(t *testing.T, url string)
		want   string
	}{
		{"method", crmfake.Options{}, []crmfake.Exchange{post},
			func(t *testing.T, url string) { send(t, "PUT", url+"/things?limit=2", "application/json", good) }, "request PUT /things, want POST /things"},
		{"path", crmfake.Options{}, []crmfake.Exchange{post},
			func(t *testing.T, url string) { send(t, "POST", url+"/thing?limit=2", "application/json", good) }, "want POST /things"},
		{"query", crmfake.Options{}, []crmfake.Exchange{post},
			func(t *testing.T, url string) { send(t, "POST", url+"/things?limit=3", "application/json", good) }, `query limit="3", want "2"`},
		{"body", crmfake.Options{}, []crmfake.Exchange{post},
			func(t *testing.T, url string) {
				send(t, "POST", url+"/things?limit=2", "application/json", `{"name":"Jane Doe","tags":["b","a"]}`)
			}, "request body\n got:"},
		{"body not JSON", crmfake.Options{}, []crmfake.Exchange{post},
			func(t *testing.T, url string) {
				send(t, "POST", url+"/things?limit=2", "application/json", "name=Jane")
			}, "request body is not JSON"},
		{"content type", crmfake.Options{}, []crmfake.Exchange{post},
			func(t *testing.T, url string) { send(t, "POST", url+"/things?limit=2", "text/plain", good) }, `Content-Type "text/plain"`},
		{"credentials", crmfake.Options{Auth: crmfake.WantQuery("api_token", "secret")}, []crmfake.Exchange{{Method: "GET", Path: "/"}},
			func(t *testing.T, url string) { send(t, "GET", url+"/?api_token=wrong", "", "") }, `query api_token "wrong", want "secret"`},
		{"missing fixture", crmfake.Options{}, []crmfake.Exchange{{Method: "GET", Path: "/", Answer: "nope.json"}},
			func(t *testing.T, url string) {
				if resp := send(t, "GET", url+"/", "", ""); resp.StatusCode != http.StatusTeapot {
					t.Errorf("status %d, want 418", resp.StatusCode)
				}
			}, "fixture: open testdata/nope.json"},
		{"request off the script", crmfake.Options{}, nil,
			func(t *testing.T, url string) { send(t, "GET", url+"/extra", "", "") }, "unexpected request GET /extra"},
		{"exchange left unused", crmfake.Options{}, []crmfake.Exchange{{Method: "GET", Path: "/"}, {Method: "GET", Path: "/"}},
			func(t *testing.T, url string) { send(t, "GET", url+"/", "", "") }, "fake served 1 of 2 scripted exchanges"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := run(t, tt.opts, tt.script, tt.do); !strings.Contains(got, tt.want) {
				t.Errorf("failures %q, want one saying %q", got, tt.want)
			}
		})
	}
}

func TestSetNow(t *testing.T) {
	at := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	t.Run("set", func(t *testing.T) {
		crmfake.SetNow(t, at)
		if got := crm.Now(); !got.Equal(at) {
			t.Errorf("crm.Now() = %s, want %s", got, at)
		}
	})
	if crm.Now().Equal(at) {
		t.Error("crm.Now not restored when the test ended")
	}
}

func TestAssertContacts(t *testing.T) {
	at := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	want := events.Contact{ID: "1", Name: "Jane", Phones: []events.Phone{{Raw: "+41215522000"}}, UpdatedAt: at}
	tests := []struct {
		name string
		got  events.Contact
		want string
	}{
		{"equal", want, ""},
		{"a field listed nowhere else", func() events.Contact { c := want; c.Routing.DirectLine = "12"; return c }(), "contact 0 Routing"},
		{"same instant, other zone", func() events.Contact { c := want; c.UpdatedAt = at.In(time.FixedZone("CEST", 7200)); return c }(), "contact 0 UpdatedAt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{TB: t}
			crmfake.AssertContacts(rec, []events.Contact{tt.got}, []events.Contact{want})
			if got := rec.failures(); (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("failures %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAssertFailure(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name  string
		err   error
		want  error
		after time.Duration
		fails string
	}{
		{"permanent", crm.Permanent(boom), crm.ErrPermanent, 0, ""},
		{"transient", crm.Transient(boom), crm.ErrTransient, 0, ""},
		{"retry after", &crm.RetryAfterError{After: time.Second, Err: boom}, crm.ErrTransient, time.Second, ""},
		{"no error", nil, crm.ErrTransient, 0, "err <nil>, want"},
		{"other class", crm.Transient(boom), crm.ErrPermanent, 0, "want permanent CRM failure"},
		{"both classes", crm.Permanent(crm.Transient(boom)), crm.ErrPermanent, 0, "IsPermanent = false, want true"},
		{"unexpected delay", &crm.RetryAfterError{After: time.Second, Err: boom}, crm.ErrTransient, 0, "RetryAfter = 1s, true; want 0s, false"},
		{"missing delay", crm.Transient(boom), crm.ErrTransient, 2 * time.Second, "RetryAfter = 0s, false; want 2s, true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			t.Run("assert", func(t *testing.T) {
				rec.TB = t
				crmfake.AssertFailure(rec, tt.err, tt.want, tt.after)
			})
			if got := rec.failures(); (tt.fails == "") != (got == "") || !strings.Contains(got, tt.fails) {
				t.Errorf("failures %q, want %q", got, tt.fails)
			}
		})
	}
}
