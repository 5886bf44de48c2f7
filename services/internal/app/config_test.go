package app

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestReadmeDocumentsEveryVariable keeps the README's environment table and
// Config's variables the same set: an undocumented variable, or a
// documented one Calldex no longer reads, fails.
func TestReadmeDocumentsEveryVariable(t *testing.T) {
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([A-Z][A-Z0-9_]+)` \\|")
	var documented []string
	for _, m := range row.FindAllStringSubmatch(string(readme), -1) {
		documented = append(documented, m[1])
	}
	read := EnvNames()
	slices.Sort(documented)
	slices.Sort(read)
	if !slices.Equal(documented, read) {
		t.Fatalf("README documents %v\nConfig reads      %v", documented, read)
	}
}

func TestFromEnvDefaultsAndErrors(t *testing.T) {
	c := DefaultConfig()
	if c.HTTPAddr != DefaultHTTPAddr || c.StreamReplicas != 1 || c.ShutdownTimeout != 25*time.Second || c.Roles != nil || !c.Demo() {
		t.Fatalf("defaults: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	env := map[string]string{
		"CALLDEX_ROLES":           "ingress,cook",
		"CALLDEX_STREAM_REPLICAS": "three",
		"CALLDEX_LOG_LEVEL":       "loud",
	}
	_, err := FromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err == nil {
		t.Fatal("malformed variables accepted")
	}
	for _, name := range []string{"CALLDEX_ROLES", "CALLDEX_STREAM_REPLICAS", "CALLDEX_LOG_LEVEL"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := DefaultConfig()
	c.Roles = Roles{RoleIngress}
	c.StreamReplicas = 7
	c.AppConnectSecret = "short"
	c.PprofAddr = "0.0.0.0:6060"
	err := c.Validate()
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{"set NATS_URL", "add the projector role or set REDIS_URL", "1 to 5 replicas", "at least 32", "loopback"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
}

func TestParseRoles(t *testing.T) {
	tests := []struct {
		in      string
		want    Roles
		all     bool
		wantErr bool
	}{
		{"", nil, true, false},
		{"all", nil, true, false},
		{"ingress", Roles{RoleIngress}, false, false},
		{"worker, sync,worker", Roles{RoleWorker, RoleSync}, false, false},
		{"projector,sync,worker,ingress", Roles{RoleProjector, RoleSync, RoleWorker, RoleIngress}, true, false},
		{"ingres", nil, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRoles(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v", err)
			}
			if err == nil && (!slices.Equal(got, tt.want) || got.All() != tt.all) {
				t.Fatalf("got %v all=%v", got, got.All())
			}
		})
	}
}

// Only a process with the in-process index holds a large heap: the
// garbage collector's settings follow from it (see services/calldex).
func TestIndexInHeap(t *testing.T) {
	for _, tt := range []struct {
		roles, redis string
		want         bool
	}{
		{"", "", true},
		{"", "redis://redis:6379/0", false},
		{"projector", "", true},
		{"ingress,projector", "", true},
		{"worker,sync", "", false},
		{"ingress", "redis://redis:6379/0", false},
	} {
		roles, err := ParseRoles(tt.roles)
		if err != nil {
			t.Fatal(err)
		}
		if got := (Config{Roles: roles, RedisURL: tt.redis}).IndexInHeap(); got != tt.want {
			t.Errorf("roles %q, REDIS_URL %q: IndexInHeap = %v, want %v", tt.roles, tt.redis, got, tt.want)
		}
	}
}
