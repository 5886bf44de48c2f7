// Command worker runs workflow requests from the WORKFLOWS stream against
// the tenants' CRMs. Run as many replicas as needed: they share one durable
// consumer and split the work.
//
// Environment:
//
//	NATS_URL               NATS server (default nats://127.0.0.1:4222)
//	CALLDEX_CONFIG         tenants' configuration file (required)
//	CALLDEX_STREAM_PREFIX  prefix of streams, subjects and buckets (optional)
package main

import (
	"context"
	"log/slog"

	"github.com/calldex/calldex/services/internal/app"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/workflows/connectors"
	"github.com/calldex/calldex/workflows/worker"
)

func main() { app.Main("worker", run) }

func run(ctx context.Context, log *slog.Logger) error {
	b, err := app.OpenBackend(ctx, "calldex-worker", log)
	if err != nil {
		return err
	}
	defer b.Conn.Close()
	// The subscription has its own connection: the worker drains it on stop,
	// while dead letters and results still go through b.Conn.
	subConn, err := app.ConnectNATS(b.NATSURL, "calldex-worker-sub", log)
	if err != nil {
		return err
	}
	defer subConn.Close()
	factory, err := connectors.New(connectors.Config{}, connectors.Deps{HTTP: connectors.NewHTTPClient(connectors.HTTPConfig{})})
	if err != nil {
		return err
	}
	defer factory.Close()
	w, err := worker.New(worker.Config{Topology: b.Topology}, worker.Deps{
		Conn: subConn, JS: b.JS, Results: b.Buckets.WorkflowResults,
		Tenants: tenant.NewRegistry(b.Config), Connectors: factory, Logger: log,
	})
	if err != nil {
		return err
	}
	log.Info("worker running", "nats", b.NATSURL, "tenants", len(b.Config.Tenants), "prefix", b.Topology.Prefix)
	return w.Run(ctx)
}
