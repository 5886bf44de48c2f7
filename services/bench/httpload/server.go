package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/calldex/calldex/events"
)

// The demo's credentials (deploy/demo/calldex.yaml).
const (
	demoTenant     = "demo"
	demoToken      = "demo-token"
	demoAdminToken = "demo-admin-token"
)

func build(ctx context.Context, repo, bin string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./services/calldex")
	cmd.Dir = repo
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./services/calldex: %w\n%s", err, out)
	}
	return nil
}

type serverConfig struct {
	bin, repo, dir, target, redisURL string
	pprof                            bool
	env                              []string
	// keepKeys leaves the run's Redis keys in place, to be examined.
	keepKeys bool
	// name tells apart the key and stream prefixes of servers that run at
	// once (-against).
	name string
}

// server is a running calldex process.
type server struct {
	cmd       *exec.Cmd
	base      string // http://host:port
	natsURL   string
	pprofAddr string
	topo      events.Topology
	cleanup   func()
	// rdb is the Redis of the redis target, nil for the in-process index.
	rdb    *redis.Client
	exited chan struct{}
	stderr *tailBuffer
}

// startServer runs the binary on the demo config with its own data
// directory and free loopback ports, and waits until /readyz answers 200.
func startServer(ctx context.Context, c serverConfig) (*server, error) {
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	prefix := fmt.Sprintf("httpload%d%s%s", os.Getpid(), c.target, c.name)
	s := &server{
		base:    "http://127.0.0.1:" + strconv.Itoa(ports[0]),
		natsURL: "nats://127.0.0.1:" + strconv.Itoa(ports[1]),
		topo:    events.Topology{Prefix: prefix},
		cleanup: func() {},
		exited:  make(chan struct{}),
		stderr:  &tailBuffer{max: 16 << 10},
	}
	env := append(os.Environ(),
		"CALLDEX_DATA_DIR="+c.dir,
		"CALLDEX_HTTP_ADDR=127.0.0.1:"+strconv.Itoa(ports[0]),
		"CALLDEX_NATS_ADDR=127.0.0.1:"+strconv.Itoa(ports[1]),
		"CALLDEX_STREAM_PREFIX="+prefix,
		"CALLDEX_CONFIG=", "NATS_URL=", "REDIS_URL=", "CALLDEX_PPROF_ADDR=")
	switch c.target {
	case "memory":
	case "redis":
		env = append(env, "REDIS_URL="+c.redisURL, "CALLDEX_REDIS_PREFIX="+prefix)
		opts, err := redis.ParseURL(c.redisURL)
		if err != nil {
			return nil, fmt.Errorf("redis url: %w", err)
		}
		s.rdb = redis.NewClient(opts)
		s.cleanup = func() {
			if !c.keepKeys {
				dropRedisKeys(c.redisURL, prefix)
			}
			_ = s.rdb.Close()
		}
	default:
		return nil, fmt.Errorf("unknown target %q (memory, redis)", c.target)
	}
	if c.pprof {
		s.pprofAddr = "127.0.0.1:" + strconv.Itoa(ports[2])
		env = append(env, "CALLDEX_PPROF_ADDR="+s.pprofAddr)
	}
	for _, kv := range c.env {
		if kv != "" {
			env = append(env, kv)
		}
	}
	s.cmd = exec.Command(c.bin)
	s.cmd.Dir = c.repo // the demo config and contacts are relative to it
	s.cmd.Env = env
	s.cmd.Stdout = io.Discard
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		s.cleanup()
		return nil, fmt.Errorf("start calldex: %w", err)
	}
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	if err := s.waitReady(ctx, 60*time.Second); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// waitReady polls /readyz until it answers 200.
func (s *server) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		resp, err := http.Get(s.base + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("/readyz %d: %s", resp.StatusCode, bytes.TrimSpace(body))
		}
		select {
		case <-s.exited:
			return fmt.Errorf("calldex exited: %v\n%s", s.cmd.ProcessState, s.stderr)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("calldex not ready within %s: %w\n%s", limit, err, s.stderr)
		}
	}
}

// stop ends the process with SIGTERM (SIGKILL after 15 s) and removes what
// it left in Redis.
func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cleanup()
}

// clockTick is the unit of /proc/<pid>/stat's CPU times (USER_HZ, 100 on
// Linux).
const clockTick = 10 * time.Millisecond

// cpuTime is the CPU time the server process used so far (user + system,
// all threads), read from /proc: what a request costs the server, whatever
// else this machine runs.
func (s *server) cpuTime() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("server CPU time: %w", err)
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("server CPU time: short /proc stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("server CPU time: %w", err)
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// redisCPU is the CPU time the Redis server used so far (INFO cpu), 0
// without Redis: the lookups' other cost on a machine that runs both.
func (s *server) redisCPU(ctx context.Context) (time.Duration, error) {
	if s.rdb == nil {
		return 0, nil
	}
	info, err := s.rdb.Info(ctx, "cpu").Result()
	if err != nil {
		return 0, fmt.Errorf("redis CPU time: %w", err)
	}
	var total float64
	for _, line := range strings.Split(info, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		if k == "used_cpu_user" || k == "used_cpu_sys" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, fmt.Errorf("redis CPU time %s: %w", k, err)
			}
			total += f
		}
	}
	return time.Duration(total * float64(time.Second)), nil
}

