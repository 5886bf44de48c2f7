package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/calldex/calldex/shared/testwait"
	_ "modernc.org/sqlite"
)

// calldex is the built binary running as a child process.
type calldex struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string
	logs *logLines
}

// logLines collects the process's JSON log lines (stderr) and hands over
// the HTTP address of its "calldex serving" line.
type logLines struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	serving chan string
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(l.partial[:i])
		l.partial = l.partial[i+1:]
		l.lines = append(l.lines, line)
		var entry struct{ Msg, HTTP string }
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "calldex serving" {
			select {
			case l.serving <- entry.HTTP:
			default:
			}
		}
	}
}

// tail returns the last n lines, and what is left of an unfinished one.
func (l *logLines) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines[max(0, len(l.lines)-n):], "\n") + "\n" + string(l.partial)
}

// above returns the lines logged at WARN or above.
func (l *logLines) above() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range l.lines {
		var entry struct{ Level string }
		if json.Unmarshal([]byte(line), &entry) != nil || entry.Level != "INFO" && entry.Level != "DEBUG" {
			out = append(out, line)
		}
	}
	return out
}

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "calldex")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// start runs the binary on the embedded default from an empty working
// directory (the demo is built in: nothing is read relative to it), with
// its own data dir and free ports, and waits until it serves; env
// (NAME=value) comes on top.
func start(t *testing.T, bin, dataDir string, env ...string) *calldex {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "CALLDEX_DATA_DIR="+dataDir, "CALLDEX_HTTP_ADDR=127.0.0.1:0", "CALLDEX_NATS_ADDR=127.0.0.1:0",
		"NATS_URL=", "REDIS_URL=", "CALLDEX_CONFIG=", "CALLDEX_ROLES=")
	cmd.Env = append(cmd.Env, env...)
	logs := &logLines{serving: make(chan string, 1)}
	cmd.Stderr = logs
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &calldex{t: t, cmd: cmd, logs: logs}
	t.Cleanup(c.stop)
	select {
	case c.addr = <-logs.serving:
	case <-time.After(30 * time.Second):
		t.Fatal("calldex did not start serving within 30s")
	}
	c.waitReady()
	return c
}

