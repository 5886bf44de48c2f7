package app

import (
	"bytes"
	"embed"
	"fmt"
	"os"
)

// demoFiles are the demo tenant's configuration and contacts, built into
// the binary so that the demo runs from any working directory.
// deploy/demo holds the same files for container images and calldexctl
// (a test keeps them equal).
//
//go:embed demo/calldex.yaml demo/contacts.ndjson
var demoFiles embed.FS

// Paths of the demo's files within DemoFiles.
const (
	demoConfigFile   = "demo/calldex.yaml"
	demoContactsFile = "demo/contacts.ndjson"
)

// DemoConfig is the demo tenants file (what runs when CALLDEX_CONFIG is
// not set).
func DemoConfig() []byte { return mustDemo(demoConfigFile) }

// DemoContacts are the demo contacts (NDJSON) seeded on a first start
// when CALLDEX_DEMO_CONTACTS is not set.
func DemoContacts() []byte { return mustDemo(demoContactsFile) }

func mustDemo(name string) []byte {
	b, err := demoFiles.ReadFile(name)
	if err != nil {
		panic(fmt.Sprintf("embedded %s: %v", name, err)) // a bug: go:embed names it
	}
	return b
}

// isDemoFile reports whether the tenants file at path is the demo's own
// (such as deploy/demo/calldex.yaml): it then runs as the demo, with its
// contacts and App Connect, rather than as a bare tenants file.
func isDemoFile(path string) bool {
	raw, err := os.ReadFile(path)
	return err == nil && bytes.Equal(bytes.TrimSpace(raw), bytes.TrimSpace(DemoConfig()))
}
