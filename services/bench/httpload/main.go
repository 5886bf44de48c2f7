// Command httpload measures the lookup path as a user would: from outside
// the process. It builds the calldex binary, runs it as a separate process
// on the embedded default (demo tenant), imports synthetic contacts through
// the admin API, and drives it with wrk: rounds of POST /peoplefone/Lookup
// alternating with rounds of GET /healthz on the same server, so that the
// median ratio of the two cancels the machine's drift. A fixed-rate
// open-loop generator (this binary again, in -mode=openloop, as a child
// process) measures p50/p99 at 2,000 req/s from each request's scheduled
// send time, then GET /healthz the same way, the floor of the generator,
// HTTP and the machine. It runs the in-process index, then Redis.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

type options struct {
	mode        string
	targets     string
	contacts    int
	rounds      int
	round       time.Duration
	connections int
	rate        int
	fixedFor    time.Duration
	redisURL    string
	profileDir  string
	repo        string
	keep        bool
	// env is added to the server's environment (KEY=VALUE,…).
	env string
	// console: load the web console's overview this often during the
	// rounds (0: not at all).
	console time.Duration
	// against: another checkout to compare this one with (compare.go),
	// whose server runs with envB.
	against, envB string
	// openloop child
	url string
}

func main() {
	var o options
	flag.StringVar(&o.mode, "mode", "bench", "bench: the whole measurement; openloop: the fixed-rate generator (run by bench as a child process)")
	flag.StringVar(&o.targets, "targets", "memory,redis", "index modes to measure: memory (embedded, in-process index), redis (REDIS_URL)")
	flag.IntVar(&o.contacts, "contacts", 1_000_000, "synthetic contacts imported beside the demo's")
	flag.IntVar(&o.rounds, "rounds", 5, "lookup rounds, each right after a GET /healthz round; the median ratio is reported")
	flag.DurationVar(&o.round, "round", 4*time.Second, "length of each wrk round")
	flag.IntVar(&o.connections, "connections", 32, "wrk connections (one thread)")
	flag.IntVar(&o.rate, "rate", 2000, "requests/s of the open-loop latency run (0 skips it)")
	flag.DurationVar(&o.fixedFor, "fixed-duration", 10*time.Second, "length of the open-loop run (after a 1 s warm-up)")
	flag.StringVar(&o.redisURL, "redis", envOr("REDIS_URL", "redis://127.0.0.1:6379/0"), "Redis of the redis target")
	flag.StringVar(&o.profileDir, "cpuprofile", "", "directory: take a CPU profile of the server (CALLDEX_PPROF_ADDR) during a lookup round of each target")
	flag.StringVar(&o.repo, "repo", ".", "repository root (the demo config and contacts are read from there)")
	flag.BoolVar(&o.keep, "keep", false, "keep the data directories and the Redis keys")
	flag.StringVar(&o.env, "env", "", "extra environment of the server, KEY=VALUE,… (e.g. CALLDEX_RISK=false)")
	flag.DurationVar(&o.console, "console", 0, "log into the web console and load its overview this often during the rounds, as an open tab does (0: no console)")
	flag.StringVar(&o.against, "against", "", "another checkout of the repository: compare its build (B) with this one's (A), on one index target (-targets memory, the default, or redis), alternating lookup rounds")
	flag.StringVar(&o.envB, "env-b", "", "with -against: the extra environment of B's server (-env is A's)")
	flag.StringVar(&o.url, "url", "", "openloop: lookup URL")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch o.mode {
	case "openloop":
		err = openLoop(ctx, o.url, o.contacts, o.rate, o.fixedFor)
	case "bench":
		err = bench(ctx, o)
	default:
		err = fmt.Errorf("unknown -mode %q", o.mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "httpload:", err)
		os.Exit(1)
	}
}

// summary is one target's result.
type summary struct {
	target         string
	lookupRPS      float64 // median of the lookup rounds
	healthRPS      float64 // median of the /healthz rounds
	ratio          float64 // median of the rounds' lookup/healthz ratios
	satP50, satP99 time.Duration
	// server CPU time per request, median of the rounds
	lookupCPU, healthCPU time.Duration
	fixed                fixedResult
	// floor is the open loop's GET /healthz at the same rate: what the
	// generator, HTTP and the machine's wake-ups cost without a lookup.
	floor             fixedResult
	errors            int64
	contactsImportFor time.Duration
	events            eventCount
}

