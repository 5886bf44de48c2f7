package check

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"gopkg.in/yaml.v3"
)

// roles are Calldex's roles; the compose file runs each as the service of
// the same name, with these replicas.
var composeRoles = map[string]int{"ingress": 2, "worker": 2, "sync": 1, "projector": 1}

func loadCompose(t *testing.T, profiles ...string) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root), cli.WithName("calldex"), cli.WithProfiles(profiles),
		// Only the compose files and their env files: not this shell's environment.
		cli.WithEnv([]string{}))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("load docker-compose.yml (profiles %v): %v", profiles, err)
	}
	return p
}

// calldexServices are the services running the calldex binary by role.
func calldexServices(p *types.Project) map[string]types.ServiceConfig {
	out := map[string]types.ServiceConfig{}
	for name, s := range p.Services {
		if _, ok := s.Environment["CALLDEX_ROLES"]; ok {
			out[name] = s
		}
	}
	return out
}

func env(s types.ServiceConfig, k string) string {
	if v := s.Environment[k]; v != nil {
		return *v
	}
	return ""
}

// hostPath is the host file mounted at target in s ("" if none).
func hostPath(s types.ServiceConfig, target string) string {
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeBind && v.Target == target {
			return v.Source
		}
	}
	return ""
}

var varRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// tenantsFileVars are the ${VAR} references of a tenants file.
func tenantsFileVars(t *testing.T, path string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]bool{}
	for _, m := range varRef.FindAllStringSubmatch(string(b), -1) {
		vars[m[1]] = true
	}
	return vars
}

func TestComposeRolesAndReplicas(t *testing.T) {
	p := loadCompose(t)
	services := calldexServices(p)
	if len(services) != len(composeRoles) {
		t.Errorf("calldex services %v, want one per role %v", sortedKeys(setOf(services)), composeRoles)
	}
	for role, replicas := range composeRoles {
		s, ok := services[role]
		if !ok {
			t.Errorf("no service %s running CALLDEX_ROLES=%s", role, role)
			continue
		}
		if got := env(s, "CALLDEX_ROLES"); got != role {
			t.Errorf("%s: CALLDEX_ROLES=%q", role, got)
		}
		if got := s.GetScale(); got != replicas {
			t.Errorf("%s: %d replicas, want %d", role, got, replicas)
		}
		if s.Build == nil || s.Build.Dockerfile != "Dockerfile" || filepath.Clean(s.Build.Context) != root {
			t.Errorf("%s: not built from the repository's Dockerfile: %+v", role, s.Build)
		}
		if got := env(s, "CALLDEX_STREAM_REPLICAS"); got != "3" {
			t.Errorf("%s: CALLDEX_STREAM_REPLICAS=%q, want 3", role, got)
		}
		if got := env(s, "CALLDEX_HTTP_ADDR"); got != ":8080" {
			t.Errorf("%s: CALLDEX_HTTP_ADDR=%q, want :8080", role, got)
		}
		if s.HealthCheck == nil || !strings.Contains(strings.Join(s.HealthCheck.Test, " "), "http://127.0.0.1:8080/readyz") {
			t.Errorf("%s: healthcheck %v does not probe /readyz", role, s.HealthCheck)
		}
		if cfg := env(s, "CALLDEX_CONFIG"); hostPath(s, cfg) == "" {
			t.Errorf("%s: CALLDEX_CONFIG=%s is not a file mounted from the repository", role, cfg)
		} else if rel, _ := filepath.Rel(root, hostPath(s, cfg)); !strings.HasPrefix(rel, "deploy/compose/") {
			t.Errorf("%s: tenants file %s not from deploy/compose/", role, rel)
		}
	}
}

func setOf[V any](m map[string]V) map[string]bool {
	out := map[string]bool{}
	for k := range m {
		out[k] = true
	}
	return out
}

