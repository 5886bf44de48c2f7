// Command lookupload measures the lookup path under load: it indexes N
// synthetic contacts, serves the real ingress (with embedded NATS taking the
// call.lookup events) and drives POST /peoplefone/Lookup with random known
// and unknown numbers over loopback, against the in-process index, Redis,
// and a fixed-body endpoint of the same server (the ceiling); the
// appconnect target asks the same numbers through App Connect's
// GET /appconnect/contact.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/services/internal/ingress"
	"github.com/calldex/calldex/shared/contact"
	"github.com/calldex/calldex/shared/eventpub"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/lookup"
	"github.com/calldex/calldex/shared/metrics"
	"github.com/calldex/calldex/shared/natsx"
	"github.com/calldex/calldex/shared/projector"
	"github.com/calldex/calldex/shared/tenant"
)

type options struct {
	contacts    int
	duration    time.Duration
	concurrency int
	rate        int
	targets     string
	redisURL    string
	cpuProfile  string
	crmDelay    time.Duration
	rounds      int
}

func main() {
	var o options
	flag.IntVar(&o.contacts, "contacts", 1_000_000, "synthetic contacts to index")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of each load run")
	flag.IntVar(&o.concurrency, "concurrency", 32, "concurrent clients for the throughput runs")
	flag.IntVar(&o.rate, "rate", 2000, "requests/s of the fixed-rate latency runs (0 skips them)")
	flag.IntVar(&o.rounds, "rounds", 3, "throughput runs per lookup target, each right after a ceiling run; the median ratio is reported")
	flag.StringVar(&o.targets, "targets", "ceiling,memory,redis", "what to measure: ceiling, memory, redis (POST /peoplefone/Lookup), appconnect (GET /appconnect/contact, in-process index), callflow (POST /peoplefone/CallFlow through JetStream and the worker to a CRM answering within 50 ms)")
	flag.StringVar(&o.redisURL, "redis", envOr("REDIS_URL", "redis://127.0.0.1:6379/0"), "Redis for the redis target")
	flag.DurationVar(&o.crmDelay, "crm-delay", 50*time.Millisecond, "callflow: the CRM answers after a random delay up to this")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "lookupload:", err)
			os.Exit(1)
		}
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "lookupload:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

const benchConfig = `
admin: {token: bench-admin-token}
tenants:
  - id: bench
    region: CH
    workflowWait: 2s
    credentials: [{header: X-Execution-Token, value: bench-token}]
    workflows:
      CallFlow: {action: logCall, connector: crm}
    connectors:
      crm: {type: webhook, url: "${CRM_URL}", secret: bench-webhook-secret}
`

