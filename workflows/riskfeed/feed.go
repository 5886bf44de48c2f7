package riskfeed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/risk"
	"github.com/calldex/calldex/shared/tenant"
)

// Tenants finds a tenant by id (*tenant.Registry).
type Tenants interface {
	Tenant(id string) (*tenant.Tenant, bool)
}

var _ Tenants = (*tenant.Registry)(nil)

// Config configures the feed.
type Config struct {
	Topology events.Topology
	// Durable names the consumer every replica shares (default
	// "calldex-risk"). Renaming it re-consumes the last hour.
	Durable string
	// Since is how far back a new consumer starts (default one hour, the
	// rules' window).
	Since time.Duration
	// AckWait before JetStream redelivers a message (default 30s).
	AckWait time.Duration
	// CallsOnly: the lookups are counted where they are answered (the
	// all-in-one's in-process store, lookup.Recorder.CountRisk), so the
	// feed counts only finished calls, under its own consumer (default
	// durable "calldex-risk-calls"), which on NATS 2.10 and later is not
	// delivered the lookups at all; before, the feed acks them unread
	// (told by their subject).
	CallsOnly bool
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Since < 0 {
		errs = append(errs, fmt.Errorf("riskfeed: since %s must not be negative", c.Since))
	}
	if c.AckWait < 0 {
		errs = append(errs, fmt.Errorf("riskfeed: ackWait %s must not be negative", c.AckWait))
	}
	return errors.Join(errs...)
}