func bench(ctx context.Context, o options) error {
	wrk, err := findWrk()
	if err != nil {
		return err
	}
	repo, err := filepath.Abs(o.repo)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(repo, "deploy/demo/calldex.yaml")); err != nil {
		return fmt.Errorf("run from the repository root or pass -repo: %w", err)
	}
	work, err := os.MkdirTemp("", "httpload")
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(work)
	}
	if o.against != "" {
		return compare(ctx, o, wrk, work, repo)
	}
	bin := filepath.Join(work, "calldex")
	fmt.Fprintln(os.Stderr, "httpload: go build -o", bin, "./services/calldex")
	if err := build(ctx, repo, bin); err != nil {
		return err
	}
	fmt.Printf("httpload: %d synthetic contacts + demo; wrk -t1 -c%d, %d × (%s GET /healthz, %s POST /peoplefone/Lookup); open loop %d req/s for %s; %d CPUs\n\n",
		o.contacts, o.connections, o.rounds, o.round, o.round, o.rate, o.fixedFor, runtime.NumCPU())
	var results []summary
	for _, target := range strings.Split(o.targets, ",") {
		s, err := measure(ctx, o, wrk, bin, repo, work, target)
		if err != nil {
			return fmt.Errorf("%s: %w", target, err)
		}
		results = append(results, s)
	}
	printSummaries(results, o)
	return nil
}

func measure(ctx context.Context, o options, wrk, bin, repo, work, target string) (summary, error) {
	s := summary{target: target}
	srv, err := startServer(ctx, serverConfig{bin: bin, repo: repo, dir: filepath.Join(work, target), target: target,
		redisURL: o.redisURL, pprof: o.profileDir != "", env: splitEnv(o.env), keepKeys: o.keep})
	if err != nil {
		return s, err
	}
	defer srv.stop()
	start := time.Now()
	if err := importContacts(ctx, srv.base, o.contacts); err != nil {
		return s, err
	}
	// The projector's checkpoint, which /readyz compares with CONTACTS,
	// follows the sentinel's batch.
	if err := srv.waitReady(ctx, 5*time.Minute); err != nil {
		return s, fmt.Errorf("after the import: %w", err)
	}
	s.contactsImportFor = time.Since(start)
	fmt.Fprintf(os.Stderr, "%s: imported and indexed %d contacts in %s\n", target, o.contacts+len(sharedNumberIDs), s.contactsImportFor.Round(time.Millisecond))
	if err := checkAnswers(ctx, srv.base, o.contacts); err != nil {
		return s, err
	}
	script, err := writeScripts(filepath.Join(work, target), o.contacts)
	if err != nil {
		return s, err
	}
	if o.console > 0 {
		cctx, stopConsole := context.WithCancel(ctx)
		wait, err := watchConsole(cctx, srv.base, o.console)
		if err != nil {
			stopConsole()
			return s, err
		}
		defer func() {
			stopConsole()
			n, err := wait()
			fmt.Fprintf(os.Stderr, "%s: console pages loaded during the rounds: %d (%v)\n", target, n, err)
		}()
	}
	var lookups, healths []wrkResult
	var ratios []float64
	for i := range o.rounds {
		h, err := runWrk(ctx, srv, wrk, script.health, "/healthz", o.connections, o.round)
		if err != nil {
			return s, err
		}
		var profile func() error
		if o.profileDir != "" && i == o.rounds/2 {
			profile = srv.profile(ctx, filepath.Join(o.profileDir, target+".pprof"), o.round-time.Second)
		}
		l, err := runWrk(ctx, srv, wrk, script.lookup, "/peoplefone/Lookup", o.connections, o.round)
		if err != nil {
			return s, err
		}
		if profile != nil {
			if err := profile(); err != nil {
				return s, err
			}
		}
		healths, lookups = append(healths, h), append(lookups, l)
		ratios = append(ratios, l.rps/h.rps)
		s.errors += h.errors + l.errors
		fmt.Fprintf(os.Stderr, "%s round %d: /healthz %.0f req/s (p99 %s, CPU/req server %s, wrk %s), lookup %.0f req/s (p50 %s, p99 %s, CPU/req server %s, wrk %s, redis %s): %.2f\n",
			target, i+1, h.rps, h.p99, h.cpu, h.wrkCPU, l.rps, l.p50, l.p99, l.cpu, l.wrkCPU, l.redisCPU, l.rps/h.rps)
	}
	s.ratio = median(ratios)
	s.lookupRPS = median(mapSlice(lookups, func(r wrkResult) float64 { return r.rps }))
	s.healthRPS = median(mapSlice(healths, func(r wrkResult) float64 { return r.rps }))
	s.lookupCPU = time.Duration(median(mapSlice(lookups, func(r wrkResult) float64 { return float64(r.cpu) })))
	s.healthCPU = time.Duration(median(mapSlice(healths, func(r wrkResult) float64 { return float64(r.cpu) })))
	s.satP50 = time.Duration(median(mapSlice(lookups, func(r wrkResult) float64 { return float64(r.p50) })))
	s.satP99 = time.Duration(median(mapSlice(lookups, func(r wrkResult) float64 { return float64(r.p99) })))
	if o.rate > 0 {
		for _, run := range []struct {
			path string
			dst  *fixedResult
		}{{"/peoplefone/Lookup", &s.fixed}, {"/healthz", &s.floor}} {
			// A collection of a large heap (the in-process index) shows in the tail.
			gcs, _, err := srv.goRuntime(ctx)
			if err != nil {
				return s, err
			}
			if *run.dst, err = runOpenLoop(ctx, srv.base+run.path, o.contacts, o.rate, o.fixedFor); err != nil {
				return s, err
			}
			after, heap, err := srv.goRuntime(ctx)
			if err != nil {
				return s, err
			}
			r := *run.dst
			s.errors += r.Errors
			fmt.Fprintf(os.Stderr, "%s open loop, %s: %.0f req/s, p50 %s, p99 %s, max %s, %d errors; the server collected garbage %.0f times, heap in use %.0f MiB\n",
				target, run.path, r.Rate, r.P50, r.P99, r.Max, r.Errors, after-gcs, heap/(1<<20))
		}
	}
	if s.events, err = srv.checkEvents(ctx); err != nil {
		return s, err
	}
	return s, nil
}

