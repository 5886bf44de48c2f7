package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/calldex/calldex/services/internal/app"
	"github.com/calldex/calldex/services/internal/app/apptest"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/shared/testwait"
)

const (
	adminToken = "admin-token-0123456789"
	shopToken  = "shop-token-0123456789"
)

// consoleTenants: shop logs calls through a webhook CRM (${CRM_URL}) and
// syncs contacts from a SQLite CRM (${CRM_DB}), so that the console has a
// dead letter to redrive and a source to resync.
const consoleTenants = `admin: {token: ` + adminToken + `}
tenants:
  - id: shop
    region: CH
    credentials: [{header: X-Execution-Token, value: ` + shopToken + `}]
    workflowWait: 1s
    crmActions: [CallFlow]
    workflows:
      CallFlow: {action: logCall, connector: hook}
    connectors:
      hook: {type: webhook, url: "${CRM_URL}", secret: webhook-secret-0123456789}
      crm: {type: sql, driver: sqlite, dsn: "${CRM_DB}", urlTemplate: "https://crm.example/calls/{id}"}
`

// chromiumPath is Debian's chromium (deploy/dev/services-up.sh installs
// it); under CI=true a missing one fails the test.
func chromiumPath(t *testing.T) string {
	t.Helper()
	path := "/usr/bin/chromium"
	if _, err := os.Stat(path); err != nil {
		if p, lerr := exec.LookPath("chromium"); lerr == nil {
			return p
		}
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium not installed (apt-get install -y chromium; deploy/dev/services-up.sh does): %v", err)
		}
		t.Skip("chromium not installed: apt-get install -y chromium (deploy/dev/services-up.sh)")
	}
	return path
}

// browser starts a headless Chromium for the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		// Chromium's own network traffic misbehaves on a closed network.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// stepTimeout bounds one step of the test in the browser.
const stepTimeout = 20 * time.Second

// failed saves a screenshot of the page, logs its path and fails.
func failed(t *testing.T, ctx context.Context, step string, err error) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "testdata-out")
	file := filepath.Join(dir, strings.NewReplacer(" ", "-", "/", "_").Replace(step)+".png")
	shot, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if png, serr := chromedp.Run(shot, chromedp.FullScreenshot(80)); serr == nil && os.MkdirAll(dir, 0o755) == nil && os.WriteFile(file, png, 0o644) == nil {
		t.Logf("screenshot of the failed step: %s", file)
	}
	t.Fatalf("%s: %v", step, err)
}

// do runs a step's actions within stepTimeout.
func do(t *testing.T, ctx context.Context, step string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(sctx, steps...); err != nil {
		failed(t, ctx, step, err)
	}
}

// get runs an action that reads something within stepTimeout.
func get[T any](t *testing.T, ctx context.Context, step string, a chromedp.Action[T]) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(sctx, a)
	if err != nil {
		failed(t, ctx, step, err)
	}
	return v
}

// css selects by CSS selector.
func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

