package crmsync_test

import (
	"strings"
	"testing"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/metrics"
	"github.com/calldex/calldex/workflows/crmsync"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  crmsync.Config
		want []string // parts of the error; none: valid
	}{
		{name: "defaults", cfg: crmsync.Config{}},
		{name: "prefix", cfg: crmsync.Config{Topology: events.Topology{Prefix: "t1"}}},
		{name: "uppercase prefix, as ingress and worker take it", cfg: crmsync.Config{Topology: events.Topology{Prefix: "CI_T1"}}},
		{name: "everything wrong", cfg: crmsync.Config{
			Owner: "no spaces", Topology: events.Topology{Prefix: "A.B"}, LeasePeriod: time.Millisecond,
			MinBackoff: time.Second, MaxBackoff: time.Millisecond, PageTimeout: -1, DefaultRateLimit: -2,
		}, want: []string{"owner", "stream prefix", "leasePeriod", "maxBackoff", "pageTimeout", "defaultRateLimit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if tt.cfg.LeasePeriod != crmsync.DefaultLeasePeriod || tt.cfg.DefaultInterval != crmsync.DefaultInterval || tt.cfg.Owner == "" {
					t.Fatalf("defaults not applied: %+v", tt.cfg)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestParseSourceOptions(t *testing.T) {
	tests := []struct {
		name string
		opts map[string]any
		want crmsync.SourceOptions
		errs []string
	}{
		{name: "none: defaults", opts: map[string]any{"type": "hubspot", "token": "x"}, want: crmsync.SourceOptions{Sync: true}},
		{name: "all", opts: map[string]any{
			"sync": "true", "syncInterval": "10s", "rateLimit": "2.5", "webhookSecret": "s3cret",
			"webhookUser": "hook", "webhookPassword": "pw", "webhookURL": "https://calldex.example.com/webhooks/acme/crm",
		}, want: crmsync.SourceOptions{
			Sync: true, Interval: 10 * time.Second, RateLimit: 2.5, WebhookSecret: "s3cret",
			WebhookUser: "hook", WebhookPassword: "pw", WebhookURL: "https://calldex.example.com/webhooks/acme/crm",
		}},
		{name: "numbers", opts: map[string]any{"syncInterval": 60, "rateLimit": 3, "sync": false}, want: crmsync.SourceOptions{Interval: time.Minute, RateLimit: 3}},
		{name: "bad", opts: map[string]any{
			"sync": "maybe", "syncInterval": "-1s", "rateLimit": "fast", "webhookUser": "only", "webhookURL": "/relative",
		}, errs: []string{"option sync", "syncInterval", "rateLimit", "go together", "webhookURL"}},
		{name: "negative rate", opts: map[string]any{"rateLimit": -1.0}, errs: []string{"rateLimit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := crmsync.ParseSourceOptions(tt.opts)
			if len(tt.errs) == 0 {
				if err != nil || got != tt.want {
					t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error for %v", tt.opts)
			}
			for _, w := range tt.errs {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestConnectorOptionsDropsTheSyncOptions(t *testing.T) {
	in := map[string]any{"token": "x", "portalId": 1, "syncInterval": "5s", "rateLimit": 2, "webhookSecret": "s", "sync": true}
	out := crmsync.ConnectorOptions(in)
	if len(out) != 2 || out["token"] != "x" || out["portalId"] != 1 {
		t.Fatalf("ConnectorOptions = %v", out)
	}
	if len(in) != 6 {
		t.Fatal("the input was changed")
	}
}

func TestNewReportsEveryBadSource(t *testing.T) {
	h := newHarness(t, nil, map[string]any{"syncInterval": "soon"})
	h.tenants[0].Connectors["other"] = h.tenants[0].Connectors[srcName]
	_, err := crmsync.New(fastConfig(h, "r1"), crmsync.Deps{
		JS: h.env.JS, Cursors: h.env.Buckets.SyncCursors, Contacts: newPub(h.env.JS, h.env.Topology),
		Connectors: &builder{}, Tenants: h.tenants, Metrics: metrics.New(),
	})
	if err == nil || !strings.Contains(err.Error(), "connector crm: option syncInterval") || !strings.Contains(err.Error(), "connector other: option syncInterval") {
		t.Fatalf("want both bad connectors reported, got %v", err)
	}
	_, err = crmsync.New(fastConfig(h, "r1"), crmsync.Deps{})
	if err == nil || !strings.Contains(err.Error(), "required") {
		t.Fatalf("missing deps: %v", err)
	}
}
