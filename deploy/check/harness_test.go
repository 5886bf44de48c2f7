package check

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// root is the repository root, bins the binaries built with the
// Dockerfile's flags (by TestMain).
var (
	root string
	bins string
)

func TestMain(m *testing.M) {
	code := func() int {
		r, err := filepath.Abs("../..")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		root = r
		dir, err := os.MkdirTemp("", "calldex-deploy-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		bins = dir
		if err := buildAsDockerfile(context.Background(), root, bins); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// bin is the path of a binary built by TestMain.
func bin(name string) string { return filepath.Join(bins, name) }

// listEnv is the environment Calldex's configuration reads, as printed by
// `calldex --list-env`.
var listEnv = sync.OnceValues(func() (map[string]bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin("calldex"), "--list-env")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	cmd.Dir = os.TempDir()
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("calldex --list-env: %w", err)
	}
	known := map[string]bool{}
	for _, line := range strings.Fields(string(out)) {
		if !envName.MatchString(line) {
			return nil, fmt.Errorf("calldex --list-env printed %q, not an environment variable name", line)
		}
		known[line] = true
	}
	if len(known) == 0 {
		return nil, errors.New("calldex --list-env printed nothing")
	}
	return known, nil
})

func knownEnv(t *testing.T) map[string]bool {
	t.Helper()
	known, err := listEnv()
	if err != nil {
		t.Fatal(err)
	}
	return known
}

// envName is the form of an environment variable name.
var envName = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)

// freeAddr is a loopback address with a port nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// process is a started binary whose output goes to a log file.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// start runs a binary with exactly env (plus PATH and HOME) in dir.
func start(t *testing.T, name, dir string, env []string, path string, args ...string) *process {
	t.Helper()
	logf, err := os.CreateTemp("", "calldex-deploy-"+name+"-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}, env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logf.Name(), done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p
}

// stop sends SIGTERM and waits for the process to exit; it reports whether
// it exited within the timeout (it is killed otherwise).
func (p *process) stop(timeout time.Duration) bool {
	select {
	case <-p.done:
		return true
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return true
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return false
	}
}

// tail is the end of the process's log, for failure messages.
func (p *process) tail() string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return p.name + " log:\n" + strings.Join(lines, "\n")
}

// waitReady polls base+/readyz until it answers 200, failing when the
// process exits or the deadline passes.
func waitReady(t *testing.T, p *process, base string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	last := ""
	for {
		select {
		case <-p.done:
			t.Fatalf("%s exited before it was ready: %v\n%s", p.name, p.err, p.tail())
		default:
		}
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, b)
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within %s (last answer: %s)\n%s", p.name, within, last, p.tail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// metricNames are the metric names of a Prometheus text exposition
// (histogram and summary series under their family name too).
func metricNames(t *testing.T, url string) map[string]bool {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	names := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name := line
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name = line[:i]
		}
		names[name] = true
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok {
				names[base] = true
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

// needService fails under CI and skips elsewhere when addr does not
// accept connections.
func needService(t *testing.T, name, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		c.Close()
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s at %s: %v", name, addr, err)
	}
	t.Skipf("%s at %s not reachable: %v", name, addr, err)
}

// sortedKeys are a set's members in order, for messages.
func sortedKeys(m map[string]bool) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
