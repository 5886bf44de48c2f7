package hubspot

import (
	"strings"
	"testing"
	"time"
)

func TestFromOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    map[string]any
		want    func(Config) bool
		wantErr []string // substrings, all reported at once
	}{
		{
			name: "minimal, defaults applied",
			opts: map[string]any{"type": "hubspot", "token": "pat", "portalId": 62515},
			want: func(c Config) bool {
				return c.Token == "pat" && c.PortalID == 62515 && c.BaseURL == DefaultBaseURL && c.AppURL == DefaultAppURL &&
					c.Source == "hubspot" && c.Timeout == DefaultTimeout && c.PageSize == DefaultPageSize &&
					c.SyncOverlap == time.Minute && c.ArchivedSweepInterval == time.Hour &&
					c.TicketPipeline == "0" && c.TicketStage == "1"
			},
		},
		{
			name: "everything set, portalId as a string, durations as text and seconds",
			opts: map[string]any{
				"token": "pat", "portalId": "62515", "baseURL": "http://hubspot.internal:8080", "appURL": "https://app-eu1.hubspot.com",
				"source": "hs-eu", "crmLogo": "https://x/logo.png", "timeout": "3s", "pageSize": 200, "syncOverlap": 30,
				"archivedSweepInterval": "6h", "callKeyProperty": "calldex_key", "ticketKeyProperty": "calldex_key",
				"ticketPipeline": "12", "ticketStage": 34,
			},
			want: func(c Config) bool {
				return c.PortalID == 62515 && c.BaseURL == "http://hubspot.internal:8080" && c.AppURL == "https://app-eu1.hubspot.com" &&
					c.Source == "hs-eu" && c.Timeout == 3*time.Second && c.PageSize == 200 && c.SyncOverlap == 30*time.Second &&
					c.ArchivedSweepInterval == 6*time.Hour && c.CallKeyProperty == "calldex_key" && c.TicketStage == "34"
			},
		},
		{
			name:    "missing token and portal",
			opts:    map[string]any{},
			wantErr: []string{"token is required", "portalId is required"},
		},
		{
			name: "every problem at once",
			opts: map[string]any{
				"token": "pat", "portalId": 1.5, "baseURL": "api.hubapi.com", "pageSize": 500, "timeout": "soon",
				"source": "Bad Source", "archivedSweepInterval": "10s", "portalID": 3,
			},
			wantErr: []string{"option portalId", "option timeout", "baseURL", "pageSize 500", "source", "archivedSweepInterval", "option portalID: unknown option"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := FromOptions(tt.opts)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("FromOptions: %v", err)
				}
				if !tt.want(c) {
					t.Errorf("config %+v", c)
				}
				return
			}
			if err == nil {
				t.Fatalf("FromOptions accepted %v", tt.opts)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
