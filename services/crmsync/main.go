// Command crmsync keeps CONTACTS, and so the index, within seconds of the
// tenants' CRMs: it polls every connector that lists changes (HubSpot,
// Pipedrive) from its stored cursor, and serves the CRMs' change
// notifications at POST /webhooks/{tenant}/{source}. Run as many replicas
// as wanted: a lease per source makes exactly one of them sync it, and
// another takes over when it dies.
//
// Environment:
//
//	NATS_URL               NATS server (default nats://127.0.0.1:4222)
//	CALLDEX_CONFIG         tenants' configuration file (required)
//	CALLDEX_STREAM_PREFIX  prefix of streams, subjects and buckets (optional)
//	CALLDEX_HTTP_ADDR      where /webhooks/, /metrics and /healthz are served
//	                       (default 127.0.0.1:8081; "off" serves nothing)
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/calldex/calldex/services/internal/app"
	"github.com/calldex/calldex/services/internal/crmhooks"
	"github.com/calldex/calldex/shared/contact"
	"github.com/calldex/calldex/shared/metrics"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/workflows/connectors"
	"github.com/calldex/calldex/workflows/crmsync"
)

const defaultHTTPAddr = "127.0.0.1:8081"

func main() { app.Main("crmsync", run) }

func run(ctx context.Context, log *slog.Logger) error {
	httpAddr := os.Getenv("CALLDEX_HTTP_ADDR")
	if httpAddr == "" {
		httpAddr = defaultHTTPAddr
	}
	b, err := app.OpenBackend(ctx, "calldex-crmsync", log)
	if err != nil {
		return err
	}
	defer b.Conn.Close()
	js, topo, buckets, natsURL := b.JS, b.Topology, b.Buckets, b.NATSURL

	factory, err := connectors.New(connectors.Config{}, connectors.Deps{HTTP: connectors.NewHTTPClient(connectors.HTTPConfig{})})
	if err != nil {
		return err
	}
	defer factory.Close()

	m := metrics.New()
	reg := tenant.NewRegistry(b.Config)
	contacts := contact.NewPublisher(js, topo)
	syncer, err := crmsync.New(crmsync.Config{Topology: topo}, crmsync.Deps{
		JS: js, Cursors: buckets.SyncCursors, Contacts: contacts, Connectors: factory, Tenants: reg, Metrics: m, Log: log,
	})
	if err != nil {
		return err
	}
	hooks, err := crmhooks.New(crmhooks.Config{}, crmhooks.Deps{Tenants: reg, Trigger: syncer, Contacts: contacts, Metrics: m, Log: log})
	if err != nil {
		return err
	}

	ctx, stop := context.WithCancel(ctx)
	defer stop()
	synced := make(chan error, 1)
	go func() { synced <- syncer.Run(ctx) }()

	var hs *http.Server
	served := make(chan error, 1)
	if httpAddr != "off" {
		mux := http.NewServeMux()
		mux.Handle(crmhooks.PathPrefix, hooks)
		mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
		ln, err := net.Listen("tcp", httpAddr)
		if err != nil {
			return fmt.Errorf("listen %s: %w", httpAddr, err)
		}
		hs = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second}
		go func() { served <- hs.Serve(ln) }()
	}
	log.Info("crmsync running", "nats", natsURL, "http", httpAddr, "owner", syncer.Owner(), "sources", len(syncer.Sources()), "prefix", topo.Prefix)

	select {
	case <-ctx.Done():
	case err = <-served:
	}
	stop()
	if hs != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = hs.Shutdown(sctx)
		cancel()
	}
	// Run releases the leases before it returns: let it.
	<-synced
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
