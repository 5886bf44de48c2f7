package crmhooks_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/services/internal/crmhooks"
	"github.com/calldex/calldex/shared/contact"
	"github.com/calldex/calldex/shared/metrics"
	"github.com/calldex/calldex/shared/natstest"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/shared/testwait"
	"github.com/calldex/calldex/workflows/crm"
	"github.com/calldex/calldex/workflows/crmsync"
)

const (
	hubspotSecret = "hs-client-secret-7f3a"
	pdUser        = "pipedrive"
	pdPassword    = "pd-hook-password"
)

const config = `
admin:
  token: admin-token-123
tenants:
  - id: acme
    region: CH
    credentials:
      - header: X-Token
        value: acme-token-123
    connectors:
      hubspot: {type: hubspot, token: pat-na1-x, portalId: 33, webhookSecret: ` + hubspotSecret + `, syncInterval: 1h}
      pipedrive: {type: pipedrive, companyDomain: acme, token: pd-token, webhookUser: ` + pdUser + `, webhookPassword: ` + pdPassword + `}
      proxied: {type: hubspot, token: pat-na1-x, portalId: 33, webhookSecret: ` + hubspotSecret + `, webhookURL: "https://calldex.example.com/hooks/acme/proxied?x=1"}
      nosecret: {type: hubspot, token: pat-na1-x, portalId: 33}
      db: {type: sql, driver: sqlite, dsn: "file:crm.db"}
`

type harness struct {
	t   *testing.T
	env *natstest.Env
	srv *httptest.Server
	m   *metrics.Metrics
	reg *tenant.Registry
}

func registry(t *testing.T) *tenant.Registry {
	t.Helper()
	cfg, err := tenant.Parse([]byte(config), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return tenant.NewRegistry(cfg)
}

// newHarness serves the handler; trigger nil asks for syncs through the
// sync_cursors bucket, as the ingress does without a Syncer.
func newHarness(t *testing.T, trigger crmhooks.Trigger, mutate ...func(*crmhooks.Deps)) *harness {
	t.Helper()
	h := &harness{t: t, env: natstest.Connect(t), m: metrics.New(), reg: registry(t)}
	if trigger == nil {
		trigger = crmsync.NewRequests(h.env.Buckets.SyncCursors)
	}
	deps := crmhooks.Deps{
		Tenants: h.reg, Trigger: trigger, Contacts: contact.NewPublisher(h.env.JS, h.env.Topology), Metrics: h.m,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, f := range mutate {
		f(&deps)
	}
	hk, err := crmhooks.New(crmhooks.Config{}, deps)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(crmhooks.PathPrefix, hk)
	h.srv = httptest.NewServer(mux)
	t.Cleanup(h.srv.Close)
	return h
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hubspotSignature follows HubSpot's v3 recipe: base64(HMAC-SHA256(secret,
// method + uri + body + timestamp)).
func hubspotSignature(secret, method, uri string, body []byte, ts string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(method + uri + string(body) + ts))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func (h *harness) post(path string, body []byte, header http.Header) *http.Response {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// postHubSpot sends body signed as HubSpot would for the URL it calls.
func (h *harness) postHubSpot(source string, body []byte, at time.Time) *http.Response {
	h.t.Helper()
	path := "/webhooks/acme/" + source
	return h.post(path, body, h.hubspotHeader(path, body, at))
}

// hubspotHeader signs body as HubSpot would at a time for the URL of path.
func (h *harness) hubspotHeader(path string, body []byte, at time.Time) http.Header {
	ts := strconv.FormatInt(at.UnixMilli(), 10)
	return http.Header{
		"X-Hubspot-Signature-V3":      {hubspotSignature(hubspotSecret, http.MethodPost, h.srv.URL+path, body, ts)},
		"X-Hubspot-Request-Timestamp": {ts},
	}
}

func (h *harness) postPipedrive(body []byte, user, password string) *http.Response {
	h.t.Helper()
	hdr := http.Header{}
	if user != "" {
		hdr.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+password)))
	}
	return h.post("/webhooks/acme/pipedrive", body, hdr)
}

// woken reports whether a sync was asked for the source.
func (h *harness) woken(source string) bool {
	h.t.Helper()
	_, err := h.env.Buckets.SyncCursors.Get(context.Background(), "acme."+source+".wake")
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return true
}

// lastType is the type of the latest event of a contact ("" if none).
func (h *harness) lastType(source, id string) string {
	h.t.Helper()
	ctx := context.Background()
	stream, err := h.env.JS.Stream(ctx, h.env.Topology.Stream(events.StreamContacts))
	if err != nil {
		h.t.Fatal(err)
	}
	msg, err := stream.GetLastMsgForSubject(ctx, h.env.Topology.ContactSubject("acme", source, id))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return ""
	}
	if err != nil {
		h.t.Fatal(err)
	}
	env, err := events.Decode(msg.Data)
	if err != nil {
		h.t.Fatal(err)
	}
	return env.Type
}