// waitText waits until the first element sel selects shows want (through
// navigations: the page may still be loading).
func waitText(sel, want string) chromedp.Action[chromedp.Void] {
	expr := fmt.Sprintf(`(document.querySelector(%q) || {innerText: ""}).innerText.includes(%q)`, sel, want)
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		for {
			ok, err := chromedp.Evaluate[bool](expr)(ctx, tg)
			if err == nil && ok {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s never showed %q (last error: %v)", sel, want, err)
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
}

// crm answers CallFlow webhooks: 422 (a permanent failure: dead letter)
// until accept is set.
type crm struct {
	accept atomic.Bool
	done   atomic.Int32
}

func (c *crm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	if !c.accept.Load() {
		http.Error(w, `{"error":"contact unknown"}`, http.StatusUnprocessableEntity)
		return
	}
	c.done.Add(1)
	_, _ = fmt.Fprintf(w, `{"id":"call-%d","url":"https://crm.example/calls/%d"}`, c.done.Load(), c.done.Load())
}

// api calls the process's HTTP API.
func api(t *testing.T, method, url, body string, header ...string) (int, string) {
	t.Helper()
	code, b, _ := apptest.Call(t, method, url, body, header...)
	return code, b
}

// TestConsoleInTheBrowser drives the console of a real Calldex (embedded
// NATS, in-process index, every role) in headless Chromium.
func TestConsoleInTheBrowser(t *testing.T) {
	ctx := browser(t)
	hook := &crm{}
	crmServer := httptest.NewServer(hook)
	t.Cleanup(crmServer.Close)
	dir := t.TempDir()
	env := map[string]string{"CRM_URL": crmServer.URL, "CRM_DB": filepath.Join(dir, "crm.sqlite")}
	tenants, err := tenant.Parse([]byte(consoleTenants), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	cfg := app.DefaultConfig()
	cfg.TenantsFile = "console.yaml" // not the demo; WithTenants gives the content
	cfg.DataDir, cfg.EmbeddedNATSAddr = dir, "127.0.0.1:0"
	p := apptest.Start(t, cfg, app.WithTenants(tenants))
	admin := []string{"Authorization", "Bearer " + adminToken}
	if code, body := api(t, "PUT", p.URL+"/admin/v1/tenants/shop/contacts/c1",
		`{"name":"Alexa Meier","company":"Meier AG","phones":[{"raw":"021 552 20 00"}]}`, admin...); code != 200 {
		t.Fatalf("put contact: %d %s", code, body)
	}

	t.Run("wrong token refused", func(t *testing.T) {
		do(t, ctx, "wrong token",
			chromedp.Navigate(p.URL+"/console/"),
			chromedp.WaitVisible(css("#token")),
			chromedp.SendKeys(css("#token"), "not-the-token"),
			chromedp.Submit(css("#token")),
			waitText("main", "Wrong admin token."),
		)
	})
	t.Run("log in", func(t *testing.T) {
		do(t, ctx, "log in",
			chromedp.SendKeys(css("#token"), adminToken),
			chromedp.Submit(css("#token")),
			waitText("#stats", "Lookups/s"),
		)
		if h1 := get(t, ctx, "overview title", chromedp.Text(css("h1"))); h1 != "Overview" {
			t.Fatalf("after login: %q", h1)
		}
	})
	t.Run("lookup tester", func(t *testing.T) {
		do(t, ctx, "lookup tester",
			chromedp.Navigate(p.URL+"/console/lookup?tenant=shop"),
			chromedp.WaitVisible(css("#number")),
			chromedp.SendKeys(css("#number"), "+41 21 552 20 00"),
			chromedp.Click(css(`#main form button[type=submit]`)),
			waitText("#result", "Alexa Meier"),
			waitText("#result tr.match", "exact"),
			waitText("#result h2", "1 match(es)"),
		)
	})
	t.Run("upload a CSV and find the new contact", func(t *testing.T) {
		csv := filepath.Join(dir, "contacts.csv")
		if err := os.WriteFile(csv, []byte("id,name,company,phones\nc2,Zoë Keller,Keller GmbH,044 123 45 67\nc3,,,\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		do(t, ctx, "upload",
			chromedp.Navigate(p.URL+"/console/contacts?tenant=shop"),
			chromedp.WaitVisible(css("#file")),
			chromedp.SetUploadFiles(css("#file"), []string{csv}),
			chromedp.Click(css("#upload button")),
			waitText("#upload-result", "1 accepted, 1 rejected"),
			waitText("#upload-result table", "3"), // the rejected line
		)
		if progress := get(t, ctx, "upload progress", chromedp.Evaluate[int](`document.getElementById("upload-progress").value`)); progress != 100 {
			t.Fatalf("upload progress bar at %d after the upload, want 100", progress)
		}
		do(t, ctx, "find the uploaded contact",
			chromedp.SendKeys(css("#q"), "keller"),
			chromedp.Submit(css("#q")),
			waitText("article.contact h3", "Zoë Keller"),
		)
	})
	t.Run("resync a source", func(t *testing.T) {
		do(t, ctx, "resync",
			chromedp.Navigate(p.URL+"/console/sources?tenant=shop"),
			waitText("tr.source", "crm"),
			chromedp.Click(css(`tr.source button`)),
			chromedp.WaitVisible(css(".flash")),
		)
		if msg := get(t, ctx, "resync answer", chromedp.Text(css(".flash"))); msg != "Full resync of shop/crm requested." {
			t.Fatalf("resync: %q", msg)
		}
	})
	t.Run("redrive a dead letter", func(t *testing.T) {
		code, body := api(t, "POST", p.URL+"/peoplefone/CallFlow", apptest.CallFlowBody("c1"), "X-Execution-Token", shopToken)
		if code != http.StatusBadGateway {
			t.Fatalf("CallFlow against a refusing CRM: %d %s, want 502 (dead letter)", code, body)
		}
		hook.accept.Store(true)
		do(t, ctx, "redrive",
			chromedp.Navigate(p.URL+"/console/workflows?tenant=shop"),
			waitText("tr.dead-letter", "422"),
			chromedp.Click(css(`tr.dead-letter button`)),
			chromedp.WaitVisible(css(".flash")),
		)
		if msg := get(t, ctx, "redrive answer", chromedp.Text(css(".flash"))); !strings.HasPrefix(msg, "Redrove 1 dead letter(s)") {
			t.Fatalf("redrive: %q", msg)
		}
		testwait.Until(t, 10*time.Second, "the redriven workflow reaches the CRM", func() bool { return hook.done.Load() == 1 })
		_, body = api(t, "GET", p.URL+"/admin/v1/tenants/shop/dead-letters", "", admin...)
		var dl struct{ DeadLetters []json.RawMessage }
		if err := json.Unmarshal([]byte(body), &dl); err != nil || len(dl.DeadLetters) != 0 {
			t.Fatalf("dead letters after the redrive: %s", body)
		}
		do(t, ctx, "runs", chromedp.Reload(), waitText("main table", "done"))
	})
	t.Run("POST without CSRF token refused", func(t *testing.T) {
		status := get(t, ctx, "csrf",
			chromedp.Evaluate[int](`fetch("/console/sources/resync", {method: "POST", credentials: "same-origin",
				headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: "source_tenant=shop&source=crm"}).then(r => r.status)`,
				chromedp.EvalAwaitPromise))
		if status != http.StatusForbidden {
			t.Fatalf("POST without CSRF token: %d, want 403", status)
		}
	})
	t.Run("readable and labelled at 1280x800 and on a phone", func(t *testing.T) {
		for _, vp := range []struct{ w, h int64 }{{1280, 800}, {390, 844}} {
			for _, page := range []string{"", "lookup", "contacts?q=keller", "sources", "workflows", "config"} {
				step := fmt.Sprintf("viewport %dx%d %s", vp.w, vp.h, page)
				do(t, ctx, step,
					chromedp.EmulateViewport(vp.w, vp.h),
					chromedp.Navigate(p.URL+"/console/"+page),
					chromedp.WaitVisible(css("main h1")),
				)
				// Nothing but tables and listings (which scroll themselves)
				// wider than the viewport.
				overflow := get(t, ctx, step, chromedp.Evaluate[[]string](`[...document.querySelectorAll("body *")].filter(e => !e.closest("table") && !e.closest("pre") && e.getBoundingClientRect().right > window.innerWidth + 1).map(e => e.tagName + "#" + e.id + "." + e.className)`))
				unlabelled := get(t, ctx, step, chromedp.Evaluate[[]string](`[...document.querySelectorAll("input:not([type=hidden]), select, textarea")].filter(e => e.labels.length === 0 && !e.getAttribute("aria-label")).map(e => e.name)`))
				if len(overflow) > 0 || len(unlabelled) > 0 {
					t.Errorf("%dx%d /console/%s: wider than the viewport %v; inputs without a label %v", vp.w, vp.h, page, overflow, unlabelled)
				}
			}
		}
		// Keyboard: the first Tab reaches the skip link.
		do(t, ctx, "keyboard",
			chromedp.Navigate(p.URL+"/console/"),
			chromedp.WaitVisible(css("main h1")),
			chromedp.KeyEvent("\t"),
		)
		if focused := get(t, ctx, "focused", chromedp.Evaluate[string](`document.activeElement.textContent`)); focused != "Skip to content" {
			t.Errorf("first Tab focuses %q", focused)
		}
	})
	t.Run("log out", func(t *testing.T) {
		do(t, ctx, "logout",
			chromedp.EmulateViewport(1280, 800),
			chromedp.Navigate(p.URL+"/console/"),
			chromedp.Click(css("form.logout button")),
			chromedp.WaitVisible(css("#token")),
			chromedp.Navigate(p.URL+"/console/sources"),
			chromedp.WaitVisible(css("#token")),
		)
	})
}
