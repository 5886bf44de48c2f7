package check

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Services of this machine the local topology runs against, in place of
// the compose file's nats-1…3, redis and postgres: where NATS_URL,
// REDIS_URL and POSTGRES_DSN say, as for every test of the project.
var (
	localNATS     = envOr("NATS_URL", "nats://127.0.0.1:4222")
	localRedis    = envOr("REDIS_URL", "redis://127.0.0.1:6379/0")
	localPostgres = envOr("POSTGRES_DSN", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
)

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// hostOf is the host:port of a service URL.
func hostOf(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		t.Fatalf("service URL %q: %v", raw, err)
	}
	return u.Host
}

// topology is the compose deployment run as local processes: one process
// per Calldex service of docker-compose.yml (its environment as compose
// gives it, addresses of this machine in place of the compose hosts), the
// seed job, and the demo CRM in a schema of the local PostgreSQL.
type topology struct {
	ingress string            // base URL of the ingress
	bases   map[string]string // role → base URL
	schema  string            // PostgreSQL schema of the demo CRM
}

// roleOrder is the order the topology starts the roles in.
var roleOrder = []string{"projector", "worker", "sync", "ingress"}

func startTopology(t *testing.T) *topology {
	t.Helper()
	needService(t, "NATS", hostOf(t, localNATS))
	needService(t, "Redis", hostOf(t, localRedis))
	needService(t, "PostgreSQL", hostOf(t, localPostgres))
	p := loadCompose(t)
	id := randomID(t)
	prefix := "cdxdeploy" + id + "_"
	tp := &topology{bases: map[string]string{}, schema: "calldex_deploy_" + id}

	psql(t, "CREATE SCHEMA "+tp.schema)
	t.Cleanup(func() {
		psqlQuiet("DROP SCHEMA IF EXISTS " + tp.schema + " CASCADE")
		dropStreams(prefix)
		dropRedisKeys(prefix)
	})
	dsn := localPostgres + "&search_path=" + tp.schema

	local := func(name string, s types.ServiceConfig) []string {
		var env []string
		for k, v := range s.Environment {
			val := ""
			if v != nil {
				val = *v
			}
			switch k {
			case "NATS_URL":
				val = localNATS
			case "REDIS_URL":
				val = localRedis
			case "CALLDEX_CONFIG":
				val = hostPath(s, val)
			case "CALLDEX_STREAM_REPLICAS":
				val = "1" // one local server
			case "DEMO_CRM_DSN":
				val = dsn
			case "CALLDEX_HTTP_ADDR":
				addr := freeAddr(t)
				val = addr
				tp.bases[name] = "http://" + addr
			}
			env = append(env, k+"="+val)
		}
		return append(env, "CALLDEX_STREAM_PREFIX="+prefix, "CALLDEX_REDIS_PREFIX="+prefix)
	}

	var procs []*process
	for _, name := range roleOrder {
		s, ok := p.Services[name]
		if !ok {
			t.Fatalf("compose file has no service %s", name)
		}
		env := append(local(name, s), "CALLDEX_DATA_DIR="+t.TempDir())
		pr := start(t, name, t.TempDir(), env, bin("calldex"))
		t.Cleanup(func() {
			if !pr.stop(20 * time.Second) {
				t.Errorf("%s did not stop within 20 s of SIGTERM\n%s", name, pr.tail())
			}
		})
		procs = append(procs, pr)
	}
	tp.ingress = tp.bases["ingress"]
	for i, name := range roleOrder {
		waitReady(t, procs[i], tp.bases[name], 90*time.Second)
	}

	// The seed job, as compose runs it, against the local services.
	seed := p.Services["seed"]
	if len(seed.Entrypoint) == 0 || filepath.Base(seed.Entrypoint[0]) != "calldexctl" {
		t.Fatalf("seed runs %v, want calldexctl", seed.Entrypoint)
	}
	var args []string
	for _, a := range append(append([]string{}, seed.Entrypoint[1:]...), seed.Command...) {
		args = append(args, strings.Replace(a, "/app/deploy/demo/", filepath.Join(root, "deploy/demo")+"/", 1))
	}
	cmd := exec.Command(bin("calldexctl"), args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}, local("seed", seed)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("seed: calldexctl %v: %v\n%s", args, err, out)
	}
	return tp
}