func (h *harness) streamMsgs() uint64 {
	h.t.Helper()
	stream, err := h.env.JS.Stream(context.Background(), h.env.Topology.Stream(events.StreamContacts))
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := stream.Info(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return info.State.Msgs
}

func wantStatus(t *testing.T, resp *http.Response, code int) {
	t.Helper()
	if resp.StatusCode != code {
		t.Fatalf("status %d, want %d", resp.StatusCode, code)
	}
}

func TestHubSpotChangesAskForASync(t *testing.T) {
	h := newHarness(t, nil)
	resp := h.postHubSpot("hubspot", fixture(t, "hubspot_contact_events.json"), time.Now())
	wantStatus(t, resp, http.StatusNoContent)
	if !h.woken("hubspot") {
		t.Fatal("no sync asked for")
	}
	if n := h.streamMsgs(); n != 0 {
		t.Fatalf("%d events published for changes the sync fetches", n)
	}
	if n := testutil.ToFloat64(h.m.CRMWebhooks.WithLabelValues("hubspot", "accepted")); n != 1 {
		t.Fatalf("accepted webhooks counted %v", n)
	}

	// Older payloads name the event eventType.
	h2 := newHarness(t, nil)
	old := bytes.ReplaceAll(fixture(t, "hubspot_contact_events.json"), []byte("subscriptionType"), []byte("eventType"))
	wantStatus(t, h2.postHubSpot("hubspot", old, time.Now()), http.StatusNoContent)
	if !h2.woken("hubspot") {
		t.Fatal("eventType payload: no sync asked for")
	}
}

func TestHubSpotDeletionPublishesATombstone(t *testing.T) {
	h := newHarness(t, nil)
	wantStatus(t, h.postHubSpot("hubspot", fixture(t, "hubspot_contact_deletion.json"), time.Now()), http.StatusNoContent)
	if typ := h.lastType("hubspot", "1246978"); typ != events.TypeContactDeleted {
		t.Fatalf("contact 1246978: %q, want a tombstone", typ)
	}
	if n := h.streamMsgs(); n != 1 {
		t.Fatalf("%d events, want the contact's tombstone only (the company is not a contact)", n)
	}
	if h.woken("hubspot") {
		t.Fatal("a deletion alone asked for a sync")
	}
}

func TestHubSpotRefusesBadSignatures(t *testing.T) {
	body := fixture(t, "hubspot_contact_events.json")
	path := "/webhooks/acme/hubspot"
	sign := func(h *harness, secret, uri string, b []byte, at time.Time) http.Header {
		ts := strconv.FormatInt(at.UnixMilli(), 10)
		return http.Header{
			"X-Hubspot-Signature-V3":      {hubspotSignature(secret, http.MethodPost, uri, b, ts)},
			"X-Hubspot-Request-Timestamp": {ts},
		}
	}
	tests := []struct {
		name   string
		header func(h *harness) http.Header
	}{
		{"wrong secret", func(h *harness) http.Header { return sign(h, "another-secret", h.srv.URL+path, body, time.Now()) }},
		{"body changed after signing", func(h *harness) http.Header {
			return sign(h, hubspotSecret, h.srv.URL+path, bytes.Replace(body, []byte("1246965"), []byte("1246966"), 1), time.Now())
		}},
		{"another URL signed", func(h *harness) http.Header {
			return sign(h, hubspotSecret, h.srv.URL+"/webhooks/acme/proxied", body, time.Now())
		}},
		{"stale timestamp", func(h *harness) http.Header {
			return sign(h, hubspotSecret, h.srv.URL+path, body, time.Now().Add(-6*time.Minute))
		}},
		{"timestamp far ahead", func(h *harness) http.Header {
			return sign(h, hubspotSecret, h.srv.URL+path, body, time.Now().Add(6*time.Minute))
		}},
		{"timestamp in seconds", func(h *harness) http.Header {
			hd := sign(h, hubspotSecret, h.srv.URL+path, body, time.Now())
			hd.Set("X-Hubspot-Request-Timestamp", strconv.FormatInt(time.Now().Unix(), 10))
			return hd
		}},
		{"no signature", func(h *harness) http.Header {
			return http.Header{"X-Hubspot-Request-Timestamp": {strconv.FormatInt(time.Now().UnixMilli(), 10)}}
		}},
		{"v1 signature only", func(h *harness) http.Header {
			return http.Header{"X-Hubspot-Signature": {"232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"}, "X-Hubspot-Signature-Version": {"v1"}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			wantStatus(t, h.post(path, body, tt.header(h)), http.StatusUnauthorized)
			if h.woken("hubspot") {
				t.Fatal("a refused webhook asked for a sync")
			}
			if n := testutil.ToFloat64(h.m.CRMWebhooks.WithLabelValues("hubspot", "unauthorized")); n != 1 {
				t.Fatalf("unauthorized counted %v", n)
			}
		})
	}
}

func TestHubSpotSignatureBehindAProxy(t *testing.T) {
	h := newHarness(t, nil)
	body := fixture(t, "hubspot_contact_events.json")
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)

	// The configured webhookURL is what HubSpot signed.
	wantStatus(t, h.post("/webhooks/acme/proxied", body, http.Header{
		"X-Hubspot-Signature-V3":      {hubspotSignature(hubspotSecret, "POST", "https://calldex.example.com/hooks/acme/proxied?x=1", body, ts)},
		"X-Hubspot-Request-Timestamp": {ts},
	}), http.StatusNoContent)
	if !h.woken("proxied") {
		t.Fatal("no sync asked for")
	}

	// Without it, the scheme and host the proxy forwards; HubSpot signs the
	// URI with some characters decoded (here ':' of %3A).
	path := "/webhooks/acme/hubspot?tag=a%3Ab"
	wantStatus(t, h.post(path, body, http.Header{
		"X-Hubspot-Signature-V3":      {hubspotSignature(hubspotSecret, "POST", "https://calldex.example.com/webhooks/acme/hubspot?tag=a:b", body, ts)},
		"X-Hubspot-Request-Timestamp": {ts},
		"X-Forwarded-Proto":           {"https"},
		"X-Forwarded-Host":            {"calldex.example.com"},
	}), http.StatusNoContent)
}

func TestHubSpotEventsOfAnotherPortalAreIgnored(t *testing.T) {
	h := newHarness(t, nil)
	body := bytes.ReplaceAll(fixture(t, "hubspot_contact_deletion.json"), []byte(`"portalId": 33`), []byte(`"portalId": 34`))
	wantStatus(t, h.postHubSpot("hubspot", body, time.Now()), http.StatusNoContent)
	if n := h.streamMsgs(); n != 0 {
		t.Fatalf("%d events published for another portal", n)
	}
}

func TestPipedriveNotifications(t *testing.T) {
	tests := []struct {
		fixture   string
		sync      bool
		tombstone bool
	}{
		{"pipedrive_v2_person_change.json", true, false},
		{"pipedrive_v2_person_delete.json", false, true},
		{"pipedrive_v1_person_updated.json", true, false},
		{"pipedrive_v1_person_deleted.json", false, true},
		{"pipedrive_v2_deal_create.json", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			h := newHarness(t, nil)
			wantStatus(t, h.postPipedrive(fixture(t, tt.fixture), pdUser, pdPassword), http.StatusNoContent)
			if got := h.woken("pipedrive"); got != tt.sync {
				t.Errorf("sync asked: %v, want %v", got, tt.sync)
			}
			typ := h.lastType("pipedrive", "8")
			if tt.tombstone && typ != events.TypeContactDeleted || !tt.tombstone && typ != "" {
				t.Errorf("person 8: %q, tombstone wanted: %v", typ, tt.tombstone)
			}
		})
	}
}

