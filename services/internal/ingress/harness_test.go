package ingress_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/routers"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/services/internal/ingress"
	"github.com/calldex/calldex/services/internal/openapitest"
	"github.com/calldex/calldex/shared/contact"
	"github.com/calldex/calldex/shared/eventpub"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/lookup"
	"github.com/calldex/calldex/shared/metrics"
	"github.com/calldex/calldex/shared/natstest"
	"github.com/calldex/calldex/shared/phone"
	"github.com/calldex/calldex/shared/projector"
	"github.com/calldex/calldex/shared/tenant"
)

const testConfig = `
admin:
  token: admin-secret-token
tenants:
  - id: acme
    region: CH
    maxResults: 3
    credentials:
      - header: X-Execution-Token
        value: acme-token-123
      - query: token
        value: acme-query-token
    connectors:
      hubspot: {type: hubspot, token: x, portalId: 1}
  - id: globex
    region: US
    credentials:
      - header: X-Api-Key
        value: globex-key-456
    allowedCIDRs: [10.9.0.0/16]
`

// harness is an ingress with real NATS JetStream, a running projector and
// an in-process index; every response it sees is checked against the
// OpenAPI document.
type harness struct {
	t      *testing.T
	server *ingress.Server
	srv    *httptest.Server
	nats   *natstest.Env
	client *http.Client
}

func newHarness(t *testing.T, mutate ...func(*ingress.Deps)) *harness {
	t.Helper()
	return newHarnessWith(t, testConfig, natstest.Connect(t), mutate...)
}

// newHarnessWith builds a harness on a given config and NATS.
func newHarnessWith(t *testing.T, config string, env *natstest.Env, mutate ...func(*ingress.Deps)) *harness {
	t.Helper()
	cfg, err := tenant.Parse([]byte(config), func(k string) (string, bool) {
		if k == "TEST_DIR" {
			return t.TempDir(), true
		}
		return "", false
	})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	reg := tenant.NewRegistry(cfg)
	idx := index.NewMemory()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	proj, err := projector.New(projector.Config{Topology: env.Topology}, env.JS, idx, regOptions{reg}, &projector.Memory{}, log)
	if err != nil {
		t.Fatal(err)
	}
	go proj.Run(ctx)
	m := metrics.New()
	pub := eventpub.New(env.JS, 1024, m.EventsDropped.WithLabelValues("CALLS"), m.EventsFailed.WithLabelValues("CALLS"), log)
	go pub.Run(ctx)
	deps := ingress.Deps{
		Config: cfg, Tenants: reg, Lookup: lookup.NewRecorder(lookup.New(idx), m, pub, env.Topology, log),
		Contacts: contact.NewPublisher(env.JS, env.Topology), Projection: proj,
		JS: env.JS, Topology: env.Topology, Metrics: m, Log: log,
	}
	for _, f := range mutate {
		f(&deps)
	}
	s, err := ingress.New(deps)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return &harness{t: t, server: s, srv: srv, nats: env, client: &http.Client{Transport: &openapitest.Transport{T: t, Router: openAPIRouter(t)}, Timeout: 10 * time.Second}}
}

type regOptions struct{ reg *tenant.Registry }

func (r regOptions) PhoneOptions(id string) (phone.Options, bool) {
	t, ok := r.reg.Tenant(id)
	if !ok {
		return phone.Options{}, false
	}
	return t.PhoneOptions(), true
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("response %d is not JSON: %v: %s", r.Status, err, r.Body)
	}
}

// errorCode returns the code of a JSON error answer.
func (r response) errorCode(t *testing.T) string {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string }
	}
	r.json(t, &e)
	return e.Error.Code
}

func (h *harness) do(method, path string, body string, header ...string) response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if body != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// putContact stores a contact through the admin API and waits until lookups see it.
func (h *harness) putContact(tenantID string, c events.Contact) {
	h.t.Helper()
	b, _ := json.Marshal(c)
	r := h.do("PUT", "/admin/v1/tenants/"+tenantID+"/contacts/"+c.ID, string(b), "Authorization", "Bearer admin-secret-token")
	if r.Status != http.StatusOK {
		h.t.Fatalf("put contact %s: %d %s", c.ID, r.Status, r.Body)
	}
}

func (h *harness) peoplefone(number string) response {
	h.t.Helper()
	return h.do("POST", "/peoplefone/Lookup", `{"inputs":{"phoneNumber":"`+number+`"}}`, "X-Execution-Token", "acme-token-123")
}

func openAPIRouter(t *testing.T) routers.Router {
	t.Helper()
	r, err := openapitest.Router(ingress.OpenAPI)
	if err != nil {
		t.Fatalf("openapi document: %v", err)
	}
	return r
}
