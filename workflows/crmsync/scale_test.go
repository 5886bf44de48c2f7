package crmsync_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/metrics"
	"github.com/calldex/calldex/shared/natstest"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/shared/testwait"
	"github.com/calldex/calldex/workflows/crm"
	"github.com/calldex/calldex/workflows/crmsync"
)

// pollLog is an HTTP fake of many CRM accounts: GET /changes/{tenant}/{source}
// answers a page with the source's one contact on the first poll, then
// empty pages, and records who polled which source when.
type pollLog struct {
	mu    sync.Mutex
	polls map[string][]pollAt
}

type pollAt struct {
	at time.Time
	by string
}

func (p *pollLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("tenant") + "." + r.PathValue("source")
	p.mu.Lock()
	p.polls[key] = append(p.polls[key], pollAt{time.Now(), r.Header.Get("X-Replica")})
	p.mu.Unlock()
	page := map[string]any{"next": "1"}
	if r.URL.Query().Get("cursor") == "" {
		page["upserts"] = []map[string]any{{"id": key, "name": key, "phones": []map[string]string{{"e164": "+41440000000"}}}}
	}
	_ = json.NewEncoder(w).Encode(page)
}

// snapshot copies the polls recorded so far.
func (p *pollLog) snapshot() map[string][]pollAt {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string][]pollAt, len(p.polls))
	for k, v := range p.polls {
		out[k] = slices.Clone(v)
	}
	return out
}

// httpLister lists a source's changes from the fake over HTTP.
type httpLister struct {
	client *http.Client
	url    string
	by     string
}

func (l *httpLister) ListChanges(ctx context.Context, cursor string) (crm.Page, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", l.url+"?cursor="+cursor, nil)
	if err != nil {
		return crm.Page{}, err
	}
	req.Header.Set("X-Replica", l.by)
	res, err := l.client.Do(req)
	if err != nil {
		return crm.Page{}, crm.Transient(err)
	}
	defer res.Body.Close()
	var page crm.Page
	if err := json.NewDecoder(res.Body).Decode(&page); err != nil {
		return crm.Page{}, crm.Transient(err)
	}
	return page, nil
}

type httpBuilder struct {
	client *http.Client
	base   string
	by     string
}

func (b httpBuilder) Build(_ context.Context, _ string, c tenant.Connector) (crmsync.Instance, error) {
	return &httpLister{client: b.client, url: b.base + c.Options["path"].(string), by: b.by}, nil
}

func (l *httpLister) ChangeLister() (crm.ChangeLister, bool) { return l, true }
func (l *httpLister) Close() error                           { return nil }

// countPub counts contacts instead of publishing them: this test is about
// scheduling and shard leases, which go through NATS as in production.
type countPub struct {
	mu sync.Mutex
	n  int
}

func (p *countPub) UpsertMany(_ context.Context, _ string, cs []events.Contact) (uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n += len(cs)
	return uint64(p.n), nil
}

func (p *countPub) Delete(context.Context, string, string, string) (uint64, error) { return 0, nil }