func TestPipedriveBasicAuth(t *testing.T) {
	body := fixture(t, "pipedrive_v2_person_delete.json")
	for _, tc := range []struct{ name, user, password string }{
		{"none", "", ""},
		{"wrong password", pdUser, "guess"},
		{"wrong user", "admin", pdPassword},
		{"empty password", pdUser, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			resp := h.postPipedrive(body, tc.user, tc.password)
			wantStatus(t, resp, http.StatusUnauthorized)
			if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
				t.Errorf("WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
			}
			if n := h.streamMsgs(); n != 0 {
				t.Fatal("a refused webhook published a tombstone")
			}
		})
	}
}

type failingTrigger struct{}

func (failingTrigger) SyncNow(context.Context, string, string) error {
	return errors.New("nats: timeout")
}

func TestAnswers(t *testing.T) {
	h := newHarness(t, nil)
	signedHS := func(source string, body []byte) *http.Response { return h.postHubSpot(source, body, time.Now()) }
	tests := []struct {
		name string
		do   func() *http.Response
		want int
	}{
		{"unknown tenant", func() *http.Response { return h.post("/webhooks/globex/hubspot", []byte("[]"), nil) }, http.StatusNotFound},
		{"unknown source", func() *http.Response { return h.post("/webhooks/acme/salesforce", []byte("[]"), nil) }, http.StatusNotFound},
		{"not a notifying CRM", func() *http.Response { return h.post("/webhooks/acme/db", []byte("[]"), nil) }, http.StatusNotFound},
		{"no webhook secret", func() *http.Response { return signedHS("nosecret", []byte("[]")) }, http.StatusNotFound},
		{"not an id", func() *http.Response { return h.post("/webhooks/ACME/hubspot", []byte("[]"), nil) }, http.StatusNotFound},
		{"other path", func() *http.Response { return h.post("/webhooks/acme", []byte("[]"), nil) }, http.StatusNotFound},
		{"malformed HubSpot", func() *http.Response { return signedHS("hubspot", []byte(`{"objectId":1}`)) }, http.StatusBadRequest},
		{"malformed Pipedrive", func() *http.Response { return h.postPipedrive([]byte(`{"meta":{}}`), pdUser, pdPassword) }, http.StatusBadRequest},
		{"empty HubSpot batch", func() *http.Response { return signedHS("hubspot", []byte(`[]`)) }, http.StatusNoContent},
		{"too large", func() *http.Response { return signedHS("hubspot", bytes.Repeat([]byte(" "), 2<<20)) }, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantStatus(t, tt.do(), tt.want) })
	}

	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/webhooks/acme/hubspot", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Fatalf("GET: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}

	// NATS cannot take it: 503, so the CRM sends it again.
	failing := newHarness(t, failingTrigger{})
	wantStatus(t, failing.postHubSpot("hubspot", fixture(t, "hubspot_contact_events.json"), time.Now()), http.StatusServiceUnavailable)
}

