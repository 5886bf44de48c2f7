package check

import (
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

// rendered are the objects of a rendered chart, by kind.
type rendered struct {
	deployments map[string]appsv1.Deployment
	secrets     map[string]corev1.Secret
	configMaps  map[string]corev1.ConfigMap
	services    map[string]corev1.Service
	hpas        map[string]autoscalingv2.HorizontalPodAutoscaler
	pdbs        map[string]policyv1.PodDisruptionBudget
	other       map[string]map[string]any // kind → name → object
}

// valuesFile reads a values file ("" for the chart's defaults only).
func valuesFile(t *testing.T, file string) map[string]any {
	t.Helper()
	if file == "" {
		return map[string]any{}
	}
	b, err := os.ReadFile(filepath.Join(root, file))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return v
}

// render renders the chart as `helm template calldex deploy/helm/calldex
// -f file` does, after `helm lint` passed for the same values.
func render(t *testing.T, vals map[string]any) rendered {
	t.Helper()
	dir := filepath.Join(root, chartDir)
	linter := lint.RunAll(dir, vals, "calldex")
	for _, m := range linter.Messages {
		if m.Severity >= support.WarningSev {
			t.Errorf("helm lint: %s", m)
		}
	}
	ch, err := loader.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	rv, err := util.ToRenderValues(ch, vals, common.ReleaseOptions{Name: "calldex", Namespace: "calldex", IsInstall: true}, common.DefaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	files, err := engine.Render(ch, rv)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	r := rendered{
		deployments: map[string]appsv1.Deployment{}, secrets: map[string]corev1.Secret{},
		configMaps: map[string]corev1.ConfigMap{}, services: map[string]corev1.Service{},
		hpas: map[string]autoscalingv2.HorizontalPodAutoscaler{}, pdbs: map[string]policyv1.PodDisruptionBudget{},
		other: map[string]map[string]any{},
	}
	for name, content := range files {
		if path.Ext(name) != ".yaml" {
			continue
		}
		for _, doc := range strings.Split(content, "\n---") {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			var meta struct {
				Kind     string `json:"kind"`
				Metadata struct {
					Name string `json:"name"`
				} `json:"metadata"`
			}
			if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
				t.Fatalf("%s: %v\n%s", name, err, doc)
			}
			if meta.Kind == "" {
				continue
			}
			n := meta.Metadata.Name
			var err error
			switch meta.Kind {
			case "Deployment":
				var o appsv1.Deployment
				err = yaml.UnmarshalStrict([]byte(doc), &o)
				r.deployments[n] = o
			case "Secret":
				var o corev1.Secret
				err = yaml.UnmarshalStrict([]byte(doc), &o)
				r.secrets[n] = o
			case "ConfigMap":
				var o corev1.ConfigMap
				err = yaml.UnmarshalStrict([]byte(doc), &o)
				r.configMaps[n] = o
			case "Service":
				var o corev1.Service
				err = yaml.UnmarshalStrict([]byte(doc), &o)
				r.services[n] = o
			case "HorizontalPodAutoscaler":
				var o autoscalingv2.HorizontalPodAutoscaler
				err = yaml.UnmarshalStrict([]byte(doc), &o)
				r.hpas[n] = o
			case "PodDisruptionBudget":
				var o policyv1.PodDisruptionBudget
				err = yaml.UnmarshalStrict([]byte(doc), &o)
				r.pdbs[n] = o
			default:
				var o map[string]any
				err = yaml.Unmarshal([]byte(doc), &o)
				if r.other[meta.Kind] == nil {
					r.other[meta.Kind] = map[string]any{}
				}
				r.other[meta.Kind][n] = o
			}
			if err != nil {
				t.Fatalf("%s: %s %s: %v", name, meta.Kind, n, err)
			}
		}
	}
	return r
}

func envValue(c corev1.Container, name string) (string, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value, true
		}
	}
	return "", false
}

