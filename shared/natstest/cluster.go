package natstest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Cluster is a NATS JetStream cluster of nats-server processes on loopback,
// each with its own store, that a test can kill -9 and restart one by one.
type Cluster struct {
	t     testing.TB
	bin   string
	nodes []*node
}

type node struct {
	name              string
	dir               string
	port, clusterPort int
	cmd               *exec.Cmd
	exited            chan struct{}
}

// serverBinary builds the nats-server of this module's nats-server/v2
// version once per test binary: the embedded library and the cluster then
// run the same server, whatever the machine has installed.
var serverBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "natstest-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "nats-server")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/nats-io/nats-server/v2").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build nats-server: %v\n%s", err, out)
	}
	return bin, nil
})

// StartCluster starts n servers routed to each other as one JetStream
// cluster and waits until it has a meta leader. Every process is killed
// when the test ends.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	bin, err := serverBinary()
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{t: t, bin: bin}
	root := t.TempDir()
	for i := range n {
		c.nodes = append(c.nodes, &node{name: fmt.Sprintf("n%d", i+1), dir: filepath.Join(root, fmt.Sprintf("n%d", i+1)),
			port: FreePort(t), clusterPort: FreePort(t)})
	}
	t.Cleanup(func() {
		for i := range c.nodes {
			c.Kill(i)
		}
	})
	for i := range c.nodes {
		c.Start(i)
	}
	c.WaitReady()
	return c
}

// URL is the comma-separated client URL of every server: what NATS_URL
// takes.
func (c *Cluster) URL() string {
	urls := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		urls[i] = fmt.Sprintf("nats://127.0.0.1:%d", n.port)
	}
	return strings.Join(urls, ",")
}

// Name is server i's name, as JetStream reports leaders.
func (c *Cluster) Name(i int) string { return c.nodes[i].name }

// Index returns the position of the server named name, or -1.
func (c *Cluster) Index(name string) int {
	for i, n := range c.nodes {
		if n.name == name {
			return i
		}
	}
	return -1
}

// Start starts server i (again) on its ports and store.
func (c *Cluster) Start(i int) {
	c.t.Helper()
	n := c.nodes[i]
	var routes []string
	for _, o := range c.nodes {
		if o != n {
			routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", o.clusterPort))
		}
	}
	n.cmd = exec.Command(c.bin, "-a", "127.0.0.1", "-p", fmt.Sprint(n.port), "-n", n.name, "-js", "-sd", n.dir,
		"--cluster_name", "calldex", "--cluster", fmt.Sprintf("nats://127.0.0.1:%d", n.clusterPort), "--routes", strings.Join(routes, ","))
	n.cmd.Stdout, n.cmd.Stderr = nil, nil
	if err := n.cmd.Start(); err != nil {
		c.t.Fatalf("start nats-server %s: %v", n.name, err)
	}
	n.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) { _ = cmd.Wait(); close(exited) }(n.cmd, n.exited)
}

// Kill kills server i with SIGKILL, as a crash would, and waits until it
// is gone. Killing a stopped server does nothing.
func (c *Cluster) Kill(i int) {
	n := c.nodes[i]
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.exited
	n.cmd = nil
}

// WaitReady waits until every running server answers and JetStream has a
// meta leader.
func (c *Cluster) WaitReady() {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range c.nodes {
		if n.cmd == nil {
			continue
		}
		for {
			if err := accountReady(n.port); err == nil {
				break
			} else if time.Now().After(deadline) {
				c.t.Fatalf("nats-server %s not ready: %v", n.name, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func accountReady(port int) error {
	nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", port), nats.Timeout(time.Second))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = js.AccountInfo(ctx)
	return err
}

// FreePort returns a loopback TCP port free at the moment of asking.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
