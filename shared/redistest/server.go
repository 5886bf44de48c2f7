package redistest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a redis-server process a test started on a free port, for
// tests that restart, pause or kill Redis: never the shared one. It keeps
// nothing on disk (no RDB, no AOF) unless the test asks for it, so Restart
// brings it back empty, like a Redis without persistence.
type Server struct {
	// Addr is "127.0.0.1:<port>".
	Addr string
	Port int
	dir  string
	args []string
	// conf is a config file read first (redis-server takes it before options).
	conf string
	cmd  *exec.Cmd
	tb   testing.TB
}

// binary finds redis-server, skipping (failing under CI=true) without it.
func binary(tb testing.TB, name string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		unavailable(tb, fmt.Errorf("%s not found: %w", name, err),
			"install it (apt-get install redis-server)")
	}
	return path
}

// unavailable skips the test, or fails it under CI=true.
func unavailable(tb testing.TB, err error, howTo string) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("redistest: %v (CI=true: Redis is required)", err)
	}
	tb.Skipf("redistest: %v; %s", err, howTo)
}

// StartServer starts a redis-server on a free port with extra arguments
// (e.g. "--cluster-enabled", "yes"), waits until it answers PING, and kills
// it (by its PID) when the test ends.
func StartServer(tb testing.TB, args ...string) *Server {
	tb.Helper()
	return startServer(tb, "", args)
}

func startServer(tb testing.TB, conf string, args []string) *Server {
	tb.Helper()
	binary(tb, "redis-server")
	s := &Server{Port: freePort(tb), dir: tb.TempDir(), args: args, tb: tb}
	s.Addr = "127.0.0.1:" + strconv.Itoa(s.Port)
	if conf != "" {
		s.conf = filepath.Join(s.dir, "redis.conf")
		if err := os.WriteFile(s.conf, []byte(conf), 0o600); err != nil {
			tb.Fatalf("redistest: write config: %v", err)
		}
	}
	s.start()
	tb.Cleanup(s.kill)
	return s
}

// freePort returns a port nobody listens on, below 55535 so that a cluster
// node's bus port (port + 10000) is a valid port too.
func freePort(tb testing.TB) int {
	tb.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("redistest: free port: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if port >= 55535 {
			continue
		}
		if bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000)); err == nil {
			_ = bus.Close()
			return port
		}
	}
	tb.Fatal("redistest: no free port pair found")
	return 0
}

func (s *Server) start() {
	s.tb.Helper()
	var args []string
	if s.conf != "" {
		args = append(args, s.conf)
	}
	args = append(args, "--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1", "--dir", s.dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", filepath.Join(s.dir, "redis.log"))
	args = append(args, s.args...)
	cmd := exec.Command(binary(s.tb, "redis-server"), args...)
	if err := cmd.Start(); err != nil {
		s.tb.Fatalf("redistest: start redis-server: %v", err)
	}
	s.cmd = cmd
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer rdb.Close()
	err := Eventually(10*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return rdb.Ping(ctx).Err()
	})
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
		s.kill()
		s.tb.Fatalf("redistest: redis-server on %s did not answer: %v\n%s", s.Addr, err, log)
	}
}

// URL is the server's redis:// URL.
func (s *Server) URL() string { return "redis://" + s.Addr + "/0" }

// PID is the server process's id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Client returns a client of the server, closed when the test ends.
func (s *Server) Client(tb testing.TB) *redis.Client {
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr, ContextTimeoutEnabled: true})
	tb.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// Kill stops the server at once (SIGKILL), as a crash would.
func (s *Server) Kill() { s.kill() }

func (s *Server) kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Restart kills the server and starts it again on the same port: without
// persistence it comes back empty.
func (s *Server) Restart() {
	s.tb.Helper()
	s.kill()
	s.start()
}

// Pause stops the process (SIGSTOP): connections stay open and nothing
// answers, as with a Redis that hangs. Resume undoes it; a paused server
// is still killed when the test ends.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.tb.Helper()
	if s.cmd == nil {
		s.tb.Fatalf("redistest: %s is not running", s.Addr)
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.tb.Fatalf("redistest: signal %s: %v", s.Addr, err)
	}
}

