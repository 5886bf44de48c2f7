package risk_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/calldex/calldex/shared/phone"
	"github.com/calldex/calldex/shared/risk"
)

func reasons(rs ...risk.Reason) risk.Reasons {
	var out risk.Reasons
	for _, r := range rs {
		out |= 1 << r
	}
	return out
}

func TestScore(t *testing.T) {
	mobile := risk.FactsOf("+41791234567", "")
	tests := []struct {
		name  string
		stats risk.Stats
		facts risk.Facts
		th    risk.Thresholds
		want  risk.Assessment
	}{
		{"no calls, mobile", risk.Stats{}, mobile, risk.Thresholds{}, risk.Assessment{}},
		{"robocaller", risk.Stats{Tenants: 40, Calls: 40, Finished: 40, Answered: 2, Short: 38}, mobile, risk.Thresholds{},
			risk.Assessment{Score: 100, Reasons: reasons(risk.ManyTenants, risk.ShortCalls, risk.Unanswered, risk.Burst), High: true}},
		{"one-ring calls to many tenants", risk.Stats{Tenants: 6, Calls: 6, Finished: 6, Short: 6}, mobile, risk.Thresholds{},
			risk.Assessment{Score: 85, Reasons: reasons(risk.ManyTenants, risk.ShortCalls, risk.Unanswered), High: true}},
		{"call centre: many tenants, conversations", risk.Stats{Tenants: 35, Calls: 40, Finished: 40, Answered: 30, Short: 2}, mobile, risk.Thresholds{},
			risk.Assessment{Score: 55, Reasons: reasons(risk.ManyTenants, risk.Burst)}},
		{"a tenant's stricter thresholds", risk.Stats{Tenants: 3, Calls: 3, Finished: 3, Short: 3}, mobile, risk.Thresholds{High: 50, MinTenants: 3, MinCalls: 3},
			risk.Assessment{Score: 85, Reasons: reasons(risk.ManyTenants, risk.ShortCalls, risk.Unanswered), High: true}},
		{"too few calls for ratios", risk.Stats{Tenants: 1, Calls: 4, Finished: 4, Short: 4}, mobile, risk.Thresholds{}, risk.Assessment{}},
		{"after hours", risk.Stats{Tenants: 2, Calls: 6, AfterHours: 4, Finished: 6, Answered: 6}, mobile, risk.Thresholds{},
			risk.Assessment{Score: 10, Reasons: reasons(risk.AfterHours)}},
		{"premium rate", risk.Stats{}, risk.FactsOf("+41900123456", ""), risk.Thresholds{},
			risk.Assessment{Score: 70, Reasons: reasons(risk.PremiumRate), High: true}},
		{"shared cost", risk.Stats{}, risk.FactsOf("+41840123456", ""), risk.Thresholds{}, risk.Assessment{Score: 30, Reasons: reasons(risk.SharedCost)}},
		{"VoIP", risk.Stats{}, risk.FactsOf("+445612345678", ""), risk.Thresholds{}, risk.Assessment{Score: 15, Reasons: reasons(risk.VoIP)}},
		{"possible but invalid", risk.Stats{}, risk.FactsOf("0001234567", "CH"), risk.Thresholds{}, risk.Assessment{Score: 25, Reasons: reasons(risk.InvalidNumber)}},
		{"an extension is no number", risk.Stats{}, risk.FactsOf("204", "CH"), risk.Thresholds{}, risk.Assessment{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := risk.Score(tt.stats, tt.facts, tt.th); got != tt.want {
				t.Errorf("Score = %+v (%v), want %+v (%v)", got, got.Reasons.Codes(), tt.want, tt.want.Reasons.Codes())
			}
		})
	}
}

func TestReasonsJSON(t *testing.T) {
	rs := reasons(risk.ManyTenants, risk.PremiumRate)
	b, err := json.Marshal(rs)
	if err != nil || string(b) != `["many_tenants","premium_rate"]` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	var back risk.Reasons
	if err := json.Unmarshal(b, &back); err != nil || back != rs {
		t.Fatalf("Unmarshal = %v, %v", back, err)
	}
	if got := string(rs.AppendCodes(nil)); got != "many_tenants,premium_rate" {
		t.Errorf("AppendCodes = %q", got)
	}
}

