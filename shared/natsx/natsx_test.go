package natsx_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/natstest"
	"github.com/calldex/calldex/shared/natsx"
)

func TestContactsStreamKeepsLatestPerSubject(t *testing.T) {
	for name, env := range map[string]func(t *testing.T) *natstest.Env{
		"external": func(t *testing.T) *natstest.Env { return natstest.Connect(t) },
		"embedded": func(t *testing.T) *natstest.Env { return natstest.Embedded(t).Connect() },
	} {
		t.Run(name, func(t *testing.T) {
			e := env(t)
			ctx := context.Background()
			subj := e.Topology.ContactSubject("acme", "crm", "42")
			for _, body := range []string{"v1", "v2", "v3"} {
				if _, err := e.JS.Publish(ctx, subj, []byte(body)); err != nil {
					t.Fatalf("publish: %v", err)
				}
			}
			// Setting up again must not fail nor drop anything.
			if _, err := natsx.Setup(ctx, e.JS, e.Topology); err != nil {
				t.Fatalf("second setup: %v", err)
			}
			s, err := e.JS.Stream(ctx, e.Topology.Stream("CONTACTS"))
			if err != nil {
				t.Fatalf("stream: %v", err)
			}
			msg, err := s.GetLastMsgForSubject(ctx, subj)
			if err != nil {
				t.Fatalf("last msg: %v", err)
			}
			if string(msg.Data) != "v3" {
				t.Fatalf("latest = %q, want v3", msg.Data)
			}
			info, err := s.Info(ctx)
			if err != nil {
				t.Fatalf("info: %v", err)
			}
			if info.State.Msgs != 1 {
				t.Fatalf("stream keeps %d messages for one contact, want 1", info.State.Msgs)
			}
		})
	}
}

func TestRetentionAppliesToExistingStreams(t *testing.T) {
	e := natstest.Connect(t) // streams and buckets exist with the default retention
	ctx := context.Background()
	maxAge := func(name string) time.Duration {
		t.Helper()
		s, err := e.JS.Stream(ctx, name)
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatalf("info %s: %v", name, err)
		}
		return info.Config.MaxAge
	}
	calls, workflows := e.Topology.Stream(events.StreamCalls), e.Topology.Stream(events.StreamWorkflows)
	results := "KV_" + e.Topology.Stream(events.BucketWorkflowResults)
	if got := maxAge(calls); got != events.DefaultCallsMaxAge {
		t.Fatalf("CALLS MaxAge %s, want the default %s", got, events.DefaultCallsMaxAge)
	}
	topo := e.Topology
	topo.Retention = events.Retention{Calls: 7 * 24 * time.Hour, Workflows: 48 * time.Hour, Results: 36 * time.Hour}
	if _, err := natsx.Setup(ctx, e.JS, topo); err != nil {
		t.Fatalf("setup with a new retention: %v", err)
	}
	for name, want := range map[string]time.Duration{calls: 7 * 24 * time.Hour, workflows: 48 * time.Hour, results: 36 * time.Hour} {
		if got := maxAge(name); got != want {
			t.Errorf("%s MaxAge %s, want %s", name, got, want)
		}
	}
}

// TestEmbeddedPortInUse: a port another process holds is reported as
// such, not as a server that never became ready.
func TestEmbeddedPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	srv, err := natsx.StartEmbedded(natsx.EmbeddedConfig{DataDir: t.TempDir(), Host: "127.0.0.1", Port: port})
	if err == nil {
		srv.Shutdown()
		t.Fatal("started on a port in use")
	}
	if !errors.Is(err, natsx.ErrAddressInUse) || !strings.Contains(err.Error(), "address in use") || !strings.Contains(err.Error(), strconv.Itoa(port)) {
		t.Fatalf("error %q: want address in use, with the port", err)
	}
}