// Eventually calls f until it returns nil or timeout passes, and returns
// f's last error then.
func Eventually(timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Cluster is a Redis Cluster of redis-server processes a test started.
type Cluster struct {
	// Nodes are masters first, then replicas.
	Nodes []*Server
}

// StartCluster starts masters×(1+replicas) nodes on free ports, joins them
// with redis-cli --cluster create, and waits until every node reports
// cluster_state:ok. The nodes are killed when the test ends.
func StartCluster(tb testing.TB, masters, replicas int) *Cluster {
	tb.Helper()
	cli := binary(tb, "redis-cli")
	c := &Cluster{}
	addrs := []string{}
	for range masters * (1 + replicas) {
		n := StartServer(tb, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000")
		c.Nodes = append(c.Nodes, n)
		addrs = append(addrs, n.Addr)
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	out, err := exec.Command(cli, args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	err = Eventually(30*time.Second, func() error {
		for _, n := range c.Nodes {
			info, err := exec.Command(cli, "-p", strconv.Itoa(n.Port), "cluster", "info").Output()
			if err != nil {
				return err
			}
			if !bytes.Contains(info, []byte("cluster_state:ok")) {
				return fmt.Errorf("node %s: %s", n.Addr, strings.SplitN(string(info), "\n", 2)[0])
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("redistest: cluster not ok: %v", err)
	}
	return c
}

// URL is the cluster's redis+cluster:// URL (see shared/redisx), every
// node a seed.
func (c *Cluster) URL() string {
	u := "redis+cluster://" + c.Nodes[0].Addr
	for i, n := range c.Nodes[1:] {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		u += sep + "addr=" + n.Addr
	}
	return u
}

// Client returns a cluster client, closed when the test ends. It waits
// until the client sees every slot served.
func (c *Cluster) Client(tb testing.TB) *redis.ClusterClient {
	tb.Helper()
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr
	}
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true})
	tb.Cleanup(func() { _ = rdb.Close() })
	err := Eventually(30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		shards, err := rdb.ClusterShards(ctx).Result()
		if err != nil {
			return err
		}
		var covered int64
		for _, sh := range shards {
			for _, s := range sh.Slots {
				covered += s.End - s.Start + 1
			}
		}
		if covered != 16384 {
			return errors.New("not every slot is served yet")
		}
		return rdb.ForEachShard(ctx, func(ctx context.Context, n *redis.Client) error { return n.Ping(ctx).Err() })
	})
	if err != nil {
		tb.Fatalf("redistest: cluster client: %v", err)
	}
	return rdb
}

// Sentinel is a master with replicas watched by Sentinel processes, all
// started by the test.
type Sentinel struct {
	// MasterName is what the sentinels call the master.
	MasterName string
	Master     *Server
	Replicas   []*Server
	Sentinels  []*Server
}

// StartSentinel starts a master, replicas replicating it and sentinels
// (quorum 1, a master is down after 1s) on free ports, and waits until
// every sentinel names the master. All are killed when the test ends.
func StartSentinel(tb testing.TB, replicas, sentinels int) *Sentinel {
	tb.Helper()
	s := &Sentinel{MasterName: "calldex", Master: StartServer(tb)}
	for range replicas {
		s.Replicas = append(s.Replicas, StartServer(tb, "--replicaof", "127.0.0.1", strconv.Itoa(s.Master.Port)))
	}
	conf := fmt.Sprintf("sentinel monitor %[1]s 127.0.0.1 %[2]d 1\n"+
		"sentinel down-after-milliseconds %[1]s 1000\n"+
		"sentinel failover-timeout %[1]s 5000\n", s.MasterName, s.Master.Port)
	for range sentinels {
		s.Sentinels = append(s.Sentinels, startServer(tb, conf, []string{"--sentinel"}))
	}
	for _, sn := range s.Sentinels {
		rdb := redis.NewSentinelClient(&redis.Options{Addr: sn.Addr})
		err := Eventually(10*time.Second, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			addr, err := rdb.GetMasterAddrByName(ctx, s.MasterName).Result()
			if err != nil {
				return err
			}
			if got := net.JoinHostPort(addr[0], addr[1]); got != s.Master.Addr {
				return fmt.Errorf("sentinel %s names master %s, want %s", sn.Addr, got, s.Master.Addr)
			}
			return nil
		})
		_ = rdb.Close()
		if err != nil {
			tb.Fatalf("redistest: %v", err)
		}
	}
	return s
}

// URL is the redis+sentinel:// URL of the master (see shared/redisx).
func (s *Sentinel) URL() string {
	u := "redis+sentinel://" + s.Sentinels[0].Addr + "/0?master_name=" + s.MasterName
	for _, sn := range s.Sentinels[1:] {
		u += "&addr=" + sn.Addr
	}
	return u
}