func TestThresholdsValidate(t *testing.T) {
	if err := (risk.Thresholds{}).Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	err := risk.Thresholds{High: 101, MinTenants: 1, ShortRatio: 1.5}.Validate()
	if err == nil || len(err.(interface{ Unwrap() []error }).Unwrap()) != 3 {
		t.Errorf("Validate = %v, want three problems", err)
	}
}

func TestBusinessHours(t *testing.T) {
	h, err := risk.ParseBusinessHours("Europe/Zurich", "08:00-18:00")
	if err != nil {
		t.Fatal(err)
	}
	monday := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		at      time.Time
		outside bool
	}{
		{monday.Add(7*time.Hour + 30*time.Minute), false}, // 08:30 in Zurich
		{monday.Add(6*time.Hour + 30*time.Minute), true},  // 07:30
		{monday.Add(17 * time.Hour), true},                // 18:00
		{monday.Add(-12 * time.Hour), true},               // Sunday noon
	} {
		if got := h.Outside(tt.at); got != tt.outside {
			t.Errorf("Outside(%s) = %v", tt.at, got)
		}
	}
	if _, err := risk.ParseBusinessHours("Mars/Olympus", "18:00-08:00"); err == nil {
		t.Error("a bad timezone and hours parse")
	}
	if !(risk.BusinessHours{}).Outside(monday.Add(-12*time.Hour)) || (risk.BusinessHours{}).Outside(monday.Add(12*time.Hour)) {
		t.Error("zero business hours are not the default ones")
	}
}

// cacheWith is a cache over a store where number rang tenants tenants once.
func cacheWith(t testing.TB, number string, tenants int) *risk.Cache {
	store, err := risk.NewMemory(risk.Window{})
	if err != nil {
		t.Fatal(err)
	}
	var obs []risk.Observation
	for i := range tenants {
		obs = append(obs, risk.Observation{Number: number, Tenant: string(rune('a' + i)), At: time.Now(), Call: true, Finished: true, Short: true})
	}
	// A caller of one call: no rule can fire, the snapshot leaves it out.
	obs = append(obs, risk.Observation{Number: "+41215522000", Tenant: "a", At: time.Now(), Call: true})
	if err := store.Record(t.Context(), obs); err != nil {
		t.Fatal(err)
	}
	c := risk.NewCache(store, risk.CacheConfig{}, nil)
	if err := c.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	return c
}

func candidates(t testing.TB, number string) []phone.Key {
	keys, err := phone.Candidates(number, phone.Options{Region: "CH"})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func TestCacheAssess(t *testing.T) {
	c := cacheWith(t, "+41791110000", 8)
	if got := c.Assess(candidates(t, "0791110000"), "CH", risk.Thresholds{}); got.Score != 85 || !got.High {
		t.Errorf("robocaller: %+v", got)
	}
	if got := c.Assess(candidates(t, "0791110000"), "CH", risk.Thresholds{MinTenants: 10, High: 90}); got.Score != 45 || got.High {
		t.Errorf("robocaller at a tenant's own thresholds: %+v", got)
	}
	if got := c.Assess(candidates(t, "0215522000"), "CH", risk.Thresholds{}); !got.IsZero() {
		t.Errorf("ordinary caller: %+v", got)
	}
	if got := c.Assess(candidates(t, "0001234567"), "CH", risk.Thresholds{}); got.Reasons != reasons(risk.InvalidNumber) {
		t.Errorf("invalid caller: %+v", got)
	}
}

// BenchmarkCacheAssess is the risk read on the lookup path: a snapshot map
// read and memoised facts, for a caller with and without a signal.
func BenchmarkCacheAssess(b *testing.B) {
	c := cacheWith(b, "+41791110000", 8)
	for _, n := range []string{"0791110000", "0215522000"} {
		keys := candidates(b, n)
		b.Run(n, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.Assess(keys, "CH", risk.Thresholds{})
			}
		})
	}
}

func TestMemoryStoreIsBounded(t *testing.T) {
	s, err := risk.NewMemory(risk.Window{MaxNumbers: 3})
	if err != nil {
		t.Fatal(err)
	}
	var obs []risk.Observation
	for i := range 5 {
		obs = append(obs, risk.Observation{Number: "+4179111000" + string(rune('0'+i)), Tenant: "a", At: time.Now(), Call: true})
	}
	if err := s.Record(t.Context(), obs); err != nil {
		t.Fatal(err)
	}
	top, err := s.Top(t.Context(), 10)
	if err != nil || len(top) != 3 {
		t.Errorf("Top = %v, %v; want the first 3 numbers only", top, err)
	}
}
