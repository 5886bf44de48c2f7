package ingress_test

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	_ "modernc.org/sqlite"

	"github.com/calldex/calldex/services/internal/ingress"
	"github.com/calldex/calldex/shared/natstest"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/shared/testwait"
	"github.com/calldex/calldex/workflows/connectors"
	"github.com/calldex/calldex/workflows/dispatch"
	"github.com/calldex/calldex/workflows/worker"
)

const workflowConfig = `
admin:
  token: admin-secret-token
tenants:
  - id: acme
    region: CH
    workflowWait: 3s
    credentials:
      - header: X-Execution-Token
        value: acme-token-123
    crmActions: [CallFlow, Ticket, Slow]
    automatic: [CallFlow]
    workflows:
      CallFlow: {action: logCall, connector: crm}
      Ticket: {action: createTicket, connector: crm}
      Slow: {action: logCall, connector: slow}
      Hidden: {action: logCall, connector: crm}   # configured, not offered
    connectors:
      crm: {type: sql, driver: sqlite, dsn: "${TEST_DIR}/crm.sqlite", urlTemplate: "https://crm.example.com/calls/{id}"}
      slow: {type: webhook, url: "http://127.0.0.1:1/never", secret: "webhook-secret-1"}
`

const call = `{"inputs":{"contactCrmId":"c-1","userCrmId":"u-1","originatorNumber":"41215522000","destinationNumber":"41215550000","direction":"incoming","startedTime":"2026-01-05T10:00:00Z","answeredTime":"2026-01-05T10:00:05Z","endedTime":"2026-01-05T10:03:05Z","declinedTime":""}}`

type workflowHarness struct {
	*harness
	db *sql.DB
}