func (c *calldex) waitReady() {
	c.t.Helper()
	testwait.Until(c.t, 20*time.Second, "calldex ready", func() bool {
		resp, err := http.Get("http://" + c.addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// stopQuietly stops the process and fails the test on any line it logged
// at WARN or above: a clean run and shutdown has nothing to warn about.
func (c *calldex) stopQuietly() {
	c.t.Helper()
	c.stop()
	if lines := c.logs.above(); len(lines) > 0 {
		c.t.Errorf("logged at WARN or above:\n%s", strings.Join(lines, "\n"))
	}
}

// stop sends SIGTERM and waits: a graceful shutdown must end the process.
func (c *calldex) stop() {
	if c.cmd.ProcessState != nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			c.t.Errorf("calldex exited with %v after SIGTERM; its last lines:\n%s", err, c.logs.tail(40))
		}
	case <-time.After(15 * time.Second):
		_ = c.cmd.Process.Kill()
		c.t.Error("calldex did not stop within 15s of SIGTERM")
	}
}

func (c *calldex) do(method, path, body string, header ...string) (int, string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, "http://"+c.addr+path, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// lookupsFind checks the three dialects find contact id for number.
func (c *calldex) lookupsFind(number, nationalNumber, id string) {
	c.t.Helper()
	tok := []string{"X-Execution-Token", "demo-token"}
	if code, body := c.do("POST", "/peoplefone/Lookup", `{"inputs":{"phoneNumber":"`+number+`"}}`, tok...); code != 200 || !strings.Contains(body, `"id":"`+id+`"`) {
		c.t.Fatalf("peoplefone lookup %s: %d %s", number, code, body)
	}
	if code, body := c.do("GET", "/peoplefone/Lookup?PhoneNumber="+number, "", tok...); code != 200 || !strings.Contains(body, `"Id":"`+id+`"`) {
		c.t.Fatalf("peoplefone v1 lookup %s: %d %s", number, code, body)
	}
	if code, body := c.do("GET", "/pbx/lookup?telephone="+nationalNumber+"&dnid=0215550000&token=demo-token", ""); code != 200 || !strings.Contains(body, `"id":"`+id+`"`) {
		c.t.Fatalf("pbx lookup %s: %d %s", nationalNumber, code, body)
	}
}

func TestEmbeddedImportLookupRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	dataDir := t.TempDir()
	c := start(t, bin, dataDir)

	// The demo contacts are seeded on a first start.
	c.lookupsFind("41795550101", "0795550101", "c-1001")

	csv := "id,name,company,phones,emails,contactUri,companyUri,crmName,type\n" +
		"e2e-1,Erika Muster,Muster AG,031 123 45 67,erika@muster.example,https://crm/e2e-1,,Demo CRM,contact\n" +
		"e2e-2,,,,,,,,\n"
	code, body := c.do("POST", "/admin/v1/tenants/demo/contacts", csv, "Authorization", "Bearer demo-admin-token", "Content-Type", "text/csv")
	if code != 200 || !strings.Contains(body, `"accepted":1`) || !strings.Contains(body, `"line":3`) {
		t.Fatalf("import: %d %s", code, body)
	}
	c.lookupsFind("41311234567", "0311234567", "e2e-1")

	c.stopQuietly()
	c = start(t, bin, dataDir)
	// Everything survives the restart: the index is rebuilt from the stream on disk.
	c.lookupsFind("41311234567", "0311234567", "e2e-1")
	c.lookupsFind("41795550101", "0795550101", "c-1001")
}

// TestDemoConfigFileRunsTheDemo: CALLDEX_CONFIG naming the demo's own file
// runs the demo whole (seeded contacts, App Connect), not a bare tenant.
func TestDemoConfigFileRunsTheDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	demo, err := filepath.Abs("../../deploy/demo/calldex.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := start(t, buildBinary(t), t.TempDir(), "CALLDEX_CONFIG="+demo)
	c.lookupsFind("41795550101", "0795550101", "c-1001")
	if code, body := c.do("GET", "/appconnect/crmManifest", ""); code != 200 {
		t.Fatalf("App Connect manifest: %d %s", code, body)
	}
}

func TestEmbeddedWorkflowWritesDemoCRM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dataDir := t.TempDir()
	c := start(t, buildBinary(t), dataDir)
	tok := []string{"X-Execution-Token", "demo-token"}

	// The lookup offers the workflows; the connector then runs one.
	if code, body := c.do("POST", "/peoplefone/Lookup", `{"inputs":{"phoneNumber":"41795550101"}}`, tok...); code != 200 || !strings.Contains(body, `"crmActions":["CallFlow","Ticket"]`) {
		t.Fatalf("lookup: %d %s", code, body)
	}
	call := `{"inputs":{"contactCrmId":"c-1001","userCrmId":"u-7","originatorNumber":"41795550101","destinationNumber":"41215550000","direction":"incoming","startedTime":"2026-01-05T10:00:00Z","answeredTime":"2026-01-05T10:00:05Z","endedTime":"2026-01-05T10:03:05Z"}}`
	code, body := c.do("POST", "/peoplefone/CallFlow", call, tok...)
	if code != 200 || !strings.Contains(body, `"url":"https://crm.example.com/calls/`) {
		t.Fatalf("CallFlow: %d %s", code, body)
	}
	// The same request again: same answer, no second row.
	if code2, body2 := c.do("POST", "/peoplefone/CallFlow", call, tok...); code2 != 200 || body2 != body {
		t.Fatalf("CallFlow again: %d %s, first %s", code2, body2, body)
	}
	db, err := sql.Open("sqlite", filepath.Join(dataDir, "demo-crm.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rows, duration int
	var contactID string
	if err := db.QueryRow(`SELECT COUNT(*), MAX(duration_seconds), MAX(contact_crm_id) FROM call_logs`).Scan(&rows, &duration, &contactID); err != nil {
		t.Fatal(err)
	}
	if rows != 1 || duration != 180 || contactID != "c-1001" {
		t.Fatalf("call_logs: %d rows, duration %d, contact %q", rows, duration, contactID)
	}
	if code, body := c.do("POST", "/peoplefone/Unknown", call, tok...); code != 404 {
		t.Fatalf("unknown workflow: %d %s", code, body)
	}
	c.stopQuietly()
}

// TestAppConnectWritesDemoCRM signs in to App Connect with the demo
// credential, creates a contact, then logs a call and a message against it:
// both reach the demo SQLite CRM.
func TestAppConnectWritesDemoCRM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dataDir := t.TempDir()
	c := start(t, buildBinary(t), dataDir)
	code, body := c.do("POST", "/appconnect/apiKeyLogin", `{"platform":"calldex","apiKey":"demo-token"}`, "Content-Type", "application/json")
	var login struct{ JWTToken string }
	if code != 200 || json.Unmarshal([]byte(body), &login) != nil || login.JWTToken == "" {
		t.Fatalf("apiKeyLogin: %d %s", code, body)
	}
	auth := []string{"Authorization", "Bearer " + login.JWTToken, "Content-Type", "application/json"}

	code, body = c.do("POST", "/appconnect/contact", `{"phoneNumber":"+41313334455","newContactName":"Nora Demo"}`, auth...)
	var created struct {
		Successful bool
		Contact    struct{ ID string }
	}
	if code != 200 || json.Unmarshal([]byte(body), &created) != nil || !created.Successful || created.Contact.ID == "" {
		t.Fatalf("create contact: %d %s", code, body)
	}
	if code, body := c.do("GET", "/appconnect/contact?phoneNumber=%2B41313334455", "", auth...); code != 200 || !strings.Contains(body, created.Contact.ID) {
		t.Fatalf("find the created contact: %d %s", code, body)
	}

	call := `{"contactId":"` + created.Contact.ID + `","contactName":"Nora Demo","note":"asked for a quote","logInfo":{"sessionId":"s-4711","direction":"Inbound","result":"Call connected","startTime":"2026-01-05T10:00:00Z","duration":95,"from":{"phoneNumber":"+41313334455"},"to":{"phoneNumber":"+41215550000"}}}`
	code, body = c.do("POST", "/appconnect/callLog", call, auth...)
	var logged struct {
		Successful bool
		LogID      string
	}
	if code != 200 || json.Unmarshal([]byte(body), &logged) != nil || !logged.Successful || logged.LogID == "" {
		t.Fatalf("callLog: %d %s", code, body)
	}
	msg := `{"contactId":"` + created.Contact.ID + `","contactName":"Nora Demo","logInfo":{"messages":[{"id":"m-1","type":"SMS","direction":"Inbound","subject":"Call me back","creationTime":"2026-01-05T11:00:00Z","from":{"phoneNumber":"+41313334455"},"to":[{"phoneNumber":"+41215550000"}]}]}}`
	if code, body := c.do("POST", "/appconnect/messageLog", msg, auth...); code != 200 || !strings.Contains(body, `"successful":true`) {
		t.Fatalf("messageLog: %d %s", code, body)
	}

	db, err := sql.Open("sqlite", filepath.Join(dataDir, "demo-crm.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	type row struct {
		id, workflow, kind, contact, note string
		duration                          int
	}
	var rows []row
	rs, err := db.Query(`SELECT id, workflow, kind, contact_crm_id, note, duration_seconds FROM call_logs ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	for rs.Next() {
		var r row
		if err := rs.Scan(&r.id, &r.workflow, &r.kind, &r.contact, &r.note, &r.duration); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("call_logs: %+v, want the call and the message", rows)
	}
	if want := (row{logged.LogID, "CallLog", "call", created.Contact.ID, "asked for a quote", 95}); rows[0] != want {
		t.Errorf("call log row %+v, want %+v", rows[0], want)
	}
	if got := rows[1]; got.workflow != "MessageLog" || got.kind != "message" || got.contact != created.Contact.ID {
		t.Errorf("message log row %+v", got)
	}
}

// TestEmbeddedNATSPortInUse: the embedded NATS's port taken by another
// process stops the start at once, saying so.
func TestEmbeddedNATSPortInUse(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cmd := exec.Command(buildBinary(t))
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "CALLDEX_DATA_DIR="+t.TempDir(), "CALLDEX_HTTP_ADDR=127.0.0.1:0", "CALLDEX_NATS_ADDR="+ln.Addr().String(),
		"NATS_URL=", "REDIS_URL=", "CALLDEX_CONFIG=", "CALLDEX_ROLES=")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), "CALLDEX_NATS_ADDR") || !strings.Contains(string(out), "address in use") {
		t.Fatalf("exit %v, output:\n%s", err, out)
	}
}
