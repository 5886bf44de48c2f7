package httpcall_test

import (
	"cmp"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/calldex/calldex/workflows/crm"
	"github.com/calldex/calldex/workflows/crm/httpcall"
)

const secret = "s3cr3t-t0ken"

// answer serves one fixed answer and records the request.
type answer struct {
	status int
	header map[string]string
	body   string

	mu       sync.Mutex
	got      *http.Request
	gotBody  string
	requests int
}

func (a *answer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	a.mu.Lock()
	a.got, a.gotBody = r, string(b)
	a.requests++
	a.mu.Unlock()
	for k, v := range a.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(cmp.Or(a.status, http.StatusOK))
	_, _ = w.Write([]byte(a.body))
}

// request returns the last request and its body, and how many came.
func (a *answer) request() (*http.Request, string, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.got, a.gotBody, a.requests
}

func serve(t *testing.T, a *answer) string {
	t.Helper()
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return srv.URL
}

func caller() *httpcall.Caller {
	return &httpcall.Caller{
		Client:  resty.New(),
		Name:    "acme",
		Timeout: 5 * time.Second,
		Auth:    func(r *resty.Request) { r.SetQueryParam("token", secret) },
		Redact:  func(s string) string { return strings.ReplaceAll(s, secret, "REDACTED") },
	}
}

func TestDoSendsTheRequest(t *testing.T) {
	a := &answer{body: `{"id":"7"}`}
	base := serve(t, a)
	var out struct{ ID string }
	q := url.Values{"limit": {"2"}, "token": {"caller's own"}}
	resp, err := caller().Do(context.Background(), "create thing", httpcall.Request{
		Method: http.MethodPost, URL: base + "/things", Query: q, Body: map[string]string{"name": "x"},
	}, &out)
	if err != nil || resp == nil || out.ID != "7" {
		t.Fatalf("Do = %v, %v, out %+v", resp, err, out)
	}
	r, gotBody, _ := a.request()
	if r.Method != http.MethodPost || r.URL.Path != "/things" || r.URL.Query().Get("limit") != "2" {
		t.Errorf("request %s %s", r.Method, r.URL)
	}
	if got := r.URL.Query()["token"]; len(got) != 1 || got[0] != secret {
		t.Errorf("token %q: Auth must come last and win", got)
	}
	if r.Header.Get("Accept") != "application/json" || r.Header.Get("Content-Type") != "application/json" || gotBody != `{"name":"x"}` {
		t.Errorf("headers %v body %s", r.Header, gotBody)
	}
}

func TestDoWithoutBodyOrOut(t *testing.T) {
	a := &answer{body: "not JSON, not read"}
	base := serve(t, a)
	if _, err := caller().Do(context.Background(), "ping", httpcall.Request{Method: http.MethodGet, URL: base}, nil); err != nil {
		t.Fatal(err)
	}
	if r, _, _ := a.request(); r.Header.Get("Content-Type") != "" {
		ct := r.Header.Get("Content-Type")
		t.Errorf("Content-Type %q on a request without body", ct)
	}
}

