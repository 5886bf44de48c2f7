package appconnect_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/services/internal/appconnect"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/lookup"
	"github.com/calldex/calldex/shared/metrics"
	"github.com/calldex/calldex/shared/projector"
	"github.com/calldex/calldex/shared/tenant"
)

type noPublisher struct{}

func (noPublisher) Upsert(context.Context, string, events.Contact) (uint64, error) { return 0, nil }
func (noPublisher) WaitApplied(context.Context, uint64) error                      { return nil }

// BenchmarkFindContact measures GET /appconnect/contact through the
// handler, session verification included, on the in-process index with
// 10,000 contacts: the ringing path without the network.
//
//	go test -run '^$' -bench FindContact -benchmem ./internal/appconnect/
func BenchmarkFindContact(b *testing.B) {
	cfg, err := tenant.Parse([]byte(testConfig), func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	reg := tenant.NewRegistry(cfg)
	acme, _ := reg.Tenant("acme")
	idx := index.NewMemory()
	ctx := context.Background()
	for i := range 10_000 {
		c := events.Contact{ID: fmt.Sprint("c", i), Source: "crm", Name: fmt.Sprint("Contact ", i), Company: "Bench Inc",
			Emails: []string{fmt.Sprintf("c%d@bench.test", i)}, UpdatedAt: time.Now(),
			Phones: []events.Phone{{Raw: fmt.Sprintf("(415) 5%02d-%04d", i/10000, i%10000)}}}
		if err := idx.Upsert(ctx, "acme", projector.Entry(c, acme.PhoneOptions())); err != nil {
			b.Fatal(err)
		}
	}
	h, err := appconnect.New(appconnect.Config{
		Secret:  secret,
		Tenants: map[string]appconnect.TenantOptions{"acme": {AllowCreate: true}},
	}, appconnect.Deps{
		Tenants: reg, Lookup: lookup.NewRecorder(lookup.New(idx), metrics.New(), nil, events.Topology{}, nil), Names: idx, Contacts: noPublisher{}, Projection: noPublisher{},
		Workflows: newFakeDispatcher(), Revocations: appconnect.NewMemoryRevocations(), CallLogs: appconnect.NewMemoryCallLogs(),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/appconnect/apiKeyLogin", strings.NewReader(`{"platform":"calldex","apiKey":"acme-key-123456"}`)))
	var login struct{ JWTToken string }
	if err := json.Unmarshal(rec.Body.Bytes(), &login); err != nil || login.JWTToken == "" {
		b.Fatalf("login: %s", rec.Body)
	}

	for _, bc := range []struct{ name, query string }{
		{"hit", "phoneNumber=%2B14155001234"},
		{"hit_plus_as_space_legacy_token", "phoneNumber=+14155001234&jwtToken=" + login.JWTToken},
		{"miss", "phoneNumber=%2B14155559999"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/appconnect/contact?"+bc.query, nil)
			if !strings.Contains(bc.query, "jwtToken") {
				req.Header.Set("Authorization", "Bearer "+login.JWTToken)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Fatalf("%d %s", rec.Code, rec.Body)
					}
				}
			})
		})
	}
}