// TestTwoThousandSourcesOnTwoReplicas polls 2,000 sources (1,000 tenants
// with 2 CRM accounts each, over HTTP) from two replicas sharing 64 shard
// leases: every source is polled within its interval, the shards are
// split between the replicas, and when one replica is cut off from NATS
// without releasing anything the other takes its shards over within the
// lease period. Figures are logged (go test -v -run TwoThousand
// ./workflows/crmsync/); SCALE_SOURCES changes the number of sources.
func TestTwoThousandSourcesOnTwoReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("scale test")
	}
	sources := 2000
	if raceEnabled {
		sources = 200 // the race detector slows every poll down
	}
	if v, err := strconv.Atoi(os.Getenv("SCALE_SOURCES")); err == nil && v > 0 {
		sources = v
	}
	const (
		interval = 5 * time.Second
		lease    = 2 * time.Second
	)
	env := natstest.Connect(t)
	log := &pollLog{polls: map[string][]pollAt{}}
	mux := http.NewServeMux()
	mux.Handle("GET /changes/{tenant}/{source}", log)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

	var ts tenants
	for i := range sources / 2 {
		id := fmt.Sprintf("t%04d", i)
		conns := map[string]tenant.Connector{}
		for _, name := range []string{"hubspot", "pipedrive"} {
			conns[name] = tenant.Connector{Type: "http", Options: map[string]any{
				"path": "/changes/" + id + "/" + name, "syncInterval": interval.String(), "rateLimit": 10,
				"account": id + "-" + name, "accountRateLimit": 5,
			}}
		}
		ts = append(ts, &tenant.Tenant{ID: id, Connectors: conns})
	}

	type replica struct {
		s      *crmsync.Syncer
		c      conns
		cancel context.CancelFunc
		done   chan struct{}
	}
	h := &harness{t: t, env: env}
	start := func(owner string) *replica {
		c := h.ownConn(env.URL)
		s, err := crmsync.New(crmsync.Config{
			Topology: env.Topology, Owner: owner, LeasePeriod: lease,
			MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second, PageTimeout: 5 * time.Second,
		}, crmsync.Deps{
			JS: c.js, Cursors: c.kv, Contacts: &countPub{}, Tenants: ts, Metrics: metrics.New(),
			Connectors: httpBuilder{client: client, base: srv.URL, by: owner},
			Log:        slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: logLevel()})),
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		r := &replica{s: s, c: c, cancel: cancel, done: make(chan struct{})}
		go func() { defer close(r.done); _ = s.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-r.done })
		return r
	}
	began := time.Now()
	r1, r2 := start("r1"), start("r2")

	// Every source polled once: the first pass.
	testwait.Until(t, 2*time.Minute, "a first poll of every source", func() bool { return len(log.snapshot()) == sources })
	t.Logf("%d sources: first pass done %s after start", sources, time.Since(began).Round(time.Millisecond))

	// Steady state: two more intervals; the largest gap between two polls
	// of a source must stay within its interval (plus one lease period of
	// scheduling slack for the rebalancing right after start).
	steadyFrom := time.Now()
	testwait.Until(t, 2*time.Minute, "two intervals", func() bool { return time.Since(steadyFrom) > 2*interval+time.Second })
	polls := log.snapshot()
	var worst time.Duration
	by := map[string]int{}
	late := 0
	for key, ps := range polls {
		var last time.Time
		for _, p := range ps {
			if p.at.Before(steadyFrom) {
				last = p.at
				continue
			}
			by[p.by]++
			if !last.IsZero() {
				gap := p.at.Sub(last)
				worst = max(worst, gap)
				if gap > interval+lease {
					late++
					t.Errorf("source %s: %s between two polls (interval %s)", key, gap.Round(time.Millisecond), interval)
				}
			}
			last = p.at
		}
		if time.Since(last) > interval+lease {
			late++
			t.Errorf("source %s: not polled for %s", key, time.Since(last).Round(time.Millisecond))
		}
	}
	t.Logf("steady state: %d polls in %s by replica %v; largest gap between two polls of a source %s (interval %s); %d late",
		by["r1"]+by["r2"], time.Since(steadyFrom).Round(time.Millisecond), by, worst.Round(time.Millisecond), interval, late)
	if by["r1"] == 0 || by["r2"] == 0 {
		t.Fatalf("one replica polls everything: %v", by)
	}

	// Cut r2 off without releasing anything; watch the shard leases to
	// see when r1 wrote each of them (server time).
	ctx := context.Background()
	w, err := r1.c.kv.Watch(ctx, "SHARD.*", jetstream.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Stop() }()
	killed := time.Now()
	r2.c.nc.Close()
	owner := map[string]string{}
	var shardsTaken time.Duration
	for len(owner) < crmsync.DefaultShards || slices.ContainsFunc(slices.Collect(maps.Values(owner)), func(o string) bool { return o != "r1" }) {
		select {
		case e := <-w.Updates():
			var l struct {
				Owner string `json:"owner"`
			}
			if e == nil || json.Unmarshal(e.Value(), &l) != nil {
				continue
			}
			if owner[e.Key()] != "r1" && l.Owner == "r1" {
				shardsTaken = max(shardsTaken, e.Created().Sub(killed))
			}
			owner[e.Key()] = l.Owner
		case <-time.After(time.Minute):
			t.Fatalf("r1 holds %d shards a minute after r2 died", len(owner))
		}
	}
	testwait.Until(t, 2*time.Minute, "r1 polling every source", func() bool {
		for _, ps := range log.snapshot() {
			i := slices.IndexFunc(ps, func(p pollAt) bool { return p.at.After(killed) && p.by == "r1" })
			if i < 0 {
				return false
			}
		}
		return true
	})
	allPolled := time.Since(killed)
	t.Logf("replica r2 cut off: r1 held all %d shards after %s, and had polled every source after %s (lease period %s, interval %s)",
		crmsync.DefaultShards, shardsTaken.Round(time.Millisecond), allPolled.Round(time.Millisecond), lease, interval)
	if shardsTaken > lease+lease/5 {
		t.Errorf("shard takeover took %s, more than the lease period %s and one claim tick", shardsTaken, lease)
	}
	r2.cancel()
}
