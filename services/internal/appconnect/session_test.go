package appconnect_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/calldex/calldex/services/internal/appconnect"
)

const authorizeMsg = "Please go to Settings and authorize CRM platform"

func TestIsAliveManifestAndCapabilities(t *testing.T) {
	h := newHarness(t)

	r := h.do("GET", "/appconnect/isAlive", "")
	if r.Status != http.StatusOK || string(r.Body) != "OK" || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("isAlive: %d %q %s", r.Status, r.Body, r.Header.Get("Content-Type"))
	}

	for _, path := range []string{"/appconnect/crmManifest", "/appconnect/crmManifest?platformName=calldex"} {
		v := h.do("GET", path, "").envelope(t, http.StatusOK, true, "success")
		if v["serverUrl"] != "https://calldex.test/appconnect" {
			t.Errorf("serverUrl %v", v["serverUrl"])
		}
		p, _ := v["platforms"].(map[string]any)["calldex"].(map[string]any)
		if p["name"] != "calldex" || p["displayName"] != "Calldex" {
			t.Fatalf("platform: %v", p)
		}
		auth, _ := p["auth"].(map[string]any)
		if auth["type"] != "apiKey" {
			t.Errorf("auth type %v", auth["type"])
		}
		types, _ := p["contactTypes"].([]any)
		if len(types) != 2 || types[0].(map[string]any)["value"] != "contact" {
			t.Errorf("contactTypes %v", types)
		}
	}
	h.do("GET", "/appconnect/crmManifest?platformName=pipedrive", "").envelope(t, http.StatusBadRequest, false, "warning")

	v := h.do("GET", "/appconnect/implementedInterfaces?platform=calldex", "").envelope(t, http.StatusOK, true, "success")
	for flag, want := range map[string]bool{"findContact": true, "findContactWithName": true, "createContact": true, "upsertCallDisposition": true, "listAppointments": false} {
		if v[flag] != want {
			t.Errorf("%s = %v, want %v", flag, v[flag], want)
		}
	}
	h.do("GET", "/appconnect/implementedInterfaces?platform=bullhorn", "").envelope(t, http.StatusBadRequest, false, "warning")

	r = h.do("GET", "/appconnect/serverVersionInfo", "")
	if r.Status != http.StatusOK || r.json(t)["version"] != "1.0.0" {
		t.Errorf("serverVersionInfo: %d %s", r.Status, r.Body)
	}

	if r := h.do("GET", "/appconnect/nope", ""); r.Status != http.StatusNotFound {
		t.Errorf("unknown route: %d", r.Status)
	}
}

func TestAPIKeyLogin(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name     string
		body     string
		invalid  bool // not allowed by the document: only the answer is checked
		status   int
		msgType  string
		contains string
	}{
		{"wrong key", `{"platform":"calldex","apiKey":"not-a-key-at-all"}`, false, 400, "danger", "Invalid API key"},
		{"other platform", `{"platform":"pipedrive","apiKey":"acme-key-123456"}`, false, 400, "warning", "Unknown platform"},
		{"no api key", `{"platform":"calldex"}`, false, 400, "warning", "apiKey"},
		{"no platform", `{"apiKey":"acme-key-123456"}`, true, 400, "warning", "platform"},
		{"malformed", `{"platform":`, true, 400, "warning", "Malformed"},
		{"address refused", `{"platform":"calldex","apiKey":"initech-key-12345"}`, false, 400, "danger", "network address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r response
			if tc.invalid {
				r = h.invalid("POST", "/appconnect/apiKeyLogin", tc.body)
			} else {
				r = h.do("POST", "/appconnect/apiKeyLogin", tc.body)
			}
			v := r.envelope(t, tc.status, false, tc.msgType)
			if !strings.Contains(message(v), tc.contains) {
				t.Errorf("message %q, want it to contain %q", message(v), tc.contains)
			}
			if _, ok := v["jwtToken"]; ok {
				t.Error("a refused login got a token")
			}
		})
	}

	t.Run("token claims", func(t *testing.T) {
		tok := h.login("acme-key-123456")
		var c appconnect.Claims
		_, err := jwt.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return []byte(secret), nil }, jwt.WithValidMethods([]string{"HS256"}))
		if err != nil {
			t.Fatal(err)
		}
		if c.ID != "acme" || c.Platform != "calldex" || c.RegisteredClaims.ID == "" || c.Cred == "" {
			t.Errorf("claims %+v", c)
		}
		if ttl := c.ExpiresAt.Sub(c.IssuedAt.Time); ttl != appconnect.DefaultTokenTTL {
			t.Errorf("expiry %s after issue", ttl)
		}
		if strings.Contains(tok, "acme-key") {
			t.Error("token carries the API key")
		}
	})

	t.Run("query credential", func(t *testing.T) {
		// A tenant's credential works whatever location it is configured for.
		tok := h.login("globex-key-456789")
		h.do("GET", "/appconnect/authValidation", "", bearer(tok)...).envelope(t, http.StatusOK, true, "success")
	})
}

