package crmsync_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/contact"
	"github.com/calldex/calldex/shared/metrics"
	"github.com/calldex/calldex/shared/natstest"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/shared/testwait"
	"github.com/calldex/calldex/workflows/connectors"
	"github.com/calldex/calldex/workflows/crm"
	"github.com/calldex/calldex/workflows/crmsync"
)

const (
	tenantID = "acme"
	srcName  = "crm"
	wait     = 10 * time.Second
)

// fakeCRM is an in-memory CRM with a change log: the cursor is the
// sequence number of the last change read. Each page holds at most
// pageSize changes, collapsed to the latest state of each contact.
type fakeCRM struct {
	mu       sync.Mutex
	seq      int
	log      []change
	byID     map[string]events.Contact
	pageSize int
	// script holds the results of the next calls: an error, or nil for a
	// normal answer.
	script []error
	calls  []call
}

type change struct {
	seq     int
	id      string
	deleted bool
}

type call struct {
	cursor string
	by     string
	at     time.Time
}

func newCRM(pageSize int) *fakeCRM {
	return &fakeCRM{byID: map[string]events.Contact{}, pageSize: pageSize}
}

// put creates or changes a contact.
func (f *fakeCRM) put(ids ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range ids {
		f.seq++
		f.byID[id] = events.Contact{
			ID: id, Source: "fake-own-source", Name: "Contact " + id,
			Phones:    []events.Phone{{Raw: "+41 44 668 18 0" + strconv.Itoa(f.seq%10)}},
			UpdatedAt: time.Now().UTC().Add(-time.Duration(100-f.seq) * time.Second),
		}
		f.log = append(f.log, change{seq: f.seq, id: id})
	}
}

// remove deletes a contact, as a change the sync sees.
func (f *fakeCRM) remove(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	delete(f.byID, id)
	f.log = append(f.log, change{seq: f.seq, id: id, deleted: true})
}

// forget deletes a contact without a trace: only a full resync notices.
func (f *fakeCRM) forget(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.byID, id)
	f.log = slices.DeleteFunc(f.log, func(c change) bool { return c.id == id })
}

func (f *fakeCRM) fail(errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script = append(f.script, errs...)
}

func (f *fakeCRM) lastSeq() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strconv.Itoa(f.seq)
}

func (f *fakeCRM) listChanges(_ context.Context, cursor, by string) (crm.Page, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call{cursor: cursor, by: by, at: time.Now()})
	if len(f.script) > 0 {
		err := f.script[0]
		f.script = f.script[1:]
		if err != nil {
			return crm.Page{}, err
		}
	}
	after := 0
	if cursor != "" {
		n, err := strconv.Atoi(cursor)
		if err != nil {
			return crm.Page{}, crm.Permanent(fmt.Errorf("cursor %q", cursor))
		}
		after = n
	}
	var page crm.Page
	next := after
	taken := 0
	i := slices.IndexFunc(f.log, func(c change) bool { return c.seq > after })
	if i < 0 {
		page.Next = cursor
		return page, nil
	}
	latest := map[string]bool{}
	var order []string
	for ; i < len(f.log) && taken < f.pageSize; i++ {
		c := f.log[i]
		if _, ok := latest[c.id]; !ok {
			order = append(order, c.id)
		}
		latest[c.id] = c.deleted
		next = c.seq
		taken++
	}
	for _, id := range order {
		ct, alive := f.byID[id]
		if latest[id] || !alive {
			page.Deletes = append(page.Deletes, id)
		} else {
			page.Upserts = append(page.Upserts, ct)
		}
	}
	page.Next = strconv.Itoa(next)
	page.More = i < len(f.log)
	return page, nil
}

// callsBy returns the calls made by one syncer ("" for all).
func (f *fakeCRM) callsBy(by string) []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []call
	for _, c := range f.calls {
		if by == "" || c.by == by {
			out = append(out, c)
		}
	}
	return out
}

// lister is one syncer's connector instance on the shared fake CRM.
type lister struct {
	crm    *fakeCRM
	by     string
	closed atomic.Bool
}

