package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/metrics"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/workflows/connectors"
)

type tenantConnector = tenant.Connector

// Tenants finds a tenant by id (*tenant.Registry).
type Tenants interface {
	Tenant(id string) (*tenant.Tenant, bool)
}

// Connectors gives the guarded connector instance of a tenant
// (*connectors.Factory).
type Connectors interface {
	Connector(ctx context.Context, tenantID, name string, c tenant.Connector) (*connectors.Connector, error)
}

var (
	_ Tenants    = (*tenant.Registry)(nil)
	_ Connectors = (*connectors.Factory)(nil)
)

// Deps are the Worker's ready clients.
type Deps struct {
	// Conn carries the subscription. The worker owns it: watermill's
	// subscriber drains and closes it when Run returns, so give the worker
	// a connection of its own. Connect it with nats.MaxReconnects(-1) (New
	// warns otherwise): a connection that gives up ends Run with an error,
	// however well the server comes back.
	Conn *nats.Conn
	// JS publishes dead letters and reads the consumer; it may share a
	// connection with others.
	JS jetstream.JetStream
	// Results is the workflow_results bucket (natsx.Setup).
	Results    jetstream.KeyValue
	Tenants    Tenants
	Connectors Connectors
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Metrics, when set, counts outcomes and attempts (calldex_workflows_total,
	// calldex_workflow_attempts).
	Metrics *metrics.Metrics
}

// Worker consumes WORKFLOWS and runs each request against its connector.
type Worker struct {
	cfg        Config
	conn       *nats.Conn
	js         jetstream.JetStream
	results    results
	tenants    Tenants
	connectors Connectors
	log        *slog.Logger
	now        func() time.Time
	filter     string
	deliver    string
	router     *message.Router
	sub        *wmnats.Subscriber
	running    chan struct{}
	metrics    *metrics.Metrics
	// stopping is set once Run's context ends, before the router stops.
	stopping atomic.Bool
}

// New checks the config and dependencies and prepares the router; Run
// starts consuming.
func New(cfg Config, deps Deps) (*Worker, error) {
	var errs []error
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if deps.Conn == nil || deps.JS == nil || deps.Results == nil || deps.Tenants == nil || deps.Connectors == nil {
		errs = append(errs, errors.New("worker: Conn, JS, Results, Tenants and Connectors are required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if o := deps.Conn.Opts; !o.AllowReconnect || o.MaxReconnect >= 0 {
		deps.Logger.Warn("worker: its connection gives up reconnecting: a longer NATS outage ends Run with an error; connect it with nats.MaxReconnects(-1)",
			"component", "worker", "max_reconnects", o.MaxReconnect, "allow_reconnect", o.AllowReconnect)
	}
	w := &Worker{
		cfg: cfg, conn: deps.Conn, js: deps.JS, tenants: deps.Tenants, connectors: deps.Connectors,
		log: deps.Logger.With("component", "worker"), now: time.Now,
		results: results{kv: deps.Results, now: time.Now},
		running: make(chan struct{}), metrics: deps.Metrics,
	}
	for _, s := range cfg.Topology.Streams() {
		if s.Name == cfg.Topology.Stream(events.StreamWorkflows) {
			// The stream's own subject: every tenant, every workflow.
			// (WorkflowSubject("*","*") would escape the second "*".)
			w.filter = s.Subjects[0]
		}
	}
	w.deliver = "_calldex.deliver." + cfg.Topology.Stream(events.StreamWorkflows) + "." + cfg.Durable

	// watermill logs every handler error at Error; transient failures are
	// expected and logged by us as warnings, so its errors become warnings
	// and its lifecycle chatter debug.
	wlog := watermill.NewSlogLoggerWithLevelMapping(w.log, map[slog.Level]slog.Level{
		slog.LevelInfo:  slog.LevelDebug,
		slog.LevelError: slog.LevelWarn,
	})
	// A plain NATS queue subscription on the consumer's deliver subject,
	// not a JetStream one: subscribing then needs no JetStream request
	// (the legacy API looks the consumer up), so it cannot fail while NATS
	// is away, and nats.go renews it on every reconnect. The messages are
	// the consumer's all the same, acked, nacked and redelivered by it.
	// Unsubscribing never deletes the consumer with its pending
	// redeliveries.
	sub, err := wmnats.NewSubscriberWithNatsConn(deps.Conn, wmnats.SubscriberSubscriptionConfig{
		Unmarshaler:      unmarshaler{stopping: &w.stopping},
		SubscribersCount: cfg.Concurrency,
		AckWaitTimeout:   cfg.AckWait,
		CloseTimeout:     cfg.CloseTimeout,
		QueueGroupPrefix: cfg.Durable, // the consumer's DeliverGroup
		NakDelay:         nakDelay{cfg.Retry},
		JetStream: wmnats.JetStreamConfig{
			Disabled: true,
			// Acks are not confirmed. A lost ack costs only a redelivery
			// that the record acks without a CRM call, while a confirmed
			// one holds the subscription for a round trip per message,
			// and for nats.go's 5 s request timeout on a broken
			// connection, stalling every message buffered behind it.
			AckAsync: true,
		},
	}, wlog)
	if err != nil {
		return nil, fmt.Errorf("worker: subscriber: %w", err)
	}
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: cfg.CloseTimeout}, wlog)
	if err != nil {
		return nil, fmt.Errorf("worker: router: %w", err)
	}
	// Outermost first. The dead-letter step sits outside retry so that only
	// final outcomes reach it; the timeout inside, so each attempt has its
	// own; the recoverer innermost turns a panic into an error, which counts
	// as transient (a bug should not lose work).
	router.AddMiddleware(
		correlationID,
		w.deadLetter,
		w.retry,
		attemptTimeout(cfg.AttemptTimeout),
		middleware.Recoverer,
	)
	router.AddConsumerHandler("workflows", w.deliver, sub, w.handle)
	w.router, w.sub = router, sub
	return w, nil
}

// ensureConsumer creates or updates the durable push consumer all replicas
// share: explicit acks, never stop redelivering (the worker decides when to
// give up), AckWait as configured.
func (w *Worker) ensureConsumer(ctx context.Context) error {
	stream := w.cfg.Topology.Stream(events.StreamWorkflows)
	ctx, cancel := context.WithTimeout(ctx, consumerRequestTimeout)
	defer cancel()
	_, err := w.js.CreateOrUpdatePushConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable:        w.cfg.Durable,
		Description:    "Calldex workers",
		DeliverSubject: w.deliver,
		DeliverGroup:   w.cfg.Durable,
		FilterSubject:  w.filter,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        w.cfg.AckWait,
		MaxDeliver:     -1,
		MaxAckPending:  w.cfg.MaxAckPending,
	})
	if err != nil {
		return fmt.Errorf("worker: ensure consumer %s on %s: %w", w.cfg.Durable, stream, err)
	}
	return nil
}