func TestSessionTokenTransport(t *testing.T) {
	h := newHarness(t)
	tok := h.login("acme-key-123456")

	h.do("GET", "/appconnect/authValidation", "", bearer(tok)...).envelope(t, http.StatusOK, true, "success")
	h.do("GET", "/appconnect/authValidation?jwtToken="+tok, "").envelope(t, http.StatusOK, true, "success")
	h.do("GET", "/appconnect/contact?phoneNumber=%2B14155550100&jwtToken="+tok, "").envelope(t, http.StatusOK, true, "warning")
	h.do("GET", "/appconnect/contact?phoneNumber=%2B14155550100", "", "Authorization", "bearer "+tok).envelope(t, http.StatusOK, true, "warning")
}

func TestBadTokens(t *testing.T) {
	h := newHarness(t)
	good := h.login("acme-key-123456")
	now := time.Now()
	sign := func(c appconnect.Claims, key string) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(key))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	var goodClaims appconnect.Claims
	if _, _, err := jwt.NewParser().ParseUnverified(good, &goodClaims); err != nil {
		t.Fatal(err)
	}
	claims := func(edit func(*appconnect.Claims)) appconnect.Claims {
		c := goodClaims
		edit(&c)
		return c
	}
	otherSecret := strings.Repeat("x", 40)
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, goodClaims).SignedString(jwt.UnsafeAllowNoneSignatureType)

	bad := map[string][]string{
		"no token":        nil,
		"garbage":         bearer("not.a.jwt"),
		"basic auth":      {"Authorization", "Basic YWNtZTprZXk="},
		"other secret":    bearer(sign(goodClaims, otherSecret)),
		"alg none":        bearer(none),
		"other platform":  bearer(sign(claims(func(c *appconnect.Claims) { c.Platform = "pipedrive" }), secret)),
		"no expiry":       bearer(sign(claims(func(c *appconnect.Claims) { c.ExpiresAt = nil }), secret)),
		"tampered tenant": bearer(strings.Replace(good, strings.Split(good, ".")[1], strings.Split(sign(claims(func(c *appconnect.Claims) { c.ID = "globex" }), otherSecret), ".")[1], 1)),
	}
	routes := []struct{ method, path, body string }{
		{"GET", "/appconnect/contact?phoneNumber=%2B14155550100", ""},
		{"GET", "/appconnect/authValidation", ""},
		{"POST", "/appconnect/unAuthorize", ""},
		{"GET", "/appconnect/custom/contact/search?name=ann", ""},
		{"POST", "/appconnect/contact", `{"phoneNumber":"+14155550100","newContactName":"Ann"}`},
		{"GET", "/appconnect/callLog?sessionIds=1", ""},
		{"POST", "/appconnect/callLog", `{"logInfo":{"sessionId":"1"},"contactId":"c1"}`},
		{"PATCH", "/appconnect/callLog", `{"sessionId":"1"}`},
		{"PUT", "/appconnect/callDisposition", `{"sessionId":"1","dispositions":{}}`},
		{"POST", "/appconnect/messageLog", `{"logInfo":{"messages":[],"correspondents":[]},"contactId":"c1"}`},
	}
	for name, header := range bad {
		t.Run(name, func(t *testing.T) {
			for _, rt := range routes {
				v := h.do(rt.method, rt.path, rt.body, header...).envelope(t, http.StatusBadRequest, false, "warning")
				if message(v) != authorizeMsg {
					t.Errorf("%s %s: message %q", rt.method, rt.path, message(v))
				}
			}
		})
	}

	t.Run("expired", func(t *testing.T) {
		expired := bearer(sign(claims(func(c *appconnect.Claims) {
			c.IssuedAt = jwt.NewNumericDate(now.Add(-3 * time.Hour))
			c.ExpiresAt = jwt.NewNumericDate(now.Add(-2 * time.Hour))
		}), secret))
		v := h.do("GET", "/appconnect/contact?phoneNumber=%2B14155550100", "", expired...).envelope(t, http.StatusUnauthorized, false, "warning")
		if !strings.Contains(message(v), authorizeMsg) {
			t.Errorf("401 message %q", message(v))
		}
		h.do("GET", "/appconnect/authValidation", "", expired...).envelope(t, http.StatusOK, false, "warning")
	})

	t.Run("credential removed", func(t *testing.T) {
		h.tenants.load(t, strings.Replace(testConfig, "value: acme-key-123456", "value: acme-key-rotated-789", 1))
		defer h.tenants.load(t, testConfig)
		h.do("GET", "/appconnect/contact?phoneNumber=%2B14155550100", "", bearer(good)...).envelope(t, http.StatusUnauthorized, false, "warning")
		h.do("GET", "/appconnect/authValidation", "", bearer(good)...).envelope(t, http.StatusOK, false, "warning")
		h.do("POST", "/appconnect/apiKeyLogin", `{"platform":"calldex","apiKey":"acme-key-123456"}`).envelope(t, http.StatusBadRequest, false, "danger")
	})

	t.Run("previous secret still verifies", func(t *testing.T) {
		rotated := newHarness(t, func(c *appconnect.Config, _ *appconnect.Deps) {
			c.Secret, c.PreviousSecret = otherSecret, secret
		})
		tok := h.login("acme-key-123456")
		rotated.do("GET", "/appconnect/authValidation", "", bearer(tok)...).envelope(t, http.StatusOK, true, "success")
	})
}

