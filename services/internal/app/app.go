// Package app is the composition root shared by the calldex (all-in-one)
// and ingress services: it builds every dependency from Options and runs
// them until the context ends.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/services/internal/crmhooks"
	"github.com/calldex/calldex/services/internal/ingress"
	"github.com/calldex/calldex/shared/contact"
	"github.com/calldex/calldex/shared/eventpub"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/lookup"
	"github.com/calldex/calldex/shared/metrics"
	"github.com/calldex/calldex/shared/natsx"
	"github.com/calldex/calldex/shared/phone"
	"github.com/calldex/calldex/shared/projector"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/workflows/connectors"
	"github.com/calldex/calldex/workflows/crmsync"
	"github.com/calldex/calldex/workflows/dispatch"
)

// Options configure one process. The services read them from the
// environment; tests set them directly.
type Options struct {
	// HTTPAddr is where the HTTP API listens.
	HTTPAddr string
	// Config is the tenants' configuration.
	Config *tenant.Config
	// NATSURL connects to an external NATS; empty embeds one.
	NATSURL string
	// DataDir holds the embedded JetStream store.
	DataDir string
	// EmbeddedNATSAddr is where the embedded NATS listens (loopback, so
	// calldexctl can reach it); port 0 picks one.
	EmbeddedNATSAddr string
	// RedisURL selects the Redis index; empty uses the in-process index.
	RedisURL string
	// RedisPrefix prefixes every Redis key.
	RedisPrefix string
	// StreamPrefix prefixes streams, subjects and buckets (tests, side-by-side installs).
	StreamPrefix string
	// Seed, when set, is imported for SeedTenant on a first start (empty CONTACTS).
	Seed       string
	SeedTenant string
	// Projector runs the CONTACTS → index projector in this process. Run
	// exactly one per Redis index; the in-process index always needs it.
	Projector bool
	// Worker runs the workflow worker in this process (the embedded default);
	// production runs services/worker beside the ingress.
	Worker bool
	// Sync runs the CRM sync in this process. Any number of processes may:
	// a lease per source makes exactly one sync it.
	Sync bool
	// AppConnectSecret signs App Connect session tokens (at least 32
	// bytes, the same on every replica); empty disables /appconnect.
	AppConnectSecret string
	// Ready, if set, receives the bound HTTP and NATS addresses once serving.
	Ready func(httpAddr, natsURL string)
	Log   *slog.Logger
}

// Run starts everything and blocks until ctx ends, then shuts down in order.
func Run(ctx context.Context, o Options) error {
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	topo := events.Topology{Prefix: o.StreamPrefix}

	natsURL := o.NATSURL
	if natsURL == "" {
		srv, url, err := embedNATS(o)
		if err != nil {
			return err
		}
		defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
		natsURL = url
	}
	m := metrics.New()
	nc, err := ConnectNATS(natsURL, "calldex", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, msg *nats.Msg, err error) {
		m.EventsFailed.WithLabelValues(streamOf(topo, msg.Subject)).Inc()
	}))
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	setupCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	buckets, err := natsx.Setup(setupCtx, js, topo)
	cancel()
	if err != nil {
		return err
	}

	idx, cp, ping, closeIdx, err := openIndex(ctx, o, topo)
	if err != nil {
		return err
	}
	defer closeIdx()

	reg := tenant.NewRegistry(o.Config)
	proj, err := projector.New(projector.Config{Topology: topo}, js, idx, phoneOptions{reg}, cp, log)
	if err != nil {
		return err
	}
	contacts := contact.NewPublisher(js, topo)
	pub := eventpub.New(js, 8192, m.EventsDropped.WithLabelValues(events.StreamCalls), m.EventsFailed.WithLabelValues(events.StreamCalls), log)

	factory, err := connectors.New(connectors.Config{}, connectors.Deps{HTTP: connectors.NewHTTPClient(connectors.HTTPConfig{})})
	if err != nil {
		return err
	}
	defer factory.Close()
	disp := dispatch.New(js, buckets.WorkflowResults, topo)
	defer disp.Close()
	look := lookup.New(idx).WithFallback(lookup.FallbackConfig{}, fallbackSources{factory, log}, contacts, log)
	var ac http.Handler
	if o.AppConnectSecret != "" {
		if ac, err = appConnect(ctx, o.AppConnectSecret, js, topo, reg, look, idx, contacts, proj, disp, factory, m, pub, log); err != nil {
			return err
		}
	}

	requests := crmsync.NewRequests(buckets.SyncCursors)
	var trigger crmhooks.Trigger = requests
	var syncer *crmsync.Syncer
	if o.Sync {
		if syncer, err = crmsync.New(crmsync.Config{Topology: topo}, crmsync.Deps{
			JS: js, Cursors: buckets.SyncCursors, Contacts: contacts, Connectors: factory, Tenants: reg, Metrics: m, Log: log,
		}); err != nil {
			return err
		}
		trigger = syncer
	}
	hooks, err := crmhooks.New(crmhooks.Config{}, crmhooks.Deps{Tenants: reg, Trigger: trigger, Contacts: contacts, Metrics: m, Log: log})
	if err != nil {
		return err
	}

	srv, err := ingress.New(ingress.Deps{
		Config: o.Config, Tenants: reg, Index: idx, Lookup: look, Contacts: contacts,
		Projection: proj, Events: pub, JS: js, Topology: topo, Metrics: m, Log: log,
		Workflows: disp, AppConnect: ac, Webhooks: hooks, Resync: requests,
		Ready: []ingress.Check{
			{Name: "index", Fn: ping},
			{Name: "nats", Fn: func(context.Context) error {
				if !nc.IsConnected() {
					return errors.New("not connected")
				}
				return nil
			}},
		},
	})
	if err != nil {
		return err
	}

	ctx, stop := context.WithCancel(ctx)
	defer stop()
	// Seed before the projector starts, so that readiness (projection
	// caught up) includes the seeded contacts.
	if o.Seed != "" {
		if err := seed(ctx, js, topo, contacts, o.SeedTenant, o.Seed, log); err != nil {
			return err
		}
	}
	done := make(chan error, 4)
	go func() { done <- pub.Run(ctx) }()
	if o.Projector {
		go func() { done <- proj.Run(ctx) }()
	}
	if o.Worker {
		conn, err := ConnectNATS(natsURL, "calldex-worker", log)
		if err != nil {
			return err
		}
		w, err := newWorker(conn, js, topo, buckets, reg, factory, log)
		if err != nil {
			return err
		}
		go func() { done <- w.Run(ctx) }()
	}
	synced := make(chan error, 1)
	if syncer != nil {
		go func() { synced <- syncer.Run(ctx) }()
	}

	ln, err := net.Listen("tcp", o.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", o.HTTPAddr, err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second}
	go func() { done <- hs.Serve(ln) }()
	log.Info("calldex serving", "http", ln.Addr().String(), "nats", natsURL)
	if o.Ready != nil {
		o.Ready(ln.Addr().String(), natsURL)
	}

	select {
	case <-ctx.Done():
	case err = <-done:
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
	}
	stop()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = hs.Shutdown(shutdownCtx)
	if syncer != nil {
		<-synced // releases the leases while NATS is still connected
	}
	return err
}