// newWorkflowHarness runs the ingress with the real dispatcher and an
// in-process worker logging calls into SQLite.
func newWorkflowHarness(t *testing.T, env *natstest.Env) *workflowHarness {
	t.Helper()
	var reg *tenant.Registry
	var dsn string
	h := newHarnessWith(t, workflowConfig, env, func(d *ingress.Deps) {
		disp := dispatch.New(env.JS, env.Buckets.WorkflowResults, env.Topology, dispatch.WithPublishTimeout(500*time.Millisecond))
		t.Cleanup(func() { disp.Close() })
		d.Workflows = disp
		reg = d.Tenants
		acme, _ := reg.Tenant("acme")
		dsn = acme.Connectors["crm"].Options["dsn"].(string)
	})
	f, err := connectors.New(connectors.Config{}, connectors.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	acme, _ := reg.Tenant("acme")
	// Building the connector migrates the CRM schema the test reads.
	if _, err := f.Connector(context.Background(), "acme", "crm", acme.Connectors["crm"]); err != nil {
		t.Fatal(err)
	}
	conn, err := nats.Connect(env.URL, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	w, err := worker.New(worker.Config{Topology: env.Topology}, worker.Deps{Conn: conn, JS: env.JS, Results: env.Buckets.WorkflowResults,
		Tenants: reg, Connectors: f, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var runErr error
	go func() { runErr = w.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		// A worker that gave up would leave workflows accepted forever.
		if runErr != nil {
			t.Errorf("worker: %v", runErr)
		}
	})
	// The worker writes while the test reads: wait for its lock, as the
	// connector does, instead of failing with SQLITE_BUSY.
	db, err := sql.Open("sqlite", dsn+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &workflowHarness{harness: h, db: db}
}

func (h *workflowHarness) rows(t *testing.T) int {
	t.Helper()
	var n int
	if err := h.db.QueryRow(`SELECT COUNT(*) FROM call_logs`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCallFlowLogsOnceAndAnswersIDAndURL(t *testing.T) {
	h := newWorkflowHarness(t, natstest.Connect(t))
	tok := []string{"X-Execution-Token", "acme-token-123"}
	r := h.do("POST", "/peoplefone/CallFlow", call, tok...)
	var got struct{ ID, URL string }
	r.json(t, &got)
	if r.Status != 200 || got.ID == "" || got.URL != "https://crm.example.com/calls/"+got.ID {
		t.Fatalf("CallFlow: %d %s", r.Status, r.Body)
	}
	// The answer names its status resource, which shows the same result.
	loc := r.Header.Get("Location")
	var st struct{ Status, ID, URL string }
	if sr := h.do("GET", loc, "", tok...); !strings.HasPrefix(loc, "/peoplefone/workflows/") || sr.Status != 200 {
		t.Fatalf("Location %q: %d %s", loc, sr.Status, sr.Body)
	} else if sr.json(t, &st); st.Status != "done" || st.ID != got.ID || st.URL != got.URL {
		t.Fatalf("status resource %s: %s, answer %s", loc, sr.Body, r.Body)
	}
	again := h.do("POST", "/peoplefone/CallFlow", call, tok...)
	if again.Status != 200 || string(again.Body) != string(r.Body) {
		t.Fatalf("same request again: %d %s, first %s", again.Status, again.Body, r.Body)
	}
	if n := h.rows(t); n != 1 {
		t.Fatalf("%d call_logs rows, want 1", n)
	}
	var direction string
	var duration int
	var answered bool
	if err := h.db.QueryRow(`SELECT direction, duration_seconds, answered FROM call_logs`).Scan(&direction, &duration, &answered); err != nil {
		t.Fatal(err)
	}
	if direction != "incoming" || duration != 180 || !answered {
		t.Fatalf("row: %s %d %v", direction, duration, answered)
	}
	// A ticket is a separate workflow: its own effect.
	if r := h.do("POST", "/peoplefone/Ticket", call, tok...); r.Status != 200 {
		t.Fatalf("Ticket: %d %s", r.Status, r.Body)
	}
}

func TestWorkflowValidation(t *testing.T) {
	h := newWorkflowHarness(t, natstest.Connect(t))
	tok := []string{"X-Execution-Token", "acme-token-123"}
	tests := []struct {
		name, path, body string
		want             int
		fields           []string
	}{
		{"unknown workflow", "/peoplefone/Nope", call, 404, nil},
		{"a workflow crmActions does not offer", "/peoplefone/Hidden", call, 404, nil},
		{"malformed JSON", "/peoplefone/CallFlow", `{"inputs":`, 400, nil},
		{"no inputs", "/peoplefone/CallFlow", `{}`, 400, []string{"inputs"}},
		{"every bad field named", "/peoplefone/CallFlow", `{"inputs":{"direction":"sideways","startedTime":"yesterday","endedTime":"2026-13-45T99:00:00Z"}}`, 400, []string{"direction", "endedTime", "startedTime"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do("POST", tt.path, tt.body, tok...)
			if r.Status != tt.want {
				t.Fatalf("got %d %s, want %d", r.Status, r.Body, tt.want)
			}
			if tt.fields != nil {
				var e struct{ Error struct{ Fields []string } }
				r.json(t, &e)
				if strings.Join(e.Error.Fields, ",") != strings.Join(tt.fields, ",") {
					t.Fatalf("fields = %v, want %v", e.Error.Fields, tt.fields)
				}
			}
		})
	}
	if n := h.rows(t); n != 0 {
		t.Fatalf("refused requests ran: %d rows", n)
	}
}

func TestSlowWorkflowAnswers202WithStatusResource(t *testing.T) {
	h := newWorkflowHarness(t, natstest.Connect(t))
	tok := []string{"X-Execution-Token", "acme-token-123"}
	// The "slow" connector's URL refuses connections: a transient failure,
	// retried, so the run is still going when the wait ends.
	r := h.do("POST", "/peoplefone/Slow", call, tok...)
	loc := r.Header.Get("Location")
	if r.Status != http.StatusAccepted || strings.TrimSpace(string(r.Body)) != "{}" || !strings.HasPrefix(loc, "/peoplefone/workflows/") {
		t.Fatalf("got %d %s, Location %q", r.Status, r.Body, loc)
	}
	st := h.do("GET", loc, "", tok...)
	var res struct {
		Status    string
		Attempts  int
		LastError string
		Tenant    string
	}
	st.json(t, &res)
	if st.Status != 200 || res.Tenant != "acme" || res.Status == "done" || res.Attempts < 1 || res.LastError == "" {
		t.Fatalf("status: %d %s", st.Status, st.Body)
	}
	if r := h.do("GET", "/peoplefone/workflows/0123456789abcdef0123456789abcdef", "", tok...); r.Status != 404 {
		t.Fatalf("unknown run: %d %s", r.Status, r.Body)
	}
}

func TestCallEventRunsAutomaticCallFlow(t *testing.T) {
	h := newWorkflowHarness(t, natstest.Connect(t))
	h.putContact("acme", alexa())
	tok := []string{"X-Execution-Token", "acme-token-123"}
	ended := `{"event":"ended","callId":"call-42","direction":"incoming","originatorNumber":"41215522000","destinationNumber":"41215550000","startedTime":"2026-01-05T10:00:00Z","answeredTime":"2026-01-05T10:00:05Z","endedTime":"2026-01-05T10:01:05Z"}`
	r := h.do("POST", "/events/calls", ended, tok...)
	var got struct{ Workflows map[string]string }
	r.json(t, &got)
	if r.Status != http.StatusAccepted || got.Workflows["CallFlow"] == "" {
		t.Fatalf("call event: %d %s", r.Status, r.Body)
	}
	// Sent twice (a retrying PBX): still one run.
	h.do("POST", "/events/calls", ended, tok...)
	testwait.Until(t, 5*time.Second, "the CallFlow row", func() bool { return h.rows(t) > 0 })
	var n int
	var contact string
	if err := h.db.QueryRow(`SELECT COUNT(*), MAX(contact_crm_id) FROM call_logs`).Scan(&n, &contact); err != nil {
		t.Fatal(err)
	}
	if n != 1 || contact != "c-1" {
		t.Fatalf("%d rows, contact %q: want one CallFlow for the matched contact", n, contact)
	}
	if r := h.do("POST", "/events/calls", `{"event":"hangup","callId":"","direction":"in"}`, tok...); r.Status != 400 {
		t.Fatalf("bad event: %d %s", r.Status, r.Body)
	}
}

func TestWorkflowWhileNATSIsDown(t *testing.T) {
	srv := natstest.Embedded(t)
	h := newWorkflowHarness(t, srv.Connect())
	tok := []string{"X-Execution-Token", "acme-token-123"}
	srv.Stop()
	r := h.do("POST", "/peoplefone/CallFlow", call, tok...)
	if r.Status != http.StatusServiceUnavailable || r.errorCode(t) != "workflow_store_unavailable" {
		t.Fatalf("NATS down: %d %s", r.Status, r.Body)
	}
	// Lookups do not depend on NATS.
	if r := h.peoplefone("41215522000"); r.Status != 200 {
		t.Fatalf("lookup while NATS is down: %d %s", r.Status, r.Body)
	}
	srv.Start()
	testwait.Until(t, 10*time.Second, "a CallFlow to succeed after the restart", func() bool {
		r = h.do("POST", "/peoplefone/CallFlow", call, tok...)
		return r.Status == 200
	})
	if n := h.rows(t); n != 1 {
		t.Fatalf("%d rows, want 1", n)
	}
}
