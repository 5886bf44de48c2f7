package appconnect_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/routers"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/services/internal/appconnect"
	"github.com/calldex/calldex/services/internal/ingress"
	"github.com/calldex/calldex/services/internal/openapitest"
	"github.com/calldex/calldex/shared/contact"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/lookup"
	"github.com/calldex/calldex/shared/metrics"
	"github.com/calldex/calldex/shared/natstest"
	"github.com/calldex/calldex/shared/phone"
	"github.com/calldex/calldex/shared/projector"
	"github.com/calldex/calldex/shared/tenant"
)

// specPath is App Connect's OpenAPI document, unchanged from shared/specs.
const specPath = "testdata/appconnect-crm-server-openapi.json"

const testConfig = `
admin:
  token: admin-secret-token
tenants:
  - id: acme
    region: US
    maxResults: 3
    credentials:
      - header: X-Api-Key
        value: acme-key-123456
    connectors:
      crm: {type: fake}
    workflows:
      CallLog: {action: logCall, connector: crm}
      CallLogUpdate: {action: logCall, connector: crm}
      CallDisposition: {action: logDisposition, connector: crm}
      MessageLog: {action: logMessage, connector: crm}
  - id: globex
    region: CH
    credentials:
      - query: token
        value: globex-key-456789
  - id: umbrella
    region: US
    credentials:
      - header: X-Api-Key
        value: umbrella-key-0000
  - id: initech
    region: US
    credentials:
      - header: X-Api-Key
        value: initech-key-12345
    allowedCIDRs: [10.9.0.0/16]
`

const secret = "test-secret-0123456789abcdef-0123456789abcdef"

// reloadable is a tenant registry the test can swap, as a config reload does.
type reloadable struct {
	mu  sync.Mutex
	reg *tenant.Registry
}

func (r *reloadable) get() *tenant.Registry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reg
}

func (r *reloadable) Tenant(id string) (*tenant.Tenant, bool) { return r.get().Tenant(id) }
func (r *reloadable) StoredCredential(v string) (*tenant.Tenant, string, bool) {
	return r.get().StoredCredential(v)
}
func (r *reloadable) PhoneOptions(id string) (phone.Options, bool) {
	t, ok := r.get().Tenant(id)
	if !ok {
		return phone.Options{}, false
	}
	return t.PhoneOptions(), true
}

func (r *reloadable) load(t *testing.T, yaml string) {
	t.Helper()
	cfg, err := tenant.Parse([]byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	r.mu.Lock()
	r.reg = tenant.NewRegistry(cfg)
	r.mu.Unlock()
}

// harness is the App Connect handler on real NATS JetStream (CONTACTS, the
// KV buckets), a running projector and an in-process index, with a fake
// dispatcher and a fake strict CRM. Every request and response it sees is
// checked against App Connect's OpenAPI document and the one Calldex serves
// (GET /openapi.yaml).
type harness struct {
	t        *testing.T
	srv      *httptest.Server
	nats     *natstest.Env
	tenants  *reloadable
	idx      *index.Memory
	contacts *contact.Publisher
	proj     *projector.Projector
	disp     *fakeDispatcher
	crm      *fakeCRM
	handler  *appconnect.Handler
	revoked  jetstream.KeyValue
	client   *http.Client
	// val checks App Connect's document, served Calldex's.
	val, served *openapitest.Transport
}

type harnessOption func(*appconnect.Config, *appconnect.Deps)

func newHarness(t *testing.T, opts ...harnessOption) *harness {
	t.Helper()
	env := natstest.Connect(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h := &harness{t: t, nats: env, tenants: &reloadable{}, idx: index.NewMemory(), disp: newFakeDispatcher(), crm: &fakeCRM{}}
	h.tenants.load(t, testConfig)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	proj, err := projector.New(projector.Config{Topology: env.Topology}, env.JS, h.idx, h.tenants, &projector.Memory{}, log)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = proj.Run(ctx) }()
	h.proj = proj
	h.contacts = contact.NewPublisher(env.JS, env.Topology)

	revokedKV, callLogsKV, err := appconnect.EnsureBuckets(ctx, env.JS, env.Topology, time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = env.JS.DeleteKeyValue(ctx, revokedKV.Bucket())
		_ = env.JS.DeleteKeyValue(ctx, callLogsKV.Bucket())
	})
	h.revoked = revokedKV
	revocations, err := appconnect.NewKVRevocations(ctx, revokedKV)
	if err != nil {
		t.Fatal(err)
	}
	cfg := appconnect.Config{
		Secret:    secret,
		ServerURL: "https://calldex.test/appconnect",
		Tenants: map[string]appconnect.TenantOptions{
			"acme": {
				AllowCreate: true, LivePhoneSearch: true, LiveNameSearch: true,
				Directory: []appconnect.Extension{{Number: "102", Name: "Reception Desk", Email: "desk@acme.test"}},
			},
			"globex": {AllowCreate: true},
		},
	}
	deps := appconnect.Deps{
		Tenants: h.tenants, Lookup: lookup.NewRecorder(lookup.New(h.idx), metrics.New(), nil, env.Topology, log), Names: h.idx,
		Contacts: h.contacts, Projection: proj, Workflows: h.disp,
		Revocations: revocations, CallLogs: appconnect.NewKVCallLogs(callLogsKV),
		Connectors: appconnect.ConnectorsFunc(func(_ context.Context, tenantID, name string) (appconnect.CRM, error) {
			if tenantID == "acme" && name == "crm" {
				return h.crm, nil
			}
			return nil, os.ErrNotExist
		}),
		Log: log,
	}
	for _, o := range opts {
		o(&cfg, &deps)
	}
	handler, err := appconnect.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	h.handler = handler
	h.srv = httptest.NewServer(handler)
	t.Cleanup(h.srv.Close)
	h.val = &openapitest.Transport{T: t, Router: openAPIRouter(t), StripPrefix: appconnect.Prefix, Requests: true}
	h.served = &openapitest.Transport{T: t, Router: servedRouter(t), Requests: true, Base: h.val}
	h.client = &http.Client{Transport: h.served, Timeout: 15 * time.Second}
	return h
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("response %d is not a JSON object: %v: %s", r.Status, err, r.Body)
	}
	return v
}