func TestHelmChart(t *testing.T) {
	known := knownEnv(t)
	for _, tc := range []struct {
		name, file string
		monitoring bool
		// envSecret is the Secret of envFrom when the values name an
		// existing one (which the chart does not render).
		envSecret string
	}{
		{name: "default", file: ""},
		{name: "cluster", file: "deploy/helm/values-cluster.yaml", monitoring: true, envSecret: "calldex-env"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vals := valuesFile(t, tc.file)
			r := render(t, vals)
			if len(r.deployments) != len(composeRoles) {
				t.Errorf("%d Deployments, want one per role: %v", len(r.deployments), sortedKeys(setOf(r.deployments)))
			}
			for role := range composeRoles {
				d, ok := r.deployments["calldex-"+role]
				if !ok {
					t.Errorf("no Deployment calldex-%s", role)
					continue
				}
				checkDeployment(t, r, d, role, known, tc.envSecret)
			}
			ingress := r.deployments["calldex-ingress"]
			if hpa, ok := r.hpas["calldex-ingress"]; !ok {
				t.Error("no HorizontalPodAutoscaler for the ingress")
			} else {
				if hpa.Spec.ScaleTargetRef.Name != "calldex-ingress" || hpa.Spec.ScaleTargetRef.Kind != "Deployment" {
					t.Errorf("HPA targets %+v", hpa.Spec.ScaleTargetRef)
				}
				if ingress.Spec.Replicas != nil {
					t.Error("the ingress Deployment sets replicas beside its HPA")
				}
			}
			if len(r.hpas) != 1 {
				t.Errorf("HPAs %v, want the ingress's only", sortedKeys(setOf(r.hpas)))
			}
			for _, role := range []string{"ingress", "worker"} {
				pdb, ok := r.pdbs["calldex-"+role]
				if !ok {
					t.Errorf("no PodDisruptionBudget for %s", role)
					continue
				}
				sel := pdb.Spec.Selector.MatchLabels
				if sel["app.kubernetes.io/component"] != role || !labelsMatch(sel, r.deployments["calldex-"+role].Spec.Template.Labels) {
					t.Errorf("PDB %s selects %v", role, sel)
				}
			}
			dash, ok := r.configMaps["calldex-dashboard"]
			if !ok {
				t.Fatal("no dashboard ConfigMap")
			}
			want, err := os.ReadFile(filepath.Join(root, dashboardFile))
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid([]byte(dash.Data["calldex-dashboard.json"])) || strings.TrimSpace(dash.Data["calldex-dashboard.json"]) != strings.TrimSpace(string(want)) {
				t.Error("dashboard ConfigMap does not hold files/calldex-dashboard.json")
			}
			sm := r.other["ServiceMonitor"]["calldex"]
			pr := r.other["PrometheusRule"]["calldex"]
			if tc.monitoring != (sm != nil) || tc.monitoring != (pr != nil) {
				t.Errorf("ServiceMonitor %v, PrometheusRule %v: want both %v", sm != nil, pr != nil, tc.monitoring)
			}
			if sm != nil {
				checkServiceMonitor(t, r, sm)
			}
			if pr != nil {
				groups, _ := pr.(map[string]any)["spec"].(map[string]any)["groups"].([]any)
				if len(groups) == 0 {
					t.Error("PrometheusRule without groups")
				}
			}
		})
	}
}

func labelsMatch(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return len(selector) > 0
}

