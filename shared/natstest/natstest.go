// Package natstest gives tests a real NATS JetStream: the server at NATS_URL
// (default nats://127.0.0.1:4222) with a unique topology prefix per test, or
// an embedded server a test may stop and restart.
package natstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/natsx"
)

// Env is one test's view of NATS.
type Env struct {
	URL      string
	Conn     *nats.Conn
	JS       jetstream.JetStream
	Topology events.Topology
	Buckets  natsx.Buckets
}

// Connect connects to NATS_URL and sets up streams and buckets under a
// prefix no other test uses; everything is deleted on cleanup. Without a
// server it skips, or fails when CI=true.
func Connect(t testing.TB) *Env {
	t.Helper()
	url := os.Getenv("NATS_URL")
	if url == "" {
		url = nats.DefaultURL
	}
	nc, err := nats.Connect(url, nats.Timeout(2*time.Second))
	if err != nil {
		unavailable(t, url, err)
	}
	t.Cleanup(nc.Close)
	return setup(t, url, nc)
}

// Server is an embedded NATS server a test can stop and restart on the same
// port and data directory.
type Server struct {
	t    testing.TB
	dir  string
	port int
	srv  *server.Server
}

// Embedded starts an embedded JetStream server on a free loopback port.
func Embedded(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, dir: t.TempDir(), port: -1}
	s.Start()
	s.port = s.srv.Addr().(*net.TCPAddr).Port
	t.Cleanup(s.Stop)
	return s
}

// URL is the client URL of the server.
func (s *Server) URL() string { return s.srv.ClientURL() }

// Start (re)starts the server on its port and data directory.
func (s *Server) Start() {
	s.t.Helper()
	srv, err := natsx.StartEmbedded(natsx.EmbeddedConfig{DataDir: s.dir, Port: s.port})
	if err != nil {
		s.t.Fatalf("start embedded nats: %v", err)
	}
	s.srv = srv
}

// Stop shuts the server down and waits for it.
func (s *Server) Stop() {
	if s.srv == nil {
		return
	}
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
}

// Connect connects to the embedded server (reconnecting forever, so a test
// can restart the server under a live connection) and sets up a topology.
func (s *Server) Connect() *Env {
	s.t.Helper()
	url := s.URL()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		s.t.Fatalf("connect embedded nats: %v", err)
	}
	s.t.Cleanup(nc.Close)
	return setup(s.t, url, nc)
}

func setup(t testing.TB, url string, nc *nats.Conn) *Env {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	topo := events.Topology{Prefix: Prefix()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	buckets, err := natsx.Setup(ctx, js, topo)
	if err != nil {
		t.Fatalf("set up streams: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, s := range topo.Streams() {
			_ = js.DeleteStream(ctx, s.Name)
		}
		_ = js.DeleteKeyValue(ctx, topo.Stream(events.BucketWorkflowResults))
		_ = js.DeleteKeyValue(ctx, topo.Stream(events.BucketSyncCursors))
		_ = js.DeleteKeyValue(ctx, topo.Stream(events.BucketTenants))
	})
	return &Env{URL: url, Conn: nc, JS: js, Topology: topo, Buckets: buckets}
}

// Prefix returns a fresh topology prefix, safe as stream name and subject token.
func Prefix() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return "t" + strings.ToLower(hex.EncodeToString(b))
}

func unavailable(t testing.TB, url string, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("NATS at %s is required under CI=true: %v", url, err)
	}
	t.Skipf("NATS at %s unavailable (%v); start it with: nats-server -js -a 127.0.0.1 -p 4222", url, err)
}