// TestComposeTopology runs the compose deployment's Calldex services as
// local processes with the environment compose gives them, sends the
// README's requests to the ingress, lets the sync role read the CRM, then
// checks the dashboard and alert rules against every process's /metrics.
func TestComposeTopology(t *testing.T) {
	tp := startTopology(t)
	t.Run("README", func(t *testing.T) {
		readmeRequests(t, tp.ingress, "demo-token", "demo-admin-token")
	})
	t.Run("sync", func(t *testing.T) {
		psql(t, fmt.Sprintf("INSERT INTO %s.contacts (name, company, phone) VALUES ('Lena Sync', 'Postgres AG', '+41 31 555 12 34')", tp.schema))
		poll(t, 60*time.Second, "contact inserted in the CRM found by a lookup", func() (bool, string) {
			code, body := do(t, "POST", tp.ingress+"/peoplefone/Lookup", map[string]string{"X-Execution-Token": "demo-token"}, `{"inputs":{"phoneNumber":"41315551234"}}`)
			return code == 200 && strings.Contains(body, "Lena Sync"), fmt.Sprint(code, " ", body)
		})
	})
	t.Run("measure", func(t *testing.T) {
		if !measureEnabled() {
			t.Skip("DEPLOY_MEASURE not set")
		}
		measureRoles(t, tp, 2000, 100, 20*time.Second)
	})
	t.Run("metrics", func(t *testing.T) {
		exported := map[string]bool{}
		for _, name := range roleOrder {
			for m := range metricNames(t, tp.bases[name]+"/metrics") {
				exported[m] = true
			}
		}
		checkQueriedMetrics(t, exported)
	})
}

// readmeRequests sends the README's curl examples and checks their answers.
func readmeRequests(t *testing.T, base, token, adminToken string) {
	t.Helper()
	auth := map[string]string{"X-Execution-Token": token}
	admin := map[string]string{"Authorization": "Bearer " + adminToken}

	// Contacts are seeded asynchronously (CONTACTS → projector → index),
	// in file order: c-1006, the last, also holds the number.
	poll(t, 60*time.Second, "seeded contacts c-1001 and c-1006 found", func() (bool, string) {
		code, body := do(t, "POST", base+"/peoplefone/Lookup", auth, `{"inputs":{"phoneNumber":"41215522000"}}`)
		return code == 200 && strings.Contains(body, `"id":"c-1001"`) && strings.Contains(body, `"id":"c-1006"`), fmt.Sprint(code, " ", body)
	})
	expect(t, "GET", base+"/peoplefone/Lookup?PhoneNumber=41446681800", auth, "", 200, `"Id":"c-1002"`)
	expect(t, "GET", base+"/pbx/lookup?telephone=0215522000&dnid=0215550000&token="+token, nil, "", 200, `"id":"c-1006"`)

	callFlow := `{"inputs":{"contactCrmId":"c-1001","userCrmId":"u-7","originatorNumber":"41795550101","originatorName":"Alexa Holiday",
  "destinationNumber":"41215550000","destinationName":"Reception","direction":"incoming",
  "startedTime":"2026-01-05T10:00:00Z","answeredTime":"2026-01-05T10:00:05Z","endedTime":"2026-01-05T10:03:05Z","declinedTime":""}}`
	var flow struct{ ID, URL string }
	body := expect(t, "POST", base+"/peoplefone/CallFlow", auth, callFlow, 200, `"url":"https://crm.example.com/calls/`)
	if err := json.Unmarshal([]byte(body), &flow); err != nil || flow.ID == "" {
		t.Errorf("CallFlow answer %s: want {id,url}", body)
	}

	callID := "pbx-" + randomID(t)
	body = expect(t, "POST", base+"/events/calls", auth, `{"event":"ended","callId":"`+callID+`","direction":"incoming",
  "originatorNumber":"41795550101","destinationNumber":"41215550000",
  "startedTime":"2026-01-05T10:00:00Z","answeredTime":"2026-01-05T10:00:05Z","endedTime":"2026-01-05T10:03:05Z"}`, 0, `"accepted":true`)
	var ev struct{ Workflows map[string]string }
	if err := json.Unmarshal([]byte(body), &ev); err != nil || ev.Workflows["CallFlow"] == "" {
		t.Fatalf("call event answer %s: want the CallFlow status resource", body)
	}
	poll(t, 30*time.Second, "automatic CallFlow done", func() (bool, string) {
		code, body := do(t, "GET", base+ev.Workflows["CallFlow"], auth, "")
		return code == 200 && strings.Contains(body, `"status":"done"`), fmt.Sprint(code, " ", body)
	})

	body = expect(t, "POST", base+"/appconnect/apiKeyLogin", map[string]string{"Content-Type": "application/json"},
		`{"platform":"calldex","apiKey":"`+token+`"}`, 200, `"jwtToken"`)
	var login struct{ JWTToken string }
	if err := json.Unmarshal([]byte(body), &login); err != nil || login.JWTToken == "" {
		t.Fatalf("apiKeyLogin answer %s", body)
	}
	bearer := map[string]string{"Authorization": "Bearer " + login.JWTToken}
	expect(t, "GET", base+"/appconnect/contact?phoneNumber=%2B41795550101", bearer, "", 200, `Alexa Holiday`)
	expect(t, "GET", base+"/appconnect/custom/contact/search?name=muller", bearer, "", 200, `Müller`)

	code, body := do(t, "PUT", base+"/admin/v1/tenants/demo/contacts/c-2001", admin,
		`{"name":"Zoë Keller","company":"Keller GmbH","phones":[{"raw":"044 123 45 67"}],"customData":{"Segment":"SME"}}`)
	if code != 200 && code != 202 {
		t.Errorf("admin PUT contact: %d %s", code, body)
	}
	poll(t, 30*time.Second, "admin lookup explains c-2001", func() (bool, string) {
		code, body := do(t, "GET", base+"/admin/v1/tenants/demo/lookup?number=%2B41441234567", admin, "")
		return code == 200 && strings.Contains(body, "c-2001"), fmt.Sprint(code, " ", body)
	})
	expect(t, "DELETE", base+"/admin/v1/tenants/demo/contacts/c-2001", admin, "", 0, "")
}

