package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/natsx"
	"github.com/calldex/calldex/shared/tenant"
)

// Main runs a service's run function until SIGINT or SIGTERM, with JSON
// logs on stderr, and exits 1 with the error it returns.
func Main(name string, run func(ctx context.Context, log *slog.Logger) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(ctx, log); err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

// ConnectNATS dials NATS the way every Calldex process does: it keeps
// reconnecting for as long as the process lives, and says so in the log.
func ConnectNATS(url, name string, log *slog.Logger) (*nats.Conn, error) {
	nc, err := nats.Connect(url, nats.Name(name), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true), nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: closed on purpose
				log.Warn("nats disconnected", "conn", name, "err", err)
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) { log.Info("nats reconnected", "conn", name) }))
	if err != nil {
		return nil, fmt.Errorf("connect nats %s: %w", url, err)
	}
	return nc, nil
}

// Backend is what the NATS-only services (worker, crmsync) share: their
// configuration, one JetStream connection and the streams and buckets.
type Backend struct {
	NATSURL  string
	Config   *tenant.Config
	Topology events.Topology
	Conn     *nats.Conn
	JS       jetstream.JetStream
	Buckets  natsx.Buckets
}

// OpenBackend reads NATS_URL, CALLDEX_CONFIG (required) and
// CALLDEX_STREAM_PREFIX, connects and sets up the streams and buckets.
// Close the Conn when done.
func OpenBackend(ctx context.Context, name string, log *slog.Logger) (*Backend, error) {
	b := &Backend{NATSURL: env("NATS_URL", nats.DefaultURL), Topology: events.Topology{Prefix: os.Getenv("CALLDEX_STREAM_PREFIX")}}
	path := os.Getenv("CALLDEX_CONFIG")
	if path == "" {
		return nil, errors.New("CALLDEX_CONFIG is required")
	}
	cfg, err := tenant.Load(path, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	b.Config = cfg
	if b.Conn, err = ConnectNATS(b.NATSURL, name, log); err != nil {
		return nil, err
	}
	if b.JS, err = jetstream.New(b.Conn); err != nil {
		b.Conn.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if b.Buckets, err = natsx.Setup(sctx, b.JS, b.Topology); err != nil {
		b.Conn.Close()
		return nil, err
	}
	return b, nil
}