// goRuntime is what the server's /metrics says of its Go runtime: the
// garbage collections so far, and the heap in use.
func (s *server) goRuntime(ctx context.Context) (gcs, heap float64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/metrics", nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	found := 0
	for sc.Scan() {
		name, v, _ := strings.Cut(sc.Text(), " ")
		var dst *float64
		switch name {
		case "go_gc_duration_seconds_count":
			dst = &gcs
		case "go_memstats_heap_inuse_bytes":
			dst = &heap
		default:
			continue
		}
		if *dst, err = strconv.ParseFloat(v, 64); err != nil {
			return 0, 0, fmt.Errorf("metrics %s: %w", name, err)
		}
		found++
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("metrics: no Go runtime figures (%v)", sc.Err())
	}
	return gcs, heap, nil
}

// profile starts a CPU profile of the server for d and returns the wait for
// it, which writes it to path.
func (s *server) profile(ctx context.Context, path string, d time.Duration) func() error {
	type result struct {
		body []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", s.pprofAddr, int(d.Seconds()))
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{err: fmt.Errorf("CPU profile (is CALLDEX_PPROF_ADDR served?): %w", err)}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("CPU profile: %s", resp.Status)
		}
		done <- result{b, err}
	}()
	return func() error {
		r := <-done
		if r.err != nil {
			return r.err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, "httpload: CPU profile in", path)
		return os.WriteFile(path, r.body, 0o644)
	}
}

// eventCount is what became of the lookups' call.lookup events.
type eventCount struct {
	lookups, stored, dropped, failed float64
}

func (e eventCount) lost() float64 { return e.lookups - e.stored }

// checkEvents compares the lookups the server counted with the call.lookup
// events stored in CALLS (every message read and decoded, batches too),
// waiting up to 10 s for the last ones.
func (s *server) checkEvents(ctx context.Context) (eventCount, error) {
	var c eventCount
	nc, err := nats.Connect(s.natsURL)
	if err != nil {
		return c, fmt.Errorf("connect to the embedded NATS: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return c, err
	}
	st, err := js.Stream(ctx, s.topo.Stream(events.StreamCalls))
	if err != nil {
		return c, fmt.Errorf("stream CALLS: %w", err)
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{s.topo.CallSubject(demoTenant, "lookup")}})
	if err != nil {
		return c, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, err := scrape(ctx, s.base+"/metrics")
		if err != nil {
			return c, err
		}
		// A lookup that failed (a client gone mid-request cancels its
		// Redis read) records no event, by design.
		c.lookups = m["calldex_lookups_total"] - m[`calldex_lookups_total{result="error"}`]
		c.dropped, c.failed = m["calldex_events_dropped_total"], m["calldex_events_failed_total"]
		// Read what is stored so far.
		for {
			batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(200*time.Millisecond))
			if err != nil {
				return c, fmt.Errorf("read CALLS: %w", err)
			}
			n := 0
			for msg := range batch.Messages() {
				envs, err := events.DecodeBatch(msg.Data())
				if err != nil {
					return c, fmt.Errorf("CALLS message: %w", err)
				}
				for _, e := range envs {
					if e.Type != events.TypeCallLookup {
						return c, fmt.Errorf("CALLS lookup subject holds a %s event", e.Type)
					}
				}
				c.stored += float64(len(envs))
				n++
			}
			if n == 0 {
				break
			}
		}
		if c.stored >= c.lookups || time.Now().After(deadline) {
			break
		}
	}
	fmt.Fprintf(os.Stderr, "events: %.0f lookups answered (failed ones excluded), %.0f call.lookup events stored, %.0f dropped, %.0f failed\n", c.lookups, c.stored, c.dropped, c.failed)
	return c, nil
}

// scrape sums each metric family of a Prometheus text exposition over its
// labels, and under name{result="error"} the series of that label.
func scrape(ctx context.Context, url string) (map[string]float64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, _ := strings.Cut(line, " ")
		if i := strings.IndexByte(line, '{'); i >= 0 {
			name = line[:i]
			_, rest, _ = strings.Cut(line[strings.IndexByte(line, '}')+1:], " ")
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		if err == nil {
			out[name] += v
			if strings.Contains(line, `result="error"`) {
				out[name+`{result="error"}`] += v
			}
		}
	}
	return out, sc.Err()
}

func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// dropRedisKeys deletes the keys of one run.
func dropRedisKeys(url, prefix string) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	ctx := context.Background()
	var cursor uint64
	for {
		keys, next, err := rdb.Scan(ctx, cursor, prefix+":*", 10000).Result()
		if err != nil {
			return
		}
		if len(keys) > 0 {
			rdb.Unlink(ctx, keys...)
		}
		if cursor = next; cursor == 0 {
			return
		}
	}
}

// tailBuffer keeps the last max bytes written to it (the server's log).
type tailBuffer struct {
	max int
	mu  sync.Mutex
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

var errWrkMissing = errors.New("wrk is not installed: apt-get install -y wrk (or bash deploy/dev/services-up.sh)")

func findWrk() (string, error) {
	p, err := exec.LookPath("wrk")
	if err != nil {
		return "", errWrkMissing
	}
	return p, nil
}
