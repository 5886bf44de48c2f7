package app

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestDeployDemoEqualsEmbedded keeps deploy/demo (what images copy and
// calldexctl imports) equal to the demo built into the binary.
func TestDeployDemoEqualsEmbedded(t *testing.T) {
	for name, embedded := range map[string][]byte{"calldex.yaml": DemoConfig(), "contacts.ndjson": DemoContacts()} {
		deployed, err := os.ReadFile(filepath.Join("../../../deploy/demo", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(deployed, embedded) {
			t.Errorf("deploy/demo/%s differs from services/internal/app/demo/%s: copy one onto the other", name, name)
		}
	}
	if !isDemoFile("../../../deploy/demo/calldex.yaml") {
		t.Error("deploy/demo/calldex.yaml is not recognised as the demo")
	}
	other := filepath.Join(t.TempDir(), "calldex.yaml")
	if err := os.WriteFile(other, append([]byte("# changed\n"), DemoConfig()...), 0o600); err != nil {
		t.Fatal(err)
	}
	if isDemoFile(other) || isDemoFile(filepath.Join(t.TempDir(), "missing.yaml")) {
		t.Error("a changed or missing file is taken for the demo")
	}
}