// Waiting for the consumer while NATS is away: each request has nats.go's
// default JetStream timeout, attempts back off to one every 5s.
const consumerRequestTimeout = 5 * time.Second

var consumerRetry = RetryConfig{InitialInterval: 100 * time.Millisecond, MaxInterval: 5 * time.Second, Multiplier: 2, Jitter: 0.2}

// waitConsumer ensures the consumer, retrying while NATS is unreachable or
// not ready, until it succeeds or ctx ends. A reconnect (kick) retries at
// once, abandoning a request in flight: it may have been lost with the old
// connection. With strict, an error NATS will not get over by itself (an
// unknown stream, a refused configuration) is returned; without, it is
// retried as well, and logged as an error.
func (w *Worker) waitConsumer(ctx context.Context, kick <-chan struct{}, strict bool) error {
	for n := 1; ; n++ {
		kicked, err := w.tryConsumer(ctx, kick)
		if err == nil {
			if n > 1 {
				w.log.Info("worker consumer ready", "durable", w.cfg.Durable, "attempts", n)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if kicked {
			continue
		}
		switch {
		case !natsUnavailable(err) && strict:
			return err
		case !natsUnavailable(err):
			w.log.Error("cannot ensure the worker consumer; retrying", "err", err, "attempt", n)
		case n == 1:
			w.log.Warn("NATS unavailable, waiting to ensure the worker consumer", "err", err)
		default:
			w.log.Debug("NATS still unavailable", "err", err, "attempt", n)
		}
		t := time.NewTimer(consumerRetry.backoff(n))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-kick:
			t.Stop()
		case <-t.C:
		}
	}
}

// tryConsumer is one ensureConsumer, abandoned on a kick.
func (w *Worker) tryConsumer(ctx context.Context, kick <-chan struct{}) (kicked bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- w.ensureConsumer(ctx) }()
	select {
	case err := <-errc:
		return false, err
	case <-kick:
		cancel()
		return true, <-errc
	}
}