func run(ctx context.Context, o options) error {
	crm := slowCRM(o.crmDelay)
	defer crm.Close()
	cfg, err := tenant.Parse([]byte(benchConfig), func(k string) (string, bool) { return crm.URL, k == "CRM_URL" })
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "lookupload")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ns, err := natsx.StartEmbedded(natsx.EmbeddedConfig{DataDir: dir, Port: -1})
	if err != nil {
		return err
	}
	defer ns.Shutdown()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	topo := events.Topology{}
	if _, err := natsx.Setup(ctx, js, topo); err != nil {
		return err
	}
	fmt.Printf("lookupload: %d contacts, %s per run, %d clients, fixed rate %d/s, %d rounds, GOMAXPROCS=%d\n\n",
		o.contacts, o.duration, o.concurrency, o.rate, o.rounds, runtimeProcs())
	fmt.Printf("%-10s %-12s %10s %9s %9s %9s %8s\n", "target", "mode", "req/s", "p50", "p99", "max", "errors")

	// The ceiling runs beside every target: this machine's capacity drifts
	// by more than 10% from one minute to the next, so each target run is
	// compared with a ceiling run made just before it.
	ceilBase, closeCeil, err := serve(ctx, "ceiling", ns.ClientURL(), cfg, index.NewMemory(), js, topo)
	if err != nil {
		return err
	}
	defer closeCeil()
	ceilRequests, _, _ := workload("ceiling", ceilBase, o.contacts)
	for _, target := range strings.Split(o.targets, ",") {
		idx, cleanup, memNote, err := buildIndex(ctx, target, o)
		if err != nil {
			return err
		}
		base, closeSrv, err := serve(ctx, target, ns.ClientURL(), cfg, idx, js, topo)
		if err != nil {
			cleanup()
			return err
		}
		requests, check, err := workload(target, base, o.contacts)
		if err != nil {
			closeSrv()
			cleanup()
			return err
		}
		var tput result
		note := ""
		if target == "ceiling" || target == "callflow" {
			tput = load(ctx, requests(), check, o.duration, o.concurrency, 0)
		} else {
			var ratio float64
			tput, ratio = paired(ctx, o, func() result { return load(ctx, ceilRequests(), nil, o.duration, o.concurrency, 0) },
				func() result { return load(ctx, requests(), check, o.duration, o.concurrency, 0) })
			note = fmt.Sprintf("  %.0f%% of ceiling (median of %d rounds)", 100*ratio, o.rounds)
		}
		fmt.Printf("%-10s %-12s %10.0f %9s %9s %9s %8d%s\n", target, "throughput", tput.rps, tput.p50, tput.p99, tput.max, tput.errors, note)
		if o.rate > 0 {
			fixed := load(ctx, requests(), check, o.duration, o.concurrency, o.rate)
			fmt.Printf("%-10s %-12s %10.0f %9s %9s %9s %8d\n", target, fmt.Sprintf("@%d/s", o.rate), fixed.rps, fixed.p50, fixed.p99, fixed.max, fixed.errors)
		}
		if memNote != "" {
			fmt.Printf("%-10s %s\n", target, memNote)
		}
		closeSrv()
		cleanup()
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

// paired runs o.rounds rounds of a ceiling run then a target run, and
// returns the target run of the median round by ratio, and that ratio.
func paired(ctx context.Context, o options, ceiling, target func() result) (result, float64) {
	type round struct {
		r     result
		ratio float64
	}
	var rounds []round
	for i := range max(o.rounds, 1) {
		c := ceiling()
		t := target()
		rounds = append(rounds, round{t, t.rps / c.rps})
		fmt.Fprintf(os.Stderr, "  round %d: %.0f req/s, ceiling %.0f req/s: %.0f%%\n", i+1, t.rps, c.rps, 100*t.rps/c.rps)
		if ctx.Err() != nil {
			break
		}
	}
	sort.Slice(rounds, func(i, j int) bool { return rounds[i].ratio < rounds[j].ratio })
	m := rounds[len(rounds)/2]
	return m.r, m.ratio
}

// number i of the synthetic set: Lausanne numbers 021 5xx xx xx, stored in
// national format, called in international format without "+" (peoplefone).
func stored(i int) string { return fmt.Sprintf("021 %03d %02d %02d", 500+i/10000, i/100%100, i%100) }
func called(i int) string { return fmt.Sprintf("4121%07d", 5000000+i) }

// lookupNumber is the number request n looks up: half known numbers (i is
// the contact's), half unknown (Zurich numbers nobody has, i = -1), spread
// by a multiplicative hash.
func lookupNumber(contacts int, n uint64) (number string, i int) {
	r := n * 2654435761
	if r%2 == 0 {
		i = int(r/2) % contacts
		return called(i), i
	}
	return fmt.Sprintf("4144%07d", int(r/2)%9000000+1000000), -1
}

// lookupBody is request n's peoplefone lookup.
func lookupBody(contacts int) func(n uint64) string {
	return func(n uint64) string {
		number, _ := lookupNumber(contacts, n)
		return `{"inputs":{"phoneNumber":"` + number + `"}}`
	}
}

// postJSON are peoplefone requests to url with the bench tenant's token.
func postJSON(url string, body func(uint64) string) func(n uint64) *http.Request {
	return func(n uint64) *http.Request {
		req, _ := http.NewRequest("POST", url, strings.NewReader(body(n)))
		req.Header.Set("X-Execution-Token", "bench-token")
		req.Header.Set("Content-Type", "application/json")
		return req
	}
}

// workload gives a target's requests to the server at base (called once
// per run) and the check of a sample of its answers (nil: status only).
func workload(target, base string, contacts int) (func() func(uint64) *http.Request, func(uint64, []byte) error, error) {
	switch target {
	case "callflow":
		return func() func(uint64) *http.Request {
			return postJSON(base+"/peoplefone/CallFlow", callFlowBody(time.Now().UnixNano())) // new calls every run
		}, nil, nil
	case "appconnect":
		jwt, err := appConnectLogin(base)
		if err != nil {
			return nil, nil, err
		}
		return func() func(uint64) *http.Request { return contactRequests(base, jwt, contacts) }, checkContact(contacts), nil
	}
	return func() func(uint64) *http.Request { return postJSON(base+"/peoplefone/Lookup", lookupBody(contacts)) }, nil, nil
}

func buildIndex(ctx context.Context, target string, o options) (index.Index, func(), string, error) {
	switch target {
	case "ceiling", "callflow":
		return index.NewMemory(), func() {}, "", nil
	case "memory", "appconnect":
		idx := index.NewMemory()
		start := time.Now()
		if err := fill(ctx, idx, o.contacts); err != nil {
			return nil, nil, "", err
		}
		fmt.Fprintf(os.Stderr, "%s: indexed %d contacts in %s\n", target, o.contacts, time.Since(start).Round(time.Millisecond))
		return idx, func() {}, "", nil
	case "redis":
		ropts, err := redis.ParseURL(o.redisURL)
		if err != nil {
			return nil, nil, "", err
		}
		ropts.PoolSize = 4 * o.concurrency
		rdb := redis.NewClient(ropts)
		prefix := fmt.Sprintf("cdxbench%d", time.Now().UnixNano())
		before := usedMemory(ctx, rdb)
		idx := index.NewRedis(rdb, prefix)
		start := time.Now()
		if err := fill(ctx, idx, o.contacts); err != nil {
			rdb.Close()
			return nil, nil, "", err
		}
		fmt.Fprintf(os.Stderr, "redis: indexed %d contacts in %s\n", o.contacts, time.Since(start).Round(time.Millisecond))
		perContact := float64(usedMemory(ctx, rdb)-before) / float64(o.contacts)
		cleanup := func() {
			var cursor uint64
			for {
				keys, next, err := rdb.Scan(context.Background(), cursor, prefix+":*", 10000).Result()
				if err != nil {
					break
				}
				if len(keys) > 0 {
					rdb.Unlink(context.Background(), keys...)
				}
				if cursor = next; cursor == 0 {
					break
				}
			}
			rdb.Close()
		}
		return idx, cleanup, fmt.Sprintf("Redis memory: %.0f bytes per indexed contact (used_memory delta)", perContact), nil
	}
	return nil, nil, "", fmt.Errorf("unknown target %q", target)
}

func fill(ctx context.Context, idx index.Index, n int) error {
	opts, _ := tenantPhoneOptions()
	var wg sync.WaitGroup
	var failed atomic.Value
	next := atomic.Int64{}
	now := time.Now().UTC()
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				c := events.Contact{ID: fmt.Sprintf("c%d", i), Source: "bench", Type: "contact", Name: fmt.Sprintf("Contact %d", i),
					Company: "Bench AG", ContactURI: fmt.Sprintf("https://crm.example.com/contacts/c%d", i), CRMName: "Bench CRM",
					Phones: []events.Phone{{Raw: stored(i)}}, UpdatedAt: now}
				if err := idx.Upsert(ctx, "bench", projector.Entry(c, opts)); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		return err
	}
	return ctx.Err()
}