func TestDoClassifies(t *testing.T) {
	tests := []struct {
		name       string
		a          *answer
		retryAfter func(*resty.Response) time.Duration
		wantErr    error
		permanent  bool
		after      time.Duration
	}{
		{name: "401", a: &answer{status: 401, body: "no " + secret}, wantErr: crm.ErrPermanent, permanent: true},
		{name: "404", a: &answer{status: 404}, wantErr: crm.ErrPermanent, permanent: true},
		{name: "408", a: &answer{status: 408}, wantErr: crm.ErrTransient},
		{name: "429 Retry-After", a: &answer{status: 429, header: map[string]string{"Retry-After": "4"}}, wantErr: crm.ErrTransient, after: 4 * time.Second},
		{name: "429 hook", a: &answer{status: 429, header: map[string]string{"X-Reset": "9"}}, wantErr: crm.ErrTransient, after: 9 * time.Second,
			retryAfter: func(r *resty.Response) time.Duration {
				if r.Header().Get("X-Reset") == "9" {
					return 9 * time.Second
				}
				return 0
			}},
		{name: "500", a: &answer{status: 500, body: `{"error":"` + secret + `"}`}, wantErr: crm.ErrTransient},
		{name: "2xx HTML", a: &answer{header: map[string]string{"Content-Type": "text/html"}, body: "<html>"}, wantErr: crm.ErrTransient},
		{name: "2xx truncated", a: &answer{body: `{"id":"7`}, wantErr: crm.ErrTransient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := serve(t, tt.a)
			c := caller()
			c.RetryAfter = tt.retryAfter
			var out struct{ ID string }
			resp, err := c.Do(context.Background(), "get thing", httpcall.Request{Method: http.MethodGet, URL: base}, &out)
			if !errors.Is(err, tt.wantErr) || crm.IsPermanent(err) != tt.permanent {
				t.Fatalf("err %v, want %v (permanent %v)", err, tt.wantErr, tt.permanent)
			}
			if after, _ := crm.RetryAfter(err); after != tt.after {
				t.Errorf("RetryAfter %s, want %s", after, tt.after)
			}
			if !strings.HasPrefix(err.Error(), "acme get thing: ") || strings.Contains(err.Error(), secret) {
				t.Errorf("error %q must name the operation and not the secret", err)
			}
			if resp == nil || resp.StatusCode() != cmp.Or(tt.a.status, 200) {
				t.Errorf("response %v: want the answer back with the error", resp)
			}
		})
	}
}

func TestDoTransportErrors(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	resp, err := caller().Do(context.Background(), "get thing", httpcall.Request{Method: http.MethodGet, URL: base + "/x"}, nil)
	if resp != nil || !errors.Is(err, crm.ErrTransient) || crm.IsPermanent(err) {
		t.Fatalf("Do = %v, %v; want no response and a transient error", resp, err)
	}
	if strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "token=REDACTED") {
		t.Errorf("error %q leaks or drops the token placeholder", err)
	}

	t.Run("timeout keeps its cause", func(t *testing.T) {
		block := make(chan struct{})
		slow := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-block }))
		t.Cleanup(slow.Close)
		t.Cleanup(func() { close(block) })
		c := caller()
		c.Timeout = 50 * time.Millisecond
		_, err := c.Do(context.Background(), "get thing", httpcall.Request{Method: http.MethodGet, URL: slow.URL}, nil)
		if !errors.Is(err, crm.ErrTransient) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err %v, want transient and DeadlineExceeded", err)
		}
	})
}

func TestDoRefusesAnUnencodableBody(t *testing.T) {
	a := &answer{}
	base := serve(t, a)
	_, err := caller().Do(context.Background(), "send", httpcall.Request{Method: http.MethodPost, URL: base, Body: func() {}}, nil)
	if _, _, n := a.request(); !crm.IsPermanent(err) || n != 0 {
		t.Errorf("err %v after %d requests, want permanent before sending", err, n)
	}
}

func TestCheckClient(t *testing.T) {
	if err := httpcall.CheckClient(resty.New()); err != nil {
		t.Errorf("plain client: %v", err)
	}
	if err := httpcall.CheckClient(nil); err == nil {
		t.Error("accepted a nil client")
	}
	if err := httpcall.CheckClient(resty.New().SetRetryCount(1)); err == nil || !strings.Contains(err.Error(), "RetryCount 1") {
		t.Errorf("retrying client: %v", err)
	}
}

func TestCheckURL(t *testing.T) {
	for u, ok := range map[string]bool{
		"": true, "https://api.example.com": true, "http://10.0.0.1:8080/api/v1": true,
		"api.example.com": false, "ftp://x": false, "https://": false, "://": false,
	} {
		if err := httpcall.CheckURL("baseURL", u); (err == nil) != ok {
			t.Errorf("CheckURL(%q) = %v, want ok=%v", u, err, ok)
		}
	}
}
