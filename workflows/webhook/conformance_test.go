package webhook_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/workflows/crm"
	"github.com/calldex/calldex/workflows/crm/crmtest"
	"github.com/calldex/calldex/workflows/webhook"
)

// receiver is a webhook receiver as the package documents one: it checks
// the signature, and makes one effect per idempotency key, answering the
// same result when a key comes again. fail, when set, is how it answers
// the next request.
type receiver struct {
	t       *testing.T
	mu      sync.Mutex
	results map[string]string
	fail    crmtest.Outcome
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	fail := rc.fail
	rc.fail = 0
	rc.mu.Unlock()
	if fail != 0 && crmtest.ServeFailure(w, r, fail) {
		return
	}
	body, _ := io.ReadAll(r.Body)
	if err := webhook.Verify(secret, r.Header.Get(webhook.HeaderTimestamp), body, r.Header.Get(webhook.HeaderSignature), time.Minute); err != nil {
		rc.t.Errorf("signature: %v", err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	key := r.Header.Get(webhook.HeaderIdempotency)
	rc.mu.Lock()
	id, ok := rc.results[key]
	if !ok || key == "" {
		id = fmt.Sprint(len(rc.results) + 1)
		rc.results[key] = id
	}
	rc.mu.Unlock()
	_, _ = fmt.Fprintf(w, `{"id": %q, "url": "https://crm.example.com/calls/%s"}`, id, id)
}

// TestConformance runs the CRM connector suite against a receiver.
func TestConformance(t *testing.T) {
	crmtest.Run(t, func(t *testing.T) crmtest.Subject {
		rc := &receiver{t: t, results: map[string]string{}}
		srv := httptest.NewServer(rc)
		t.Cleanup(srv.Close)
		return crmtest.Subject{
			Connector: newHook(t, srv.URL),
			Data: crmtest.Data{Call: call, Disposition: crm.Call{Key: "fedcba9876543210fedcba9876543210", Tenant: "acme", Workflow: "CallDisposition",
				Input: events.CallInput{CallID: "s-1", LogID: "1", Dispositions: map[string]string{"outcome": "Qualified lead"}}}},
			Arrange: func(t *testing.T, _ crmtest.Op, o crmtest.Outcome) {
				switch o {
				case crmtest.Created, crmtest.Repeated: // the receiver keeps its results
				case crmtest.Unreachable:
					srv.Close()
				default:
					rc.mu.Lock()
					rc.fail = o
					rc.mu.Unlock()
				}
			},
			Failures: crmtest.HTTPFailures,
		}
	})
}