func (l *lister) ListChanges(ctx context.Context, cursor string) (crm.Page, error) {
	return l.crm.listChanges(ctx, cursor, l.by)
}

func (l *lister) Close() error { l.closed.Store(true); return nil }

func (l *lister) ChangeLister() (crm.ChangeLister, bool) { return l, true }

// plain is a connector instance that lists nothing.
type plain struct{}

func (plain) ChangeLister() (crm.ChangeLister, bool) { return nil, false }
func (plain) Close() error                           { return nil }

// notifier is a crm.ChangeNotifier fired by hand.
type notifier struct{ fire chan struct{} }

func (notifier) Notifies() bool { return true }

func (n notifier) NotifyChanges(ctx context.Context, changed func()) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-n.fire:
			changed()
		}
	}
}

// notifyingLister is a lister whose CRM tells of its changes.
type notifyingLister struct {
	*lister
	n notifier
}

func (l notifyingLister) ChangeNotifier() (crm.ChangeNotifier, bool) { return l.n, true }

// builder builds "fake" connectors on the fake CRM, "notifying" ones that
// also tell of changes when fire is sent to, and "plain" ones that list
// nothing.
type builder struct {
	crm *fakeCRM
	by  string
	// fire is the change notification of "notifying" connectors.
	fire chan struct{}
	mu   sync.Mutex
	opts []map[string]any
	made []*lister
}

func (b *builder) Build(_ context.Context, _ string, c tenant.Connector) (crmsync.Instance, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.opts = append(b.opts, c.Options)
	switch c.Type {
	case "fake":
		l := &lister{crm: b.crm, by: b.by}
		b.made = append(b.made, l)
		return l, nil
	case "plain":
		return plain{}, nil
	case "notifying":
		l := &lister{crm: b.crm, by: b.by}
		b.made = append(b.made, l)
		return notifyingLister{l, notifier{b.fire}}, nil
	}
	return nil, crm.Permanent(fmt.Errorf("unknown connector type %q", c.Type))
}

// The factory the services use builds the sync's connectors.
var (
	_ crmsync.Builder   = (*connectors.Factory)(nil)
	_ crmsync.Notifying = (*connectors.Connector)(nil)
)

// built returns the options the builder saw and the listers it made.
func (b *builder) built() ([]map[string]any, []*lister) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.opts), slices.Clone(b.made)
}

type tenants []*tenant.Tenant

func (t tenants) Tenants() []*tenant.Tenant { return t }

func (t tenants) Tenant(id string) (*tenant.Tenant, bool) {
	for _, x := range t {
		if x.ID == id {
			return x, true
		}
	}
	return nil, false
}

// pub counts what reaches CONTACTS and can fail or hook UpsertMany.
type pub struct {
	*contact.Publisher
	mu      sync.Mutex
	upserts map[string]int
	deletes map[string]int
	// hook runs before each UpsertMany (call number from 1); a non-nil
	// error fails the call without publishing.
	hook func(n int) error
	// after runs after each successful UpsertMany.
	after func(n int)
	n     int
}

func newPub(js jetstream.JetStream, topo events.Topology) *pub {
	return &pub{Publisher: contact.NewPublisher(js, topo), upserts: map[string]int{}, deletes: map[string]int{}}
}

func (p *pub) UpsertMany(ctx context.Context, tenantID string, cs []events.Contact) (uint64, error) {
	p.mu.Lock()
	p.n++
	n, hook, after := p.n, p.hook, p.after
	p.mu.Unlock()
	if hook != nil {
		if err := hook(n); err != nil {
			return 0, err
		}
	}
	seq, err := p.Publisher.UpsertMany(ctx, tenantID, cs)
	if err != nil {
		return 0, err
	}
	p.mu.Lock()
	for _, c := range cs {
		p.upserts[c.ID]++
	}
	p.mu.Unlock()
	if after != nil {
		after(n)
	}
	return seq, nil
}

