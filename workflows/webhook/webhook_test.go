package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/workflows/crm"
	"github.com/calldex/calldex/workflows/webhook"
)

const secret = "test-secret-0123456789"

var call = crm.Call{Key: "0123456789abcdef0123456789abcdef", Tenant: "acme", Workflow: "CallFlow",
	Input: events.CallInput{OriginatorNumber: "41215522000", Direction: "incoming"}}

func newHook(t *testing.T, url string) *webhook.Webhook {
	t.Helper()
	w, err := webhook.New(webhook.Config{URL: url, Secret: secret, Timeout: 2 * time.Second}, resty.New())
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestPostIsSignedAndReturnsResult(t *testing.T) {
	var got webhook.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify(secret, r.Header.Get(webhook.HeaderTimestamp), body, r.Header.Get(webhook.HeaderSignature), time.Minute); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		if r.Header.Get(webhook.HeaderIdempotency) != call.Key || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "headers", http.StatusBadRequest)
			return
		}
		_ = json.Unmarshal(body, &got)
		_, _ = w.Write([]byte(`{"id": 123, "url": "https://crm.example.com/calls/123"}`))
	}))
	t.Cleanup(srv.Close)

	res, err := newHook(t, srv.URL).LogCall(context.Background(), call)
	if err != nil {
		t.Fatalf("LogCall: %v", err)
	}
	if res.ID != "123" || res.URL != "https://crm.example.com/calls/123" {
		t.Fatalf("result = %+v", res)
	}
	want := webhook.Request{Key: call.Key, Tenant: "acme", Workflow: "CallFlow", Action: "logCall", Inputs: call.Input}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("received %+v, want %+v", got, want)
	}
}

func TestStatusesAreClassified(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		retryAfter string
		body       string
		permanent  bool
		wantAfter  time.Duration
		wantResult crm.Result
	}{
		{name: "ok with string id", status: 200, body: `{"id":"a1"}`, wantResult: crm.Result{ID: "a1"}},
		{name: "no content", status: 204},
		{name: "not json", status: 200, body: `thanks`},
		{name: "server error", status: 500},
		{name: "unavailable with retry-after", status: 503, retryAfter: "7", wantAfter: 7 * time.Second},
		{name: "rate limited", status: 429, retryAfter: "2", wantAfter: 2 * time.Second},
		{name: "bad request", status: 400, permanent: true},
		{name: "unauthorized", status: 401, permanent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			res, err := newHook(t, srv.URL).CreateTicket(context.Background(), call)
			switch {
			case tt.status < 300:
				if err != nil || res != tt.wantResult {
					t.Fatalf("= %+v, %v; want %+v", res, err, tt.wantResult)
				}
			case tt.permanent:
				if !crm.IsPermanent(err) {
					t.Fatalf("err = %v, want permanent", err)
				}
			default:
				if err == nil || crm.IsPermanent(err) || !errors.Is(err, crm.ErrTransient) {
					t.Fatalf("err = %v, want transient", err)
				}
				if after, _ := crm.RetryAfter(err); after != tt.wantAfter {
					t.Fatalf("retry after = %s, want %s", after, tt.wantAfter)
				}
			}
		})
	}
}

func TestNoAnswerIsTransient(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err := newHook(t, url).LogMessage(context.Background(), call)
	if err == nil || crm.IsPermanent(err) {
		t.Fatalf("err = %v, want transient", err)
	}
}

func TestConfigValidate(t *testing.T) {
	c := webhook.Config{URL: "ftp://x", Secret: "short"}
	err := c.Validate()
	if err == nil {
		t.Fatal("want errors")
	}
	if n := len(err.(interface{ Unwrap() []error }).Unwrap()); n != 2 {
		t.Fatalf("%d errors, want 2: %v", n, err)
	}
	c = webhook.Config{URL: "https://hooks.example.com/calldex", Secret: secret}
	if err := c.Validate(); err != nil || c.Timeout != webhook.DefaultTimeout {
		t.Fatalf("valid config: %v, timeout %s", err, c.Timeout)
	}
}

func TestParseOptions(t *testing.T) {
	c, err := webhook.ParseOptions(map[string]any{
		"type": "webhook", "url": "https://hooks.example.com/x",
		// An expanded ${SECRET} of digits reaches us as a YAML number.
		"secret": 1234567890123456789, "timeout": "3s", "headers": map[string]any{"X-Api-Key": "k", "X-Team": 7},
	})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if c.Secret != "1234567890123456789" || c.Timeout != 3*time.Second || c.Headers["X-Api-Key"] != "k" || c.Headers["X-Team"] != "7" {
		t.Fatalf("config = %+v", c)
	}
	_, err = webhook.ParseOptions(map[string]any{"url": "u", "tiemout": "3s", "headers": "x"})
	if err == nil || !strings.Contains(err.Error(), "tiemout") || !strings.Contains(err.Error(), "headers") {
		t.Fatalf("err = %v, want both problems", err)
	}
}