func embedNATS(o Options) (*server.Server, string, error) {
	host, portStr, err := net.SplitHostPort(o.EmbeddedNATSAddr)
	if err != nil {
		return nil, "", fmt.Errorf("embedded nats address %q: %w", o.EmbeddedNATSAddr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, "", fmt.Errorf("embedded nats port %q: %w", portStr, err)
	}
	if port == 0 {
		port = -1
	}
	if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
		return nil, "", fmt.Errorf("data dir: %w", err)
	}
	srv, err := natsx.StartEmbedded(natsx.EmbeddedConfig{DataDir: filepath.Join(o.DataDir, "jetstream"), Host: host, Port: port})
	if err != nil {
		return nil, "", err
	}
	return srv, srv.ClientURL(), nil
}

func openIndex(ctx context.Context, o Options, topo events.Topology) (index.Index, projector.Checkpoint, func(context.Context) error, func(), error) {
	if o.RedisURL == "" {
		return index.NewMemory(), &projector.Memory{}, func(context.Context) error { return nil }, func() {}, nil
	}
	ropts, err := redis.ParseURL(o.RedisURL)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	rdb := redis.NewClient(ropts)
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, nil, nil, nil, fmt.Errorf("redis %s: %w", ropts.Addr, err)
	}
	prefix := o.RedisPrefix
	if prefix == "" {
		prefix = "cdx"
	}
	cp := projector.NewRedis(rdb, prefix, topo.Stream(events.StreamContacts))
	ping := func(ctx context.Context) error { return rdb.Ping(ctx).Err() }
	idx := index.NewRedis(rdb, prefix)
	// Serve every tenant from its active generation (calldexctl index
	// rebuild switches them) and follow switches while running.
	if err := idx.Refresh(ctx); err != nil {
		rdb.Close()
		return nil, nil, nil, nil, err
	}
	fctx, stopFollow := context.WithCancel(ctx)
	followed := make(chan struct{})
	go func() { idx.Follow(fctx, 5*time.Second, o.Log); close(followed) }()
	closeIdx := func() {
		stopFollow()
		<-followed
		rdb.Close()
	}
	return idx, cp, ping, closeIdx, nil
}

// phoneOptions adapts the tenant registry to the projector.
type phoneOptions struct{ reg *tenant.Registry }

func (p phoneOptions) PhoneOptions(id string) (phone.Options, bool) {
	t, ok := p.reg.Tenant(id)
	if !ok {
		return phone.Options{}, false
	}
	return t.PhoneOptions(), true
}

func streamOf(topo events.Topology, subject string) string {
	for _, s := range topo.Streams() {
		if matches(s.Subjects[0], subject) {
			return s.Name
		}
	}
	return "unknown"
}

// matches tells whether subject falls under a "root.>" filter.
func matches(filter, subject string) bool {
	return strings.HasPrefix(subject, strings.TrimSuffix(filter, ">"))
}