func TestUnAuthorizeRevokes(t *testing.T) {
	h := newHarness(t)
	tok := h.login("acme-key-123456")
	other := h.login("acme-key-123456")

	h.do("POST", "/appconnect/unAuthorize", "", bearer(tok)...).envelope(t, http.StatusOK, true, "success")

	v := h.do("GET", "/appconnect/contact?phoneNumber=%2B14155550100", "", bearer(tok)...).envelope(t, http.StatusUnauthorized, false, "warning")
	if !strings.Contains(message(v), authorizeMsg) {
		t.Errorf("message %q", message(v))
	}
	h.do("GET", "/appconnect/callLog?sessionIds=1&jwtToken="+tok, "").envelope(t, http.StatusUnauthorized, false, "warning")
	// Routes whose contract has no 401 answer as it allows.
	h.do("GET", "/appconnect/authValidation", "", bearer(tok)...).envelope(t, http.StatusOK, false, "warning")
	h.do("POST", "/appconnect/unAuthorize", "", bearer(tok)...).envelope(t, http.StatusOK, true, "success")

	// Another session of the same user is not affected.
	h.do("GET", "/appconnect/authValidation", "", bearer(other)...).envelope(t, http.StatusOK, true, "success")

	// Another replica, sharing the bucket, refuses the token too.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	replicaRevocations, err := appconnect.NewKVRevocations(ctx, h.revoked)
	if err != nil {
		t.Fatal(err)
	}
	var c appconnect.Claims
	_, _, _ = jwt.NewParser().ParseUnverified(tok, &c)
	if revoked, _ := replicaRevocations.Revoked(ctx, c.RegisteredClaims.ID); !revoked {
		t.Error("a replica loading the bucket does not see the revocation")
	}
}

func TestCORSPreflight(t *testing.T) {
	h := newHarness(t)
	// A preflight is not an API call: it is not in the document.
	req, _ := http.NewRequest("OPTIONS", h.srv.URL+"/appconnect/contact?phoneNumber=1", nil)
	req.Header.Set("Origin", "https://app.ringcentral.com")
	req.Header.Set("Access-Control-Request-Method", "GET")
	req.Header.Set("Access-Control-Request-Headers", "authorization")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	r := h.do("GET", "/appconnect/isAlive", "")
	if r.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Error("no CORS header on a response")
	}
}

func TestNewReportsEveryProblem(t *testing.T) {
	_, err := appconnect.New(appconnect.Config{
		Secret:       "short",
		ServerURL:    "calldex.example.com/",
		ContactTypes: []appconnect.ContactType{{Display: "Lead"}},
		Tenants:      map[string]appconnect.TenantOptions{"Bad Tenant": {}},
	}, appconnect.Deps{})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"secret", "serverUrl", "contactTypes[0]", "Bad Tenant", "Deps.Tenants", "Deps.Workflows", "Deps.CallLogs"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
}