// fakeCRM lists its contacts after the cursor (an index).
type fakeCRM struct {
	mu       sync.Mutex
	contacts []events.Contact
}

func (f *fakeCRM) add(id, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.contacts = append(f.contacts, events.Contact{ID: id, Name: name, UpdatedAt: time.Now().UTC()})
}

func (f *fakeCRM) ListChanges(_ context.Context, cursor string) (crm.Page, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	from := 0
	if cursor != "" {
		from, _ = strconv.Atoi(cursor)
	}
	return crm.Page{Upserts: append([]events.Contact(nil), f.contacts[from:]...), Next: strconv.Itoa(len(f.contacts))}, nil
}

// builder makes the "hubspot" connector the fake CRM; the others list
// nothing.
type builder struct{ crm *fakeCRM }

func (b builder) Build(_ context.Context, name string, _ tenant.Connector) (crmsync.Instance, error) {
	if name == "hubspot" {
		return instance(b), nil
	}
	return instance{}, nil
}

// instance is a built connector: a source when it has a CRM.
type instance struct{ crm *fakeCRM }

func (i instance) ChangeLister() (crm.ChangeLister, bool) { return i.crm, i.crm != nil }
func (instance) Close() error                             { return nil }

func TestAWebhookBringsTheChangeWithinSeconds(t *testing.T) {
	env := natstest.Connect(t)
	reg := registry(t)
	fake := &fakeCRM{}
	fake.add("1246965", "Alexa Holiday")
	m := metrics.New()
	syncer, err := crmsync.New(crmsync.Config{Topology: env.Topology, LeasePeriod: time.Second, MinBackoff: 20 * time.Millisecond}, crmsync.Deps{
		JS: env.JS, Cursors: env.Buckets.SyncCursors, Contacts: contact.NewPublisher(env.JS, env.Topology),
		Connectors: builder{fake}, Tenants: reg, Metrics: m, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- syncer.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	hk, err := crmhooks.New(crmhooks.Config{}, crmhooks.Deps{Tenants: reg, Trigger: syncer, Contacts: contact.NewPublisher(env.JS, env.Topology)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(hk)
	t.Cleanup(srv.Close)
	h := &harness{t: t, env: env, srv: srv, m: m, reg: reg}

	testwait.Until(t, 10*time.Second, "the event in CONTACTS", func() bool { return h.lastType("hubspot", "1246965") == events.TypeContactUpserted })
	// The source polls hourly: only the webhook can bring this one soon.
	fake.add("1246978", "Jürg Müller")
	start := time.Now()
	wantStatus(t, h.postHubSpot("hubspot", fixture(t, "hubspot_contact_events.json"), time.Now()), http.StatusNoContent)
	testwait.Until(t, 10*time.Second, "the event in CONTACTS", func() bool { return h.lastType("hubspot", "1246978") == events.TypeContactUpserted })
	t.Logf("contact in CONTACTS %s after the webhook", time.Since(start).Round(time.Millisecond))
}