func serve(ctx context.Context, target, natsURL string, cfg *tenant.Config, idx index.Index, js jetstream.JetStream, topo events.Topology) (string, func(), error) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := metrics.New()
	pub := eventpub.New(js, 8192, m.EventsDropped.WithLabelValues("CALLS"), m.EventsFailed.WithLabelValues("CALLS"), log)
	ctx, cancel := context.WithCancel(ctx)
	go pub.Run(ctx)
	reg := tenant.NewRegistry(cfg)
	deps := ingress.Deps{Config: cfg, Tenants: reg, Index: idx, Lookup: lookup.New(idx),
		Contacts: contact.NewPublisher(js, topo), Projection: caughtUp{}, Events: pub, JS: js, Topology: topo, Metrics: m, Log: log}
	if target == "callflow" {
		disp, err := startWorkflows(ctx, natsURL, js, topo, reg, log)
		if err != nil {
			cancel()
			return "", nil, err
		}
		deps.Workflows = disp
	}
	if target == "appconnect" {
		ac, err := appConnect(ctx, js, deps)
		if err != nil {
			cancel()
			return "", nil, err
		}
		deps.AppConnect = ac
	}
	srv, err := ingress.New(deps)
	if err != nil {
		cancel()
		return "", nil, err
	}
	var h http.Handler = srv
	if target == "ceiling" {
		// The same server's cheapest possible answer: read the body, write a fixed one.
		fixed := []byte(`[]` + "\n")
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(fixed)
		})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		return "", nil, err
	}
	hs := &http.Server{Handler: h}
	go hs.Serve(ln)
	return "http://" + ln.Addr().String(), func() { hs.Close(); cancel() }, nil
}

