package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/natsx"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/workflows/connectors"
	"github.com/calldex/calldex/workflows/dispatch"
	"github.com/calldex/calldex/workflows/worker"
)

// slowCRM is a webhook CRM answering each call log after a random delay
// up to maxDelay.
func slowCRM(maxDelay time.Duration) *httptest.Server {
	var id atomic.Int64
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if maxDelay > 0 {
			time.Sleep(rand.N(maxDelay))
		}
		n := id.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"%d","url":"https://crm.example.com/calls/%d"}`, n, n)
	}))
}

// callFlowBody is request n's CallFlow: a distinct call each time.
func callFlowBody(run int64) func(n uint64) string {
	return func(n uint64) string {
		return fmt.Sprintf(`{"inputs":{"contactCrmId":"c-%d-%d","userCrmId":"u-1","originatorNumber":"41215522000","destinationNumber":"41215550000","direction":"incoming","startedTime":"2026-01-05T10:00:00Z","answeredTime":"2026-01-05T10:00:05Z","endedTime":"2026-01-05T10:03:05Z"}}`, run, n)
	}
}

// startWorkflows runs the dispatcher and an in-process worker, as the
// embedded calldex does.
func startWorkflows(ctx context.Context, natsURL string, js jetstream.JetStream, topo events.Topology, reg *tenant.Registry, log *slog.Logger) (*dispatch.Dispatcher, error) {
	buckets, err := natsx.EnsureBuckets(ctx, js, topo)
	if err != nil {
		return nil, err
	}
	f, err := connectors.New(connectors.Config{}, connectors.Deps{HTTP: connectors.NewHTTPClient(connectors.HTTPConfig{})})
	if err != nil {
		return nil, err
	}
	conn, err := nats.Connect(natsURL, nats.MaxReconnects(-1))
	if err != nil {
		return nil, err
	}
	w, err := worker.New(worker.Config{Topology: topo}, worker.Deps{Conn: conn, JS: js, Results: buckets.WorkflowResults, Tenants: reg, Connectors: f, Logger: log})
	if err != nil {
		return nil, err
	}
	go func() { _ = w.Run(ctx) }()
	return dispatch.New(js, buckets.WorkflowResults, topo), nil
}
