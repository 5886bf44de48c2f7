// Package apptest runs a Calldex process in a test, built by the one
// composition root (app.Build) like the calldex binary.
package apptest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/calldex/calldex/services/internal/app"
)

// Process is a running Calldex.
type Process struct {
	// URL is the HTTP API's base URL.
	URL string
	// NATSURL is the NATS it uses (the embedded one's when it embeds NATS).
	NATSURL string
	*app.App
	stop context.CancelFunc
	done chan error
}

// Start builds and runs cfg with its HTTP API on a free loopback port,
// waits until it serves, and stops it when the test ends.
func Start(t testing.TB, cfg app.Config, opts ...app.Option) *Process {
	t.Helper()
	cfg.HTTPAddr = "127.0.0.1:0"
	ctx, stop := context.WithCancel(context.Background())
	p := &Process{stop: stop, done: make(chan error, 1)}
	served := make(chan struct{})
	opts = append([]app.Option{app.WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	opts = append(opts, app.WithReady(func(httpAddr, natsURL string) {
		p.URL, p.NATSURL = "http://"+httpAddr, natsURL
		close(served)
	}))
	a, err := app.Build(ctx, cfg, opts...)
	if err != nil {
		stop()
		t.Fatalf("build calldex: %v", err)
	}
	p.App = a
	go func() { p.done <- a.Run(ctx) }()
	select {
	case <-served:
	case err := <-p.done:
		t.Fatalf("calldex stopped before serving: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("calldex did not serve within 30s")
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("calldex stopped with %v", err)
		}
	})
	return p
}

// Stop stops the process as SIGTERM does and returns Run's error; calling
// it again returns nil.
func (p *Process) Stop() error {
	if p.stop == nil {
		return nil
	}
	p.stop()
	p.stop = nil
	return <-p.done
}