func (p *pub) Delete(ctx context.Context, tenantID, source, id string) (uint64, error) {
	seq, err := p.Publisher.Delete(ctx, tenantID, source, id)
	if err == nil {
		p.mu.Lock()
		p.deletes[id]++
		p.mu.Unlock()
	}
	return seq, err
}

func (p *pub) upsertCount(id string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.upserts[id]
}

func (p *pub) totalUpserts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, v := range p.upserts {
		n += v
	}
	return n
}

// harness is one test's NATS, fake CRM and tenant config.
type harness struct {
	t       *testing.T
	env     *natstest.Env
	crm     *fakeCRM
	tenants tenants
}

func newHarness(t *testing.T, env *natstest.Env, connectorOpts map[string]any) *harness {
	t.Helper()
	if env == nil {
		env = natstest.Connect(t)
	}
	opts := map[string]any{"syncInterval": "100ms", "rateLimit": 1000}
	for k, v := range connectorOpts {
		opts[k] = v
	}
	tn := &tenant.Tenant{ID: tenantID, Connectors: map[string]tenant.Connector{
		srcName: {Type: "fake", Options: opts},
		"calls": {Type: "plain"},
	}}
	return &harness{t: t, env: env, crm: newCRM(3), tenants: tenants{tn}}
}

// instance is one running Syncer (one replica).
type instance struct {
	s       *crmsync.Syncer
	b       *builder
	m       *metrics.Metrics
	pub     *pub
	cancel  context.CancelFunc
	done    chan error
	stopped atomic.Bool
}

func fastConfig(h *harness, owner string) crmsync.Config {
	return crmsync.Config{
		Topology:        h.env.Topology,
		Owner:           owner,
		LeasePeriod:     time.Second,
		MinBackoff:      20 * time.Millisecond,
		MaxBackoff:      200 * time.Millisecond,
		PermanentRetry:  150 * time.Millisecond,
		PageTimeout:     2 * time.Second,
		MetricsInterval: 20 * time.Millisecond,
	}
}

type conns struct {
	js jetstream.JetStream
	kv jetstream.KeyValue
	nc *nats.Conn
}

// ownConn gives a replica a connection of its own, as another process has.
func (h *harness) ownConn(url string, opts ...nats.Option) conns {
	h.t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, h.env.Topology.Stream(events.BucketSyncCursors))
	if err != nil {
		h.t.Fatal(err)
	}
	return conns{js: js, kv: kv, nc: nc}
}

func (h *harness) start(cfg crmsync.Config, c *conns, setup ...func(*pub)) *instance {
	h.t.Helper()
	return h.startOn(cfg, c, h.tenants, setup...)
}

// startWith starts a replica on a tenant set of its own.
func (h *harness) startWith(cfg crmsync.Config, ts crmsync.Tenants) *instance {
	h.t.Helper()
	return h.startOn(cfg, nil, ts)
}

func (h *harness) startOn(cfg crmsync.Config, c *conns, ts crmsync.Tenants, setup ...func(*pub)) *instance {
	h.t.Helper()
	cn := conns{js: h.env.JS, kv: h.env.Buckets.SyncCursors}
	if c != nil {
		cn = *c
	}
	in := &instance{b: &builder{crm: h.crm, by: cfg.Owner, fire: make(chan struct{})}, m: metrics.New(), pub: newPub(cn.js, h.env.Topology), done: make(chan error, 1)}
	for _, f := range setup {
		f(in.pub)
	}
	s, err := crmsync.New(cfg, crmsync.Deps{
		JS: cn.js, Cursors: cn.kv, Contacts: in.pub, Connectors: in.b, Tenants: ts, Metrics: in.m,
		Log: slog.New(slog.NewTextHandler(testWriter{h.t}, &slog.HandlerOptions{Level: logLevel()})).With("owner", cfg.Owner),
	})
	if err != nil {
		h.t.Fatal(err)
	}
	in.s = s
	ctx, cancel := context.WithCancel(context.Background())
	in.cancel = cancel
	go func() { in.done <- s.Run(ctx) }()
	h.t.Cleanup(in.stop)
	return in
}