type caughtUp struct{}

func (caughtUp) WaitApplied(context.Context, uint64) error { return nil }
func (caughtUp) CaughtUp() bool                            { return true }

type result struct {
	rps           float64
	p50, p99, max time.Duration
	errors        int64
}

// checkEvery: load checks the answer of one request in checkEvery (reading
// and decoding each would load the shared CPUs more than the peoplefone runs).
const checkEvery = 8

// load runs clients sending request(n) for d; rate 0 means as fast as they
// can, else the total request rate is paced (and latency is measured from
// the scheduled time, so a stalled server cannot hide queueing). A non-200
// answer is an error, and so is a sampled answer check refuses.
func load(ctx context.Context, request func(uint64) *http.Request, check func(uint64, []byte) error, d time.Duration, clients, rate int) result {
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		mu    sync.Mutex
		lat   []time.Duration
		errs  atomic.Int64
		seq   atomic.Uint64
		wg    sync.WaitGroup
		first sync.Once
		start = time.Now()
	)
	fail := func(err error) {
		errs.Add(1)
		first.Do(func() { fmt.Fprintln(os.Stderr, "lookupload: first failed request:", err) })
	}
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 1<<16)
			for ctx.Err() == nil {
				n := seq.Add(1)
				sent := time.Now()
				if rate > 0 {
					// Request n is due at start + n/rate; waiting for it
					// here and timing from it keeps the rate even when
					// the server stalls (no coordinated omission).
					sent = start.Add(time.Duration(n) * time.Second / time.Duration(rate))
					if wait := time.Until(sent); wait > 0 {
						time.Sleep(wait)
					}
				}
				resp, err := client.Do(request(n))
				if err != nil {
					if ctx.Err() == nil {
						fail(err)
					}
					continue
				}
				if resp.StatusCode != 200 {
					fail(fmt.Errorf("request %d: status %d", n, resp.StatusCode))
				} else if check != nil && n%checkEvery == 0 {
					b, err := io.ReadAll(resp.Body)
					if err == nil {
						err = check(n, b)
					}
					if err != nil {
						fail(err)
					}
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				local = append(local, time.Since(sent))
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	r := result{rps: float64(len(lat)) / elapsed.Seconds(), errors: errs.Load()}
	if len(lat) > 0 {
		r.p50 = lat[len(lat)/2].Round(time.Microsecond)
		r.p99 = lat[len(lat)*99/100].Round(time.Microsecond)
		r.max = lat[len(lat)-1].Round(time.Microsecond)
	}
	return r
}

func usedMemory(ctx context.Context, rdb *redis.Client) int64 {
	info, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			var n int64
			fmt.Sscan(v, &n)
			return n
		}
	}
	return 0
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