// TestComposeEnvKnownToConfig: every variable given to a Calldex process is
// one its configuration reads (calldex --list-env) or one its tenants file
// references; every reference of the tenants file is given.
func TestComposeEnvKnownToConfig(t *testing.T) {
	known := knownEnv(t)
	for _, profiles := range [][]string{nil, {"sentinel"}} {
		p := loadCompose(t, profiles...)
		for name, s := range p.Services {
			cfg := env(s, "CALLDEX_CONFIG")
			if cfg == "" {
				continue // not a Calldex process
			}
			refs := tenantsFileVars(t, hostPath(s, cfg))
			for k := range s.Environment {
				if !known[k] && !refs[k] {
					t.Errorf("%s (profiles %v): %s is neither read by Calldex (calldex --list-env) nor referenced by its tenants file", name, profiles, k)
				}
			}
			for ref := range refs {
				if _, ok := s.Environment[ref]; !ok {
					t.Errorf("%s: tenants file references ${%s}, which the service does not set", name, ref)
				}
			}
		}
	}
}

// TestComposeHealthchecks: every service has a healthcheck; a one-shot job
// says so by disabling it, and nothing waits for it to be healthy.
func TestComposeHealthchecks(t *testing.T) {
	p := loadCompose(t, "sentinel")
	for name, s := range p.Services {
		oneShot := s.Restart == types.RestartPolicyNo
		switch {
		case s.HealthCheck == nil:
			t.Errorf("%s: no healthcheck", name)
		case s.HealthCheck.Disable && !oneShot:
			t.Errorf("%s: healthcheck disabled on a long-running service", name)
		case !s.HealthCheck.Disable && len(s.HealthCheck.Test) == 0:
			t.Errorf("%s: healthcheck without a test", name)
		}
		for dep, d := range s.DependsOn {
			other := p.Services[dep]
			if d.Condition == types.ServiceConditionHealthy && (other.HealthCheck == nil || other.HealthCheck.Disable) {
				t.Errorf("%s waits for %s to be healthy, which has no healthcheck", name, dep)
			}
		}
	}
	if s := p.Services["redis"]; !slices.Contains(s.Command, "/etc/redis/redis.conf") {
		t.Errorf("redis: command %v does not read its config", s.Command)
	}
	b, err := os.ReadFile(hostPath(p.Services["redis"], "/etc/redis/redis.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^appendonly yes$`).Match(b) {
		t.Error("redis.conf: no appendonly yes")
	}
	for _, s := range []string{"redis-replica", "sentinel-1", "sentinel-2", "sentinel-3"} {
		if svc, ok := p.Services[s]; !ok || !slices.Contains(svc.Profiles, "sentinel") {
			t.Errorf("%s: not a service of profile sentinel", s)
		}
	}
}

// TestComposeNATSCluster: the NATS nodes' configuration (parsed by
// nats-server itself) names each node once, routes every node to every
// other, and stores JetStream on the node's own volume; Calldex seeds every
// node.
func TestComposeNATSCluster(t *testing.T) {
	p := loadCompose(t)
	nodes := map[string]types.ServiceConfig{}
	for name, s := range p.Services {
		if strings.HasPrefix(s.Image, "nats:") {
			nodes[name] = s
		}
	}
	if len(nodes) != 3 {
		t.Fatalf("%d NATS services, want 3: %v", len(nodes), sortedKeys(setOf(nodes)))
	}
	var clusterName string
	for name, s := range nodes {
		conf := hostPath(s, "/etc/nats/nats.conf")
		if conf == "" || !slices.Contains(s.Command, "/etc/nats/nats.conf") {
			t.Fatalf("%s: does not run with /etc/nats/nats.conf from the repository (command %v)", name, s.Command)
		}
		for k, v := range s.Environment {
			t.Setenv(k, *v)
		}
		o, err := natsserver.ProcessConfigFile(conf)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if o.ServerName != name {
			t.Errorf("%s: server_name %q", name, o.ServerName)
		}
		if !o.JetStream {
			t.Errorf("%s: JetStream off", name)
		}
		if v := volumeAt(s, o.StoreDir); v == nil || v.Type != types.VolumeTypeVolume {
			t.Errorf("%s: store_dir %s is not on a named volume", name, o.StoreDir)
		} else if v.Source != name+"-data" {
			t.Errorf("%s: store_dir on volume %s, want its own %s-data", name, v.Source, name)
		}
		if clusterName == "" {
			clusterName = o.Cluster.Name
		}
		if o.Cluster.Name == "" || o.Cluster.Name != clusterName {
			t.Errorf("%s: cluster name %q, others %q", name, o.Cluster.Name, clusterName)
		}
		routed := map[string]bool{}
		for _, r := range o.Routes {
			if r.Port() != itoa(o.Cluster.Port) {
				t.Errorf("%s: route %s not to the cluster port %d", name, r, o.Cluster.Port)
			}
			routed[r.Hostname()] = true
		}
		for other := range nodes {
			if other != name && !routed[other] {
				t.Errorf("%s: no route to %s (routes %v)", name, other, o.Routes)
			}
		}
		for host := range routed {
			if _, ok := nodes[host]; !ok {
				t.Errorf("%s: route to %s, which is no NATS service", name, host)
			}
		}
		if s.HealthCheck == nil || !strings.Contains(strings.Join(s.HealthCheck.Test, " "), ":"+itoa(o.HTTPPort)+"/healthz") {
			t.Errorf("%s: healthcheck %v does not ask the monitoring port %d", name, s.HealthCheck, o.HTTPPort)
		}
	}
	for name, s := range calldexServices(p) {
		seeded := map[string]bool{}
		for _, u := range strings.Split(env(s, "NATS_URL"), ",") {
			host, _, err := net.SplitHostPort(strings.TrimPrefix(u, "nats://"))
			if err != nil {
				t.Errorf("%s: NATS_URL %s: %v", name, u, err)
			}
			seeded[host] = true
		}
		for node := range nodes {
			if !seeded[node] {
				t.Errorf("%s: NATS_URL %s does not list %s", name, env(s, "NATS_URL"), node)
			}
		}
	}
}

func volumeAt(s types.ServiceConfig, target string) *types.ServiceVolumeConfig {
	for i, v := range s.Volumes {
		if v.Target == target {
			return &s.Volumes[i]
		}
	}
	return nil
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestComposePrometheusTargets: Prometheus scrapes exactly the Calldex
// services, every replica (DNS A records), on their HTTP port, and loads
// the chart's alert rules; Grafana gets the chart's dashboard.
func TestComposePrometheusTargets(t *testing.T) {
	p := loadCompose(t)
	prom, ok := p.Services["prometheus"]
	if !ok {
		t.Fatal("no prometheus service")
	}
	var cfg struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName     string `yaml:"job_name"`
			MetricsPath string `yaml:"metrics_path"`
			DNSSD       []struct {
				Names []string `yaml:"names"`
				Type  string   `yaml:"type"`
				Port  int      `yaml:"port"`
			} `yaml:"dns_sd_configs"`
			Static []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	b, err := os.ReadFile(hostPath(prom, "/etc/prometheus/prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	scraped := map[string]bool{}
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.Static {
			for _, target := range st.Targets {
				host, _, _ := net.SplitHostPort(target)
				scraped[host] = true
			}
		}
		for _, d := range sc.DNSSD {
			if d.Type != "A" {
				t.Errorf("job %s: dns_sd type %s, want A (one record per replica)", sc.JobName, d.Type)
			}
			for _, n := range d.Names {
				scraped[n] = true
				if s, ok := p.Services[n]; ok {
					if _, port, _ := net.SplitHostPort(env(s, "CALLDEX_HTTP_ADDR")); port != itoa(d.Port) {
						t.Errorf("job %s scrapes %s on port %d, it serves on %s", sc.JobName, n, d.Port, port)
					}
				}
			}
			if sc.MetricsPath != "/metrics" {
				t.Errorf("job %s: metrics_path %q", sc.JobName, sc.MetricsPath)
			}
		}
	}
	if want := setOf(calldexServices(p)); !equalSets(scraped, want) {
		t.Errorf("Prometheus scrapes %v, Calldex services are %v", sortedKeys(scraped), sortedKeys(want))
	}
	rules := ""
	for _, v := range prom.Volumes {
		if strings.HasPrefix(v.Target, "/etc/prometheus/rules/") {
			rules = v.Source
		}
	}
	if rules != filepath.Join(root, alertsFile) {
		t.Errorf("prometheus: rules mounted from %q, want %s", rules, alertsFile)
	}
	if len(cfg.RuleFiles) == 0 {
		t.Error("prometheus.yml: no rule_files")
	}
	grafana := p.Services["grafana"]
	found := false
	for _, v := range grafana.Volumes {
		if v.Source == filepath.Join(root, dashboardFile) {
			found = true
		}
	}
	if !found {
		t.Errorf("grafana: %s not mounted", dashboardFile)
	}
}

func equalSets(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}
