// Package clustertest runs Calldex as its production split on clusters
// started by the test — a 3-node NATS JetStream cluster and Redis — and
// kills servers under load.
package clustertest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/services/internal/app"
	"github.com/calldex/calldex/services/internal/app/apptest"
	"github.com/calldex/calldex/shared/contact"
	"github.com/calldex/calldex/shared/natstest"
	"github.com/calldex/calldex/shared/redistest"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/shared/testwait"
)

// probe is a steady lookup load on the ingress replicas that keeps, per
// phase, the errors and the longest lookup.
type probe struct {
	mu      sync.Mutex
	phase   string
	errors  map[string]int
	lookups map[string]int
	longest map[string]time.Duration
}

func (p *probe) setPhase(name string) {
	p.mu.Lock()
	p.phase = name
	p.mu.Unlock()
}

func (p *probe) record(took time.Duration, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lookups[p.phase]++
	if !ok {
		p.errors[p.phase]++
	}
	p.longest[p.phase] = max(p.longest[p.phase], took)
}

func (p *probe) report(t *testing.T) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, phase := range []string{"steady", "nats leader killed", "redis master killed"} {
		t.Logf("lookups %-20s %5d, errors %3d, longest %s", phase, p.lookups[phase], p.errors[phase], p.longest[phase].Round(time.Millisecond))
	}
}

func lookup(ctx context.Context, url string) (time.Duration, bool) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/peoplefone/Lookup", strings.NewReader(`{"inputs":{"phoneNumber":"41215522000"}}`))
	req.Header.Set("X-Execution-Token", apptest.ShopToken)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return time.Since(start), false
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return time.Since(start), resp.StatusCode == http.StatusOK && strings.Contains(string(body), `"id":"c-1"`)
}