// envelope checks the answer every JSON route gives and returns it.
func (r response) envelope(t *testing.T, wantStatus int, wantSuccessful bool, wantType string) map[string]any {
	t.Helper()
	if r.Status != wantStatus {
		t.Fatalf("status %d, want %d: %s", r.Status, wantStatus, r.Body)
	}
	v := r.json(t)
	if s, ok := v["successful"].(bool); !ok || s != wantSuccessful {
		t.Errorf("successful = %v, want %v: %s", v["successful"], wantSuccessful, r.Body)
	}
	rm, ok := v["returnMessage"].(map[string]any)
	if !ok {
		t.Fatalf("no returnMessage: %s", r.Body)
	}
	if msg, _ := rm["message"].(string); msg == "" {
		t.Errorf("empty returnMessage.message: %s", r.Body)
	}
	if _, ok := rm["ttl"].(float64); !ok {
		t.Errorf("returnMessage.ttl missing: %s", r.Body)
	}
	if rm["messageType"] != wantType {
		t.Errorf("messageType %v, want %s: %s", rm["messageType"], wantType, r.Body)
	}
	return v
}

func message(v map[string]any) string {
	rm, _ := v["returnMessage"].(map[string]any)
	s, _ := rm["message"].(string)
	return s
}

// do sends a request; header is name, value pairs.
func (h *harness) do(method, path, body string, header ...string) response {
	h.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, rd)
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

// invalid sends a request the document does not allow, on purpose: only
// the response is checked.
func (h *harness) invalid(method, path, body string, header ...string) response {
	h.t.Helper()
	defer h.val.SkipRequests()()
	defer h.served.SkipRequests()()
	return h.do(method, path, body, header...)
}

// login opens a session for a credential and returns its token.
func (h *harness) login(apiKey string) string {
	h.t.Helper()
	r := h.do("POST", "/appconnect/apiKeyLogin", `{"platform":"calldex","apiKey":"`+apiKey+`"}`)
	v := r.envelope(h.t, http.StatusOK, true, "success")
	tok, _ := v["jwtToken"].(string)
	if tok == "" {
		h.t.Fatalf("no jwtToken: %s", r.Body)
	}
	return tok
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

// put stores a contact through CONTACTS and waits until the index has it.
func (h *harness) put(tenantID string, c events.Contact) {
	h.t.Helper()
	if c.Source == "" {
		c.Source = "crm"
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = time.Now().UTC()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	seq, err := h.contacts.Upsert(ctx, tenantID, c)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.proj.WaitApplied(ctx, seq); err != nil {
		h.t.Fatal(err)
	}
}

// validating checks every request and response against App Connect's
// OpenAPI document, with the /appconnect prefix stripped (the document's
// paths are relative to the connector's serverUrl).
var (
	specOnce   sync.Once
	specRouter routers.Router
	specErr    error
)

// openAPIRouter loads the document once: it is large.
func openAPIRouter(t testing.TB) routers.Router {
	t.Helper()
	specOnce.Do(func() {
		doc, err := os.ReadFile(specPath)
		if err != nil {
			specErr = err
			return
		}
		specRouter, specErr = openapitest.Router(doc)
	})
	if specErr != nil {
		t.Fatalf("App Connect OpenAPI document: %v", specErr)
	}
	return specRouter
}

// servedRouter loads the document Calldex serves at GET /openapi.yaml.
func servedRouter(t testing.TB) routers.Router {
	t.Helper()
	r, err := openapitest.Router(ingress.OpenAPI)
	if err != nil {
		t.Fatalf("Calldex OpenAPI document: %v", err)
	}
	return r
}

// TestOpenAPIDocumentsEveryRoute checks that every route the handler
// registers is in the document Calldex serves.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	h := newHarness(t)
	openapitest.RequireDocumented(t, ingress.OpenAPI, h.handler.Patterns())
}

// TestSpecIsAppConnects checks that testdata holds shared/specs' document
// byte for byte, where the workspace has shared/ beside the repository.
func TestSpecIsAppConnects(t *testing.T) {
	shared, err := os.ReadFile("../../../../shared/specs/appconnect-crm-server-openapi.json")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("shared/specs not beside the repository: %v", err)
		}
		t.Skipf("shared/specs not beside the repository: %v", err)
	}
	local, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(shared, local) {
		t.Errorf("%s differs from shared/specs: copy it again, unedited", specPath)
	}
	openAPIRouter(t)
}