// Deps are the feed's ready clients.
type Deps struct {
	// Conn carries the subscription; the feed's subscriber drains and
	// closes it when Run returns, so give it a connection of its own.
	Conn *nats.Conn
	// JS creates the consumer.
	JS      jetstream.JetStream
	Store   risk.Store
	Tenants Tenants
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Feed consumes CALLS into a risk store.
type Feed struct {
	cfg     Config
	d       Deps
	log     *slog.Logger
	filter  string
	deliver string
	router  *message.Router
}

// New checks the config and dependencies and prepares the router.
func New(cfg Config, d Deps) (*Feed, error) {
	errs := []error{cfg.Validate()}
	if d.Conn == nil || d.JS == nil || d.Store == nil || d.Tenants == nil {
		errs = append(errs, errors.New("riskfeed: Conn, JS, Store and Tenants are required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Durable == "" {
		cfg.Durable = "calldex-risk"
		if cfg.CallsOnly {
			cfg.Durable = "calldex-risk-calls"
		}
	}
	if cfg.Since == 0 {
		cfg.Since = risk.DefaultWindow
	}
	if cfg.AckWait == 0 {
		cfg.AckWait = 30 * time.Second
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	f := &Feed{cfg: cfg, d: d, log: d.Logger.With("component", "riskfeed")}
	stream := cfg.Topology.Stream(events.StreamCalls)
	for _, s := range cfg.Topology.Streams() {
		if s.Name == stream {
			f.filter = s.Subjects[0]
		}
	}
	f.deliver = "_calldex.deliver." + stream + "." + cfg.Durable
	wlog := watermill.NewSlogLoggerWithLevelMapping(f.log, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
	// As the worker does: a plain queue subscription on the consumer's
	// deliver subject, which needs no JetStream request to subscribe.
	sub, err := wmnats.NewSubscriberWithNatsConn(d.Conn, wmnats.SubscriberSubscriptionConfig{
		Unmarshaler:      unmarshaler{},
		SubscribersCount: 1,
		AckWaitTimeout:   cfg.AckWait,
		CloseTimeout:     5 * time.Second,
		QueueGroupPrefix: cfg.Durable,
		JetStream:        wmnats.JetStreamConfig{Disabled: true, AckAsync: true},
	}, wlog)
	if err != nil {
		return nil, fmt.Errorf("riskfeed: subscriber: %w", err)
	}
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 5 * time.Second}, wlog)
	if err != nil {
		return nil, fmt.Errorf("riskfeed: router: %w", err)
	}
	router.AddMiddleware(middleware.Recoverer)
	router.AddConsumerHandler("risk", f.deliver, sub, f.handle)
	f.router = router
	return f, nil
}

// unmarshaler hands the message's bytes and subject on; the handler
// decodes them.
type unmarshaler struct{}

// subjectKey is the metadata key of the message's subject.
const subjectKey = "subject"

func (unmarshaler) Unmarshal(m *nats.Msg) (*message.Message, error) {
	msg := message.NewMessage(watermill.NewUUID(), m.Data)
	msg.Metadata.Set(subjectKey, m.Subject)
	return msg, nil
}

// handle records what one CALLS message tells; a message that is not
// events is dropped (logged), a store that fails gets it again.
func (f *Feed) handle(msg *message.Message) error {
	// Delivered where the server took one filter subject only (before
	// 2.10; finishedCalls).
	if f.cfg.CallsOnly && strings.HasSuffix(msg.Metadata.Get(subjectKey), ".lookup") {
		return nil
	}
	obs, err := Observe(msg.Payload, f.d.Tenants)
	if err != nil {
		f.log.Warn("risk feed: undecodable events skipped", "err", err)
	}
	if len(obs) == 0 {
		return nil
	}
	if err := f.d.Store.Record(msg.Context(), obs); err != nil {
		return fmt.Errorf("riskfeed: %w", err)
	}
	return nil
}

// Run consumes until ctx ends.
func (f *Feed) Run(ctx context.Context) error {
	if f.waitConsumer(ctx) != nil {
		return nil // ctx ended: stopped before consuming
	}
	if err := f.router.Run(ctx); err != nil {
		return fmt.Errorf("riskfeed: %w", err)
	}
	return nil
}

// Running is closed once the feed consumes.
func (f *Feed) Running() chan struct{} { return f.router.Running() }

// waitConsumer creates the shared consumer, retrying while NATS is away,
// until ctx ends. An existing consumer is kept as it is: its position is
// the point — but for one of CallsOnly that still delivers lookups (made
// before the server could filter), replaced by one that does not.
func (f *Feed) waitConsumer(ctx context.Context) error {
	stream := f.cfg.Topology.Stream(events.StreamCalls)
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		start := time.Now().Add(-f.cfg.Since)
		cfg := jetstream.ConsumerConfig{
			Durable:        f.cfg.Durable,
			Description:    "Calldex caller risk counts",
			DeliverSubject: f.deliver,
			DeliverGroup:   f.cfg.Durable,
			FilterSubject:  f.filter,
			DeliverPolicy:  jetstream.DeliverByStartTimePolicy,
			OptStartTime:   &start,
			AckPolicy:      jetstream.AckExplicitPolicy,
			AckWait:        f.cfg.AckWait,
			MaxDeliver:     5,
			MaxAckPending:  1024,
		}
		if subjects := f.finishedCalls(); subjects != nil {
			cfg.FilterSubject, cfg.FilterSubjects = "", subjects
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := f.d.JS.CreatePushConsumer(cctx, stream, cfg)
		if errors.Is(err, jetstream.ErrConsumerExists) && cfg.FilterSubjects != nil {
			err = f.replaceUnfiltered(cctx, stream, cfg)
		}
		cancel()
		if err == nil || errors.Is(err, jetstream.ErrConsumerExists) {
			return nil
		}
		f.log.Warn("risk feed: cannot create its consumer; retrying", "stream", stream, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// finishedCalls are the subjects a CallsOnly feed reads, the finished
// calls' (ended, missed), when the server takes several filter subjects
// (NATS 2.10 and later, the embedded server among them): the lookups,
// most of CALLS, are then not even delivered to it. nil otherwise: the
// feed reads all of CALLS and acks the lookups unread.
func (f *Feed) finishedCalls() []string {
	if !f.cfg.CallsOnly || !serverAtLeast(f.d.Conn.ConnectedServerVersion(), 2, 10) {
		return nil
	}
	return []string{f.cfg.Topology.CallSubject("*", events.CallEnded), f.cfg.Topology.CallSubject("*", events.CallMissed)}
}

// replaceUnfiltered deletes the existing consumer when it does not filter
// as cfg does, and creates cfg's. The counts it fed are in process and
// were lost with the process that made it, so nothing is counted twice.
func (f *Feed) replaceUnfiltered(ctx context.Context, stream string, cfg jetstream.ConsumerConfig) error {
	c, err := f.d.JS.PushConsumer(ctx, stream, cfg.Durable)
	if err != nil {
		return err
	}
	if slices.Equal(c.CachedInfo().Config.FilterSubjects, cfg.FilterSubjects) {
		return nil
	}
	if err := f.d.JS.DeleteConsumer(ctx, stream, cfg.Durable); err != nil {
		return err
	}
	f.log.Info("risk feed: consumer replaced by one that reads finished calls only", "consumer", cfg.Durable)
	_, err = f.d.JS.CreatePushConsumer(ctx, stream, cfg)
	return err
}

// serverAtLeast tells whether a NATS server version ("2.10.4") is at least
// major.minor.
func serverAtLeast(version string, major, minor int) bool {
	parts := strings.SplitN(version, ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}