func printSummaries(results []summary, o options) {
	fmt.Printf("%-8s %10s %10s %6s %9s %9s %6s %9s %9s %11s %11s %11s %6s %6s\n", "index", "lookup/s", "healthz/s", "ratio",
		"CPU/lkp", "CPU/hz", "c.rat", "sat p50", "sat p99", fmt.Sprintf("p50@%d/s", o.rate), fmt.Sprintf("p99@%d/s", o.rate), "hz p99", "errors", "lost")
	for _, s := range results {
		fmt.Printf("%-8s %10.0f %10.0f %6.2f %9s %9s %6.2f %9s %9s %11s %11s %11s %6d %6.0f\n", s.target, s.lookupRPS, s.healthRPS, s.ratio,
			s.lookupCPU.Round(100*time.Nanosecond), s.healthCPU.Round(100*time.Nanosecond), float64(s.healthCPU)/float64(s.lookupCPU),
			round(s.satP50), round(s.satP99), round(s.fixed.P50), round(s.fixed.P99), round(s.floor.P99), s.errors, s.events.lost())
	}
	fmt.Printf("\nratio: median over %d rounds of lookup req/s ÷ /healthz req/s of the round just before; CPU/lkp, CPU/hz: the server process's CPU time per request (median of the rounds), and c.rat their ratio, which other load on the machine does not move; sat: wrk -c%d, median of the lookup rounds; p50/p99@%d/s: open loop, timed from each request's scheduled send, and hz p99 the same for GET /healthz (the floor of generator, HTTP and machine); lost: lookups the server answered without a call.lookup event in CALLS\n",
		o.rounds, o.connections, o.rate)
}

func round(d time.Duration) time.Duration {
	if d > 10*time.Millisecond {
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func mapSlice[T any](xs []T, f func(T) float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

// splitEnv reads the -env flag, KEY=VALUE,…
func splitEnv(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