// TestClusterSurvivesKilledLeaders runs 2 ingress, 2 worker, 1 sync and 1
// projector replica on a 3-node JetStream cluster with every stream at 3
// replicas and a Redis Cluster of 3 masters and 3 replicas. Under steady
// lookups and 2,000 workflows it kill -9s the WORKFLOWS stream leader, then
// the Redis master of the tenant's slot: no accepted workflow may be lost
// or done twice (a repeated delivery carries the same Idempotency-Key,
// which the webhook contract makes the receiver honour), and lookups
// answer again once a replica took over.
func TestClusterSurvivesKilledLeaders(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS cluster")
	}
	cluster := natstest.StartCluster(t, 3)
	fake := &apptest.WebhookCRM{Delay: 20 * time.Millisecond}
	crmSrv := httptest.NewServer(fake)
	defer crmSrv.Close()
	tenants, err := tenant.Parse([]byte(apptest.WebhookTenants), func(k string) (string, bool) { return crmSrv.URL, k == "CRM_URL" })
	if err != nil {
		t.Fatal(err)
	}
	redisCluster := redistest.StartCluster(t, 3, 1)
	prefix := natstest.Prefix()
	cfg := app.DefaultConfig()
	cfg.NATSURL, cfg.RedisURL, cfg.StreamReplicas = cluster.URL(), redisCluster.URL(), 3
	cfg.StreamPrefix, cfg.RedisPrefix = prefix, "cdx"+prefix
	start := func(roles ...app.Role) *apptest.Process {
		c := cfg
		c.Roles = roles
		return apptest.Start(t, c, app.WithTenants(tenants), app.WithSyncOwner(fmt.Sprintf("%s-%d", app.Roles(roles), time.Now().UnixNano())))
	}
	start(app.RoleProjector)
	ingress := []*apptest.Process{start(app.RoleIngress), start(app.RoleIngress)}
	start(app.RoleWorker)
	start(app.RoleWorker)
	start(app.RoleSync)

	nc, err := nats.Connect(cluster.URL(), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	topo := events.Topology{Prefix: prefix}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := contact.NewPublisher(js, topo).Upsert(ctx, "shop", events.Contact{ID: "c-1", Source: "admin", Name: "Alexa Holiday", Phones: []events.Phone{{Raw: "021 552 20 00"}}}); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 20*time.Second, "the contact indexed", func() bool { _, ok := lookup(ctx, ingress[0].URL); return ok })

	p := &probe{phase: "steady", errors: map[string]int{}, lookups: map[string]int{}, longest: map[string]time.Duration{}}
	loadCtx, stopLoad := context.WithCancel(ctx)
	var load sync.WaitGroup
	for _, in := range ingress {
		load.Go(func() {
			for loadCtx.Err() == nil {
				took, ok := lookup(loadCtx, in.URL)
				if loadCtx.Err() == nil {
					p.record(took, ok)
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	var accepted, refused atomic.Int64
	var acceptedMu sync.Mutex
	var acceptedIDs []string
	const workflows = 2000
	var submit sync.WaitGroup
	submit.Go(func() {
		for i := range workflows {
			in := ingress[i%2]
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, in.URL+"/peoplefone/CallFlow", strings.NewReader(apptest.CallFlowBody(fmt.Sprintf("c-%d", i))))
			req.Header.Set("X-Execution-Token", apptest.ShopToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				refused.Add(1)
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusAccepted {
				accepted.Add(1)
				acceptedMu.Lock()
				acceptedIDs = append(acceptedIDs, fmt.Sprintf("c-%d", i))
				acceptedMu.Unlock()
			} else {
				refused.Add(1)
			}
			time.Sleep(5 * time.Millisecond)
		}
	})

	// Kill the WORKFLOWS stream leader while workflows arrive.
	testwait.Until(t, 30*time.Second, "workflows flowing", func() bool { return accepted.Load() > 300 })
	info, err := js.Stream(ctx, topo.Stream(events.StreamWorkflows))
	if err != nil {
		t.Fatal(err)
	}
	leader := info.CachedInfo().Cluster.Leader
	victim := cluster.Index(leader)
	if victim < 0 {
		t.Fatalf("WORKFLOWS leader %q is not a cluster node", leader)
	}
	p.setPhase("nats leader killed")
	killed := time.Now()
	cluster.Kill(victim)
	testwait.Until(t, 30*time.Second, "a new WORKFLOWS leader", func() bool {
		ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		si, err := js.Stream(ictx, topo.Stream(events.StreamWorkflows))
		if err != nil {
			return false
		}
		return si.CachedInfo().Cluster.Leader != "" && si.CachedInfo().Cluster.Leader != leader
	})
	t.Logf("WORKFLOWS leader %s killed: new leader after %s", leader, time.Since(killed).Round(time.Millisecond))
	cluster.Start(victim)

	// Kill the Redis master that serves the tenant's slot: its replica
	// takes over.
	rdb := redisCluster.Client(t)
	master, err := rdb.MasterForKey(ctx, "{shop}")
	if err != nil {
		t.Fatal(err)
	}
	p.setPhase("redis master killed")
	killed = time.Now()
	for _, n := range redisCluster.Nodes {
		if n.Addr == master.Options().Addr {
			n.Kill()
		}
	}
	testwait.Until(t, 60*time.Second, "lookups answered after the failover", func() bool {
		_, ok := lookup(ctx, ingress[0].URL)
		return ok && time.Since(killed) > time.Second
	})
	t.Logf("Redis master %s killed: lookups answered again after %s", master.Options().Addr, time.Since(killed).Round(time.Millisecond))

	submit.Wait()
	testwait.Until(t, 90*time.Second, "every accepted workflow called", func() bool { return len(fake.Missing(acceptedIDs)) == 0 })
	stopLoad()
	load.Wait()
	p.report(t)

	called, repeated, _ := fake.Counts()
	lost, twice := len(fake.Missing(acceptedIDs)), fake.DoubleEffects()
	t.Logf("workflows: %d accepted, %d refused, %d called, %d lost, %d done twice; %d delivered to the CRM again with the same Idempotency-Key",
		accepted.Load(), refused.Load(), called, lost, twice, repeated)
	if lost != 0 || twice != 0 {
		t.Fatalf("%d accepted workflows lost, %d done twice", lost, twice)
	}
}