func checkDeployment(t *testing.T, r rendered, d appsv1.Deployment, role string, known map[string]bool, envSecret string) {
	t.Helper()
	spec := d.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("%s: %d containers", role, len(spec.Containers))
	}
	c := spec.Containers[0]
	if v, _ := envValue(c, "CALLDEX_ROLES"); v != role {
		t.Errorf("%s: CALLDEX_ROLES=%q", role, v)
	}
	if v, _ := envValue(c, "CALLDEX_HTTP_ADDR"); v != ":8080" {
		t.Errorf("%s: CALLDEX_HTTP_ADDR=%q", role, v)
	}
	if v, _ := envValue(c, "CALLDEX_STREAM_REPLICAS"); v != "3" {
		t.Errorf("%s: CALLDEX_STREAM_REPLICAS=%q", role, v)
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 8080 {
		t.Errorf("%s: ports %+v", role, c.Ports)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port.String() != "http" {
			t.Errorf("%s: %s probe %+v, want GET %s on port http", role, p.name, p.probe, p.path)
		}
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
		t.Errorf("%s: no CPU and memory requests", role)
	}
	if spec.SecurityContext == nil || spec.SecurityContext.RunAsNonRoot == nil || !*spec.SecurityContext.RunAsNonRoot {
		t.Errorf("%s: not runAsNonRoot", role)
	}

	// The tenants Secret, mounted where CALLDEX_CONFIG points.
	cfg, _ := envValue(c, "CALLDEX_CONFIG")
	var tenants string
	for _, m := range c.VolumeMounts {
		if m.MountPath != path.Dir(cfg) {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name != m.Name || v.Secret == nil {
				continue
			}
			s, ok := r.secrets[v.Secret.SecretName]
			if !ok {
				t.Errorf("%s: mounts Secret %s, which the chart does not render", role, v.Secret.SecretName)
				continue
			}
			for _, it := range v.Secret.Items {
				if it.Path == path.Base(cfg) {
					tenants = s.StringData[it.Key]
				}
			}
		}
	}
	if tenants == "" {
		t.Fatalf("%s: CALLDEX_CONFIG=%s is not a tenants Secret's file", role, cfg)
	}
	refs := map[string]bool{}
	for _, m := range varRef.FindAllStringSubmatch(tenants, -1) {
		refs[m[1]] = true
	}

	// Every variable reaching the process: env and the envFrom Secret.
	names := map[string]bool{}
	for _, e := range c.Env {
		names[e.Name] = true
	}
	for _, from := range c.EnvFrom {
		if from.SecretRef == nil {
			t.Errorf("%s: envFrom %+v: only Secrets expected", role, from)
			continue
		}
		s, ok := r.secrets[from.SecretRef.Name]
		switch {
		case ok:
			for k := range s.StringData {
				names[k] = true
			}
		case from.SecretRef.Name == envSecret:
			// Created beside the release; the values file documents its keys.
			for ref := range refs {
				names[ref] = true
			}
		default:
			t.Errorf("%s: envFrom Secret %s is not rendered", role, from.SecretRef.Name)
		}
	}
	for n := range names {
		if !known[n] && !refs[n] {
			t.Errorf("%s: %s is neither read by Calldex (calldex --list-env) nor referenced by the tenants file", role, n)
		}
	}
	for ref := range refs {
		if !names[ref] {
			t.Errorf("%s: tenants file references ${%s}, which the Deployment does not set", role, ref)
		}
	}
}

func checkServiceMonitor(t *testing.T, r rendered, sm any) {
	t.Helper()
	spec, _ := sm.(map[string]any)["spec"].(map[string]any)
	sel := map[string]string{}
	if ml, ok := spec["selector"].(map[string]any)["matchLabels"].(map[string]any); ok {
		for k, v := range ml {
			sel[k], _ = v.(string)
		}
	}
	var ports []string
	for _, e := range spec["endpoints"].([]any) {
		ep := e.(map[string]any)
		ports = append(ports, ep["port"].(string))
		if ep["path"] != "/metrics" {
			t.Errorf("ServiceMonitor endpoint path %v", ep["path"])
		}
	}
	for role := range composeRoles {
		svc, ok := r.services["calldex-"+role]
		if !ok {
			t.Errorf("no Service calldex-%s for the ServiceMonitor", role)
			continue
		}
		if !labelsMatch(sel, svc.Labels) {
			t.Errorf("ServiceMonitor selector %v misses Service %s %v", sel, svc.Name, svc.Labels)
		}
		if !labelsMatch(svc.Spec.Selector, r.deployments["calldex-"+role].Spec.Template.Labels) {
			t.Errorf("Service %s selects %v, not the %s pods", svc.Name, svc.Spec.Selector, role)
		}
		if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return slices.Contains(ports, p.Name) }) {
			t.Errorf("Service %s has no port named %v", svc.Name, ports)
		}
	}
}