// natsUnavailable tells whether a JetStream request failed because NATS is
// away or not ready yet, which passes by itself.
func natsUnavailable(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code >= 500 // 503: JetStream not (yet) available
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrConnectionReconnecting) ||
		errors.Is(err, nats.ErrDisconnected) || errors.Is(err, nats.ErrReconnectBufExceeded)
}

// Run consumes until ctx ends, then stops cleanly (see the package doc) and
// returns nil. It rides out NATS outages of any length; it returns an error
// only for what no outage explains: a consumer JetStream refuses, or the
// connection closed under it.
func (w *Worker) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	// Listen before looking, so that no change is missed in between.
	closed := w.conn.StatusChanged(nats.CLOSED)
	defer w.conn.RemoveStatusListener(closed)
	// kick tells of a reconnect, of the subscription's connection or of
	// the JetStream one.
	kick := make(chan struct{}, 1)
	conns := []*nats.Conn{w.conn}
	if c := w.js.Conn(); c != nil && c != w.conn {
		conns = append(conns, c)
	}
	for _, c := range conns {
		ch := c.StatusChanged(nats.CONNECTED)
		defer c.RemoveStatusListener(ch) // ends the loop below
		wg.Go(func() {
			for range ch {
				select {
				case kick <- struct{}{}:
				default:
				}
			}
		})
	}
	errClosed := fmt.Errorf("worker: subscription connection: %w", nats.ErrConnectionClosed)
	if w.conn.IsClosed() {
		_ = w.sub.Close()
		return errClosed
	}

	parent := ctx
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	wg.Go(func() {
		select {
		case _, ok := <-closed:
			if ok {
				cancel(errClosed)
			}
		case <-ctx.Done():
		}
	})
	// stopped is what Run returns once ctx ended: nil when the caller
	// stopped it.
	stopped := func() error {
		if parent.Err() != nil {
			return nil
		}
		return context.Cause(ctx)
	}

	if err := w.waitConsumer(ctx, kick, true); err != nil {
		_ = w.sub.Close()
		if ctx.Err() != nil {
			return stopped()
		}
		return err
	}
	wg.Go(func() {
		select {
		case <-w.router.Running():
			close(w.running)
		case <-ctx.Done():
		}
	})
	// The router runs until the worker has started to hand messages back
	// (unmarshaler), so that no message reaches watermill's subscriber
	// between its closing and its closed output.
	rctx, stopRouter := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRouter()
	wg.Go(func() {
		<-ctx.Done()
		w.stopping.Store(true)
		stopRouter()
		_ = w.router.Close()
	})
	// A server back without the consumer (its state lost, or the consumer
	// deleted) would deliver nothing, and a push consumer of a deliver
	// group has no heartbeat that could tell: ensure it again after every
	// reconnect.
	wg.Go(func() {
		for {
			select {
			case <-kick:
				_ = w.waitConsumer(ctx, kick, false)
			case <-ctx.Done():
				return
			}
		}
	})
	if err := w.router.Run(rctx); err != nil {
		_ = w.sub.Close()
		return fmt.Errorf("worker: %w", err)
	}
	if ctx.Err() == nil {
		return errors.New("worker: the router stopped by itself")
	}
	return stopped()
}

// outcome counts an attempt's outcome; attempts are observed once a
// workflow is done or dead-lettered.
func (w *Worker) outcome(tenant, workflow, outcome string, attempts int) {
	if w.metrics == nil {
		return
	}
	w.metrics.Workflows.WithLabelValues(tenant, workflow, outcome).Inc()
	if outcome != outcomeRetry {
		w.metrics.WorkflowAttempts.WithLabelValues(workflow).Observe(float64(attempts))
	}
}

// Outcomes of an attempt, as calldex_workflows_total labels them.
const (
	outcomeDone   = "done"
	outcomeRetry  = "retry"
	outcomeFailed = "failed"
)

// Running is closed once the worker consumes: its consumer exists and its
// subscriptions are made.
func (w *Worker) Running() <-chan struct{} { return w.running }