// stop ends Run and waits for it (releasing its leases).
func (in *instance) stop() {
	if in.stopped.Swap(true) {
		return
	}
	in.cancel()
	<-in.done
}

func logLevel() slog.Level {
	if os.Getenv("CRMSYNC_DEBUG") != "" {
		return slog.LevelDebug
	}
	return slog.LevelError + 1
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

var _ io.Writer = testWriter{}

// storedCursor reads the cursor stored for the source ("" if none).
func (h *harness) storedCursor() string {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e, err := h.env.Buckets.SyncCursors.Get(ctx, tenantID+"."+srcName)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return ""
	}
	if err != nil {
		h.t.Fatal(err)
	}
	var st struct {
		Cursor string `json:"cursor"`
	}
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		h.t.Fatal(err)
	}
	return st.Cursor
}

// leaseOwner reads who holds the lease of the source's shard ("" if nobody).
func (h *harness) leaseOwner() string {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	owner, err := h.ownerOf(ctx, crmsync.ShardKey(crmsync.Config{}, tenantID, srcName))
	if err != nil {
		h.t.Fatal(err)
	}
	return owner
}

// ownerOf reads who holds the lease under key ("" if nobody).
func (h *harness) ownerOf(ctx context.Context, key string) (string, error) {
	e, err := h.env.Buckets.SyncCursors.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var l struct {
		Owner string `json:"owner"`
	}
	_ = json.Unmarshal(e.Value(), &l)
	return l.Owner, nil
}

// waitShardsSpread waits until owners hold every shard lease in equal
// shares, as the coordinators leave them once each has counted the
// others: replicas started together first claim what they see free, then
// give back what is beyond their share, which can move a source's shard
// from one to the other.
func (h *harness) waitShardsSpread(owners ...string) {
	h.t.Helper()
	share := (crmsync.DefaultShards + len(owners) - 1) / len(owners)
	testwait.Until(h.t, wait, "shard leases spread over "+strings.Join(owners, ", "), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		keys, err := h.env.Buckets.SyncCursors.ListKeysFiltered(ctx, "SHARD.*")
		if err != nil {
			return false
		}
		held := map[string]int{}
		for k := range keys.Keys() {
			owner, err := h.ownerOf(ctx, k)
			if err != nil {
				return false
			}
			held[owner]++
		}
		for _, o := range owners {
			if held[o] != share {
				return false
			}
		}
		return len(held) == len(owners)
	})
}

// contactState is the latest event of a contact in CONTACTS: its type and
// source, "" when there is none.
func (h *harness) contactState(source, id string) (typ string, c events.Contact) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream, err := h.env.JS.Stream(ctx, h.env.Topology.Stream(events.StreamContacts))
	if err != nil {
		h.t.Fatal(err)
	}
	msg, err := stream.GetLastMsgForSubject(ctx, h.env.Topology.ContactSubject(tenantID, source, id))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return "", c
	}
	if err != nil {
		h.t.Fatal(err)
	}
	env, err := events.Decode(msg.Data)
	if err != nil {
		h.t.Fatal(err)
	}
	if env.Type == events.TypeContactUpserted {
		if err := env.Payload(&c); err != nil {
			h.t.Fatal(err)
		}
	}
	return env.Type, c
}

// waitSynced waits until CONTACTS holds the CRM's state of every id.
func (h *harness) waitSynced(ids ...string) {
	h.t.Helper()
	testwait.Until(h.t, wait, "CONTACTS to match the CRM", func() bool {
		h.crm.mu.Lock()
		want := map[string]bool{}
		for _, id := range ids {
			_, alive := h.crm.byID[id]
			want[id] = alive
		}
		h.crm.mu.Unlock()
		for id, alive := range want {
			typ, _ := h.contactState(srcName, id)
			if alive && typ != events.TypeContactUpserted || !alive && typ != events.TypeContactDeleted {
				return false
			}
		}
		return h.storedCursor() == h.crm.lastSeq()
	})
}
