package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuildRefusesWhatConfigCheckReports: a workflow whose connector
// cannot run its action stops the start, before any part is built,
// instead of dead-lettering every call later.
func TestBuildRefusesWhatConfigCheckReports(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tenants.yaml")
	if err := os.WriteFile(path, []byte(`admin:
  token: admin-token-123
tenants:
  - id: acme
    region: CH
    credentials:
      - {header: X-Token, value: acme-token-1}
    workflows:
      Ticket: {action: createTicket, connector: peer}
    connectors:
      peer: {type: upstream, url: "https://peer.example", token: tok}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.TenantsFile, cfg.DataDir, cfg.HTTPAddr, cfg.EmbeddedNATSAddr = path, dir, "127.0.0.1:0", "127.0.0.1:0"
	_, err := Build(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "line 9: tenant 0 (acme): workflow Ticket: connector peer (upstream) cannot createTicket") {
		t.Fatalf("Build: %v", err)
	}
}
