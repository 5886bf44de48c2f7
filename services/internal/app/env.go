package app

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/calldex/calldex/shared/tenant"
)

// Defaults of the embedded default.
const (
	DefaultHTTPAddr   = "127.0.0.1:8080"
	DefaultNATSAddr   = "127.0.0.1:4250"
	DefaultDataDir    = "./data"
	DemoConfig        = "deploy/demo/calldex.yaml"
	DemoContacts      = "deploy/demo/contacts.ndjson"
	DemoTenant        = "demo"
	DemoToken         = "demo-token"
	DemoAdminToken    = "demo-admin-token"
	DemoExecuteHeader = "X-Execution-Token"
	// DemoAppConnectSecret signs the demo's App Connect sessions; a real
	// deployment sets CALLDEX_APPCONNECT_SECRET.
	DemoAppConnectSecret = "calldex-demo-app-connect-secret-not-for-production"
)

// FromEnv reads Options from the environment:
//
//	CALLDEX_CONFIG       tenants file (default: the demo config, seeded with demo contacts)
//	CALLDEX_HTTP_ADDR    HTTP listen address (127.0.0.1:8080)
//	CALLDEX_DATA_DIR     embedded JetStream store and demo CRM (./data)
//	CALLDEX_NATS_ADDR    embedded NATS listen address (127.0.0.1:4250)
//	NATS_URL             external NATS instead of the embedded one
//	REDIS_URL            Redis index instead of the in-process one
//	CALLDEX_REDIS_PREFIX Redis key prefix (cdx)
//	CALLDEX_STREAM_PREFIX prefix of streams, subjects and buckets ("")
//	CALLDEX_PROJECTOR    "false" to not project CONTACTS in this process
//	CALLDEX_SYNC         "false" to not run the CRM sync in this process
//	CALLDEX_APPCONNECT_SECRET  signs App Connect sessions (≥32 bytes); unset disables /appconnect
func FromEnv(log *slog.Logger) (Options, bool, error) {
	o := Options{
		HTTPAddr:         env("CALLDEX_HTTP_ADDR", DefaultHTTPAddr),
		DataDir:          env("CALLDEX_DATA_DIR", DefaultDataDir),
		EmbeddedNATSAddr: env("CALLDEX_NATS_ADDR", DefaultNATSAddr),
		NATSURL:          os.Getenv("NATS_URL"),
		RedisURL:         os.Getenv("REDIS_URL"),
		RedisPrefix:      env("CALLDEX_REDIS_PREFIX", "cdx"),
		StreamPrefix:     os.Getenv("CALLDEX_STREAM_PREFIX"),
		Projector:        os.Getenv("CALLDEX_PROJECTOR") != "false",
		AppConnectSecret: os.Getenv("CALLDEX_APPCONNECT_SECRET"),
		Sync:             os.Getenv("CALLDEX_SYNC") != "false",
		Log:              log,
	}
	dataDir, err := filepath.Abs(o.DataDir)
	if err != nil {
		return o, false, fmt.Errorf("CALLDEX_DATA_DIR: %w", err)
	}
	o.DataDir = dataDir
	// ${CALLDEX_DATA_DIR} in a config means the resolved data directory.
	getenv := func(k string) (string, bool) {
		if k == "CALLDEX_DATA_DIR" {
			return dataDir, true
		}
		return os.LookupEnv(k)
	}
	path, demo := os.Getenv("CALLDEX_CONFIG"), false
	if path == "" {
		path, demo = DemoConfig, true
		o.Seed, o.SeedTenant = env("CALLDEX_DEMO_CONTACTS", DemoContacts), DemoTenant
		if o.AppConnectSecret == "" {
			o.AppConnectSecret = DemoAppConnectSecret
		}
	}
	cfg, err := tenant.Load(path, getenv)
	if err != nil {
		if demo {
			return o, demo, fmt.Errorf("demo config (run from the repository root, or set CALLDEX_CONFIG): %w", err)
		}
		return o, demo, fmt.Errorf("CALLDEX_CONFIG %s: %w", path, err)
	}
	o.Config = cfg
	return o, demo, nil
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
