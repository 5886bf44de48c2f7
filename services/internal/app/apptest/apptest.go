// Package apptest runs a Calldex process in a test or a load tool, built by
// the one composition root (app.Build) like the calldex binary.
package apptest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
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
	p, err := Run(context.Background(), cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("calldex stopped with %v", err)
		}
	})
	return p
}

// Run builds and runs cfg with its HTTP API on a free loopback port and
// returns once it serves; it runs until ctx ends or Stop. Logs are dropped
// unless opts log elsewhere (app.WithLogger).
func Run(ctx context.Context, cfg app.Config, opts ...app.Option) (*Process, error) {
	cfg.HTTPAddr = "127.0.0.1:0"
	ctx, stop := context.WithCancel(ctx)
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
		return nil, fmt.Errorf("build calldex: %w", err)
	}
	p.App = a
	go func() { p.done <- a.Run(ctx) }()
	select {
	case <-served:
		return p, nil
	case err := <-p.done:
		if err == nil { // ctx ended first
			err = ctx.Err()
		}
		stop()
		return nil, fmt.Errorf("calldex stopped before serving: %w", err)
	case <-time.After(30 * time.Second):
		return nil, errors.Join(errors.New("calldex did not serve within 30s"), p.Stop())
	}
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

// Call sends one request (header as name, value pairs) and returns the
// answer's status, body and headers; any transport error fails the test.
func Call(t testing.TB, method, url, body string, header ...string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}
