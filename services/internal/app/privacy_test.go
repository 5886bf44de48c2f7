package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/services/internal/app"
	"github.com/calldex/calldex/services/internal/app/apptest"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/shared/testwait"
)

const privacyTenants = `admin: {token: admin-token-0123456789}
tenants:
  - id: shop
    region: CH
    credentials: [{header: X-Execution-Token, value: shop-token-0123456789}]
`

// call is apptest.Call.
var call = apptest.Call

// TestPrivacyThroughTheProcess runs the one process: an erasure through the
// admin API, its audit event, and credential throttling.
func TestPrivacyThroughTheProcess(t *testing.T) {
	tenants, err := tenant.Parse([]byte(privacyTenants), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	cfg := app.DefaultConfig()
	cfg.TenantsFile = "privacy.yaml" // not the demo; WithTenants gives the content
	cfg.DataDir, cfg.EmbeddedNATSAddr = t.TempDir(), "127.0.0.1:0"
	cfg.AuthMaxFailures = 5
	p := apptest.Start(t, cfg, app.WithTenants(tenants))
	admin := []string{"Authorization", "Bearer admin-token-0123456789"}
	lookup := func() string {
		_, body, _ := call(t, "POST", p.URL+"/peoplefone/Lookup", `{"inputs":{"phoneNumber":"41215522000"}}`, "X-Execution-Token", "shop-token-0123456789")
		return body
	}

	if code, body, _ := call(t, "PUT", p.URL+"/admin/v1/tenants/shop/contacts/c1", `{"name":"Alexa Meier","phones":[{"raw":"021 552 20 00"}]}`, admin...); code != 200 {
		t.Fatalf("put: %d %s", code, body)
	}
	if !strings.Contains(lookup(), "Alexa") {
		t.Fatal("the contact is not found before the erasure")
	}
	nc, err := nats.Connect(p.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// The lookup's call.lookup event leaves in a burst, off the lookup's
	// path: erase once CALLS holds it.
	testwait.Until(t, 10*time.Second, "the call.lookup event stored", func() bool {
		s, err := js.Stream(context.Background(), events.StreamCalls)
		return err == nil && s.CachedInfo().State.Msgs > 0
	})
	code, body, _ := call(t, "DELETE", p.URL+"/admin/v1/tenants/shop/numbers/+41215522000", "", admin...)
	var rep struct {
		Contacts []string
		Removed  map[string]int
		Indexed  bool
	}
	if err := json.Unmarshal([]byte(body), &rep); err != nil || code != 200 {
		t.Fatalf("erase: %d %s", code, body)
	}
	if len(rep.Contacts) != 1 || rep.Removed["contacts"] != 1 || rep.Removed["calls"] == 0 || !rep.Indexed {
		t.Fatalf("erase report %s", body)
	}
	if strings.Contains(lookup(), "Alexa") {
		t.Fatal("the erased number still finds its contact")
	}

	// The erasure is audited, without the number.
	s, err := js.Stream(context.Background(), events.StreamAudit)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(context.Background(), "audit.shop")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(m.Data), `DELETE /admin/v1/tenants/{tenant}/numbers/{number}`) || strings.Contains(string(m.Data), "215522000") ||
		strings.Contains(string(m.Data), "admin-token-0123456789") {
		t.Fatalf("audit of the erasure: %s", m.Data)
	}

	// Wrong credentials: 429 before the 30th (the window's end is shown
	// with a test clock in the ingress's tests).
	got429 := 0
	for i := 1; i <= 30 && got429 == 0; i++ {
		code, _, hdr := call(t, "POST", p.URL+"/peoplefone/Lookup", `{"inputs":{"phoneNumber":"41215522000"}}`, "X-Execution-Token", "wrong")
		if code == http.StatusTooManyRequests && hdr.Get("Retry-After") != "" {
			got429 = i
		}
	}
	if got429 == 0 || got429 >= 30 {
		t.Fatalf("first 429 at %d", got429)
	}
	if code, body, _ := call(t, "GET", p.URL+"/metrics", ""); code != 200 || !strings.Contains(body, `calldex_auth_failures_total{kind="tenant_credential"} 5`) {
		t.Fatalf("metrics lack the failures: %d", code)
	}
}