// do sends a request and returns the status and body.
func do(t *testing.T, method, url string, headers map[string]string, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// expect sends a request and checks the status (0: any 2xx) and that the
// body contains want.
func expect(t *testing.T, method, url string, headers map[string]string, body string, status int, want string) string {
	t.Helper()
	code, got := do(t, method, url, headers, body)
	if (status == 0 && (code < 200 || code > 299)) || (status != 0 && code != status) || !strings.Contains(got, want) {
		t.Errorf("%s %s: %d %s; want %d containing %s", method, url, code, got, status, want)
	}
	return got
}

// poll retries check until it holds or the timeout passes.
func poll(t *testing.T, timeout time.Duration, what string, check func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := check()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s (last: %s)", what, timeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func randomID(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func psql(t *testing.T, sql string) {
	if out, err := exec.Command("psql", localPostgres, "-v", "ON_ERROR_STOP=1", "-qc", sql).CombinedOutput(); err != nil {
		t.Fatalf("psql %s: %v\n%s", sql, err, out)
	}
}

func psqlQuiet(sql string) { _ = exec.Command("psql", localPostgres, "-qc", sql).Run() }

// dropStreams deletes the streams and buckets named with prefix.
func dropStreams(prefix string) {
	nc, err := nats.Connect(localNATS)
	if err != nil {
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	names := js.StreamNames(ctx)
	var drop []string
	for n := range names.Name() {
		if strings.HasPrefix(n, prefix) || strings.HasPrefix(n, "KV_"+prefix) {
			drop = append(drop, n)
		}
	}
	for _, n := range drop {
		_ = js.DeleteStream(ctx, n)
	}
}

// dropRedisKeys deletes the keys named with prefix.
func dropRedisKeys(prefix string) {
	out, err := exec.Command("redis-cli", "-u", localRedis, "--scan", "--pattern", prefix+"*").Output()
	if err != nil {
		return
	}
	keys := strings.Fields(string(out))
	for len(keys) > 0 {
		n := min(len(keys), 500)
		_ = exec.Command("redis-cli", append([]string{"-u", localRedis, "DEL"}, keys[:n]...)...).Run()
		keys = keys[n:]
	}
}
