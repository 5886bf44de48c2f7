// Command projectload measures the contact path from CONTACTS into a Redis
// index: it publishes N synthetic contacts with realistic phone numbers to
// a CONTACTS stream of its own (on real NATS, or an embedded server), then,
// for each run, times
//
//   - rebuild: a fresh projector with an empty index and no checkpoint
//     catching up with the whole stream (what an empty index does at start);
//   - ctl-rebuild: projector.Rebuild of the tenant into a new generation, as
//     calldexctl index rebuild does, while that projector keeps running;
//   - live: changed contacts published at a fixed rate (-live-rate, 20,000/s
//     by default) while the projector runs: whether it keeps up, with the
//     lag it kept and how long after the last publish everything was in;
//   - changes: a backlog of changed contacts (every one replaces phone keys
//     and name words: the two-round-trip path) caught up after a restart;
//
// and reports Redis memory per contact. Everything it creates (streams,
// Redis keys under its own prefix) is deleted at the end, also on Ctrl-C.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/contact"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/natsx"
	"github.com/calldex/calldex/shared/phone"
	"github.com/calldex/calldex/shared/projector"
)

type options struct {
	contacts   int
	changes    int
	liveRate   int
	runs       int
	phases     string
	publishers int
	chunk      int
	natsURL    string
	redisURL   string
	memory     bool
	cpuProfile string
	bulk       int
}

const benchTenant = "bench"

var benchPhone = phone.Options{Region: "CH", TailDigits: 9}

func main() {
	var o options
	flag.IntVar(&o.contacts, "contacts", 1_000_000, "synthetic contacts published to CONTACTS and rebuilt")
	flag.IntVar(&o.changes, "changes", 200_000, "changed contacts published in each of the live and changes phases")
	flag.IntVar(&o.liveRate, "live-rate", 20_000, "contacts/s offered in the live phase (0: as fast as the publishers can)")
	flag.IntVar(&o.runs, "runs", 3, "measurement runs (each on a fresh Redis prefix), to show the spread")
	flag.StringVar(&o.phases, "phases", "rebuild,ctl-rebuild,live,changes", "phases of each run (rebuild always runs first)")
	flag.IntVar(&o.publishers, "publishers", 4, "concurrent publishers (contact.Publisher.UpsertMany)")
	flag.IntVar(&o.chunk, "chunk", 2000, "contacts per UpsertMany call")
	flag.StringVar(&o.natsURL, "nats", envOr("NATS_URL", nats.DefaultURL), `NATS server, or "embedded" for an in-process one`)
	flag.StringVar(&o.redisURL, "redis", envOr("REDIS_URL", "redis://127.0.0.1:6379/0"), "Redis of the index")
	flag.BoolVar(&o.memory, "memory", true, "measure Redis memory per contact after the first run's rebuild and ctl-rebuild (MEMORY USAGE of every key)")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.IntVar(&o.bulk, "bulk", 250_000, "contacts the projector loads in bulk into the empty index at most (CALLDEX_PROJECTOR_BULK; 0: none)")
	flag.Parse()
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "projectload:", err)
			os.Exit(1)
		}
		_ = pprof.StartCPUProfile(f)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	pprof.StopCPUProfile()
	if err != nil {
		fmt.Fprintln(os.Stderr, "projectload:", err)
		os.Exit(1)
	}
}

// bench is what every phase works with.
type bench struct {
	o    options
	js   jetstream.JetStream
	topo events.Topology
	rdb  *redis.Client
	pub  *contact.Publisher
	log  *slog.Logger
	// last is the highest CONTACTS sequence published so far.
	last atomic.Uint64
	// version is the last version published of contacts 0…changes-1
	// (each phase of changes publishes the next one), versionOfRest that
	// of the others (published once, at the start).
	version, versionOfRest int
}

func run(ctx context.Context, o options) error {
	if o.contacts <= 0 || o.runs <= 0 || o.publishers <= 0 || o.chunk <= 0 {
		return errors.New("-contacts, -runs, -publishers and -chunk must be positive")
	}
	phases := map[string]bool{}
	for _, p := range strings.Split(o.phases, ",") {
		switch p = strings.TrimSpace(p); p {
		case "rebuild", "ctl-rebuild", "live", "changes":
			phases[p] = true
		case "":
		default:
			return fmt.Errorf("unknown phase %q", p)
		}
	}

	natsURL, stopNATS, err := startNATS(o.natsURL)
	if err != nil {
		return err
	}
	defer stopNATS()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		return fmt.Errorf("nats %s: %w", natsURL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(o.publishers*o.chunk+1024))
	if err != nil {
		return err
	}
	ropts, err := redis.ParseURL(o.redisURL)
	if err != nil {
		return err
	}
	rdb := redis.NewClient(ropts)
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis %s: %w", o.redisURL, err)
	}

	stamp := time.Now().UnixNano()
	b := &bench{
		o:    o,
		js:   js,
		topo: events.Topology{Prefix: fmt.Sprintf("projload%d", stamp)},
		rdb:  rdb,
		log:  slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	b.pub = contact.NewPublisher(js, b.topo)
	if err := natsx.EnsureStreams(ctx, js, b.topo); err != nil {
		return err
	}
	defer b.deleteStreams()

	fmt.Printf("projectload: %s contacts, %s changes per phase, %d runs; NATS %s (server %s), Redis %s, GOMAXPROCS=%d, %d CPUs\n",
		count(o.contacts), count(o.changes), o.runs, natsURL, nc.ConnectedServerVersion(), redisVersion(ctx, rdb), runtime.GOMAXPROCS(0), runtime.NumCPU())
	m := startMeter(ctx, rdb)
	took, err := b.publish(ctx, o.contacts, 0)
	if err != nil {
		return err
	}
	b.versionOfRest = b.version
	fmt.Printf("published %s contacts in %s: %s contacts/s (%d publishers, UpsertMany of %d)%s\n\n",
		count(o.contacts), took.Round(time.Millisecond), count(int(float64(o.contacts)/took.Seconds())), o.publishers, o.chunk, m.stop(ctx, o.contacts))

	results := map[string][]result{}
	fmt.Printf("%-4s %-12s %10s %9s %12s %s\n", "run", "phase", "contacts", "time", "contacts/s", "CPU per contact (this process, Redis, nats-server) and how busy the machine was")
	for r := 1; r <= o.runs; r++ {
		if err := b.runOnce(ctx, r, phases, results); err != nil {
			return err
		}
	}
	fmt.Println()
	for _, p := range []string{"rebuild", "ctl-rebuild", "live", "changes"} {
		v := results[p]
		if len(v) == 0 {
			continue
		}
		slices.SortFunc(v, func(a, b result) int { return cmp.Compare(a.took, b.took) })
		fmt.Printf("%-12s over %d runs: time min %s  median %s  max %s;  contacts/s %s … %s\n", p, len(v),
			v[0].took.Round(10*time.Millisecond), v[len(v)/2].took.Round(10*time.Millisecond), v[len(v)-1].took.Round(10*time.Millisecond),
			count(int(float64(v[len(v)-1].n)/v[len(v)-1].took.Seconds())), count(int(float64(v[0].n)/v[0].took.Seconds())))
	}
	return nil
}

// result is one phase of one run.
type result struct {
	n    int
	took time.Duration
}

// runOnce measures every phase on a fresh Redis prefix, then deletes it.
func (b *bench) runOnce(ctx context.Context, r int, phases map[string]bool, results map[string][]result) error {
	prefix := fmt.Sprintf("cdxprojload%d-%d", time.Now().UnixNano(), r)
	defer deletePrefix(b.rdb, prefix)
	idx := index.NewRedis(b.rdb, prefix)
	followCtx, stopFollow := context.WithCancel(ctx)
	defer stopFollow()
	go idx.Follow(followCtx, time.Second, b.log)
	cp := projector.NewRedis(b.rdb, prefix, b.topo.Stream(events.StreamContacts))
	row := func(phase string, n int, took time.Duration, cost string) {
		rate := float64(n) / took.Seconds()
		results[phase] = append(results[phase], result{n, took})
		fmt.Printf("%-4d %-12s %10s %9s %12s %s\n", r, phase, count(n), took.Round(time.Millisecond), count(int(rate)), cost)
	}

	// rebuild: an empty index and no checkpoint catch up with the stream.
	waitLazyFree(ctx, b.rdb)
	before := usedMemory(ctx, b.rdb)
	m := startMeter(ctx, b.rdb)
	start := time.Now()
	p, stop, err := b.startProjector(ctx, idx, cp)
	if err != nil {
		return err
	}
	defer func() { stop() }()
	if err := b.waitCaughtUp(ctx, p, "rebuild"); err != nil {
		return err
	}
	row("rebuild", b.o.contacts, time.Since(start), m.stop(ctx, b.o.contacts))
	if err := b.verify(ctx, idx, "rebuild"); err != nil {
		return err
	}
	if r == 1 && b.o.memory {
		// Loaded in bulk, the tenant is served from a generation of its own.
		base := prefix + ":"
		if gen := idx.Served(benchTenant); gen != "" {
			base += gen + ":"
		}
		b.reportMemory(ctx, base+"{"+benchTenant+"}:", before)
	}

	if phases["ctl-rebuild"] {
		before := usedMemory(ctx, b.rdb)
		m := startMeter(ctx, b.rdb)
		res, err := projector.Rebuild(ctx, projector.RebuildConfig{Topology: b.topo, Tenant: benchTenant, Phone: benchPhone, Log: b.log}, b.js, idx)
		if err != nil {
			return err
		}
		if res.Stats.Contacts != int64(b.o.contacts) {
			return fmt.Errorf("ctl-rebuild: generation %s holds %d contacts, want %d", res.Generation, res.Stats.Contacts, b.o.contacts)
		}
		row("ctl-rebuild", int(res.Events), res.Took, m.stop(ctx, int(res.Events)))
		if r == 1 && b.o.memory {
			b.reportMemory(ctx, prefix+":"+res.Generation+":{"+benchTenant+"}:", before)
		}
		// The projector follows the switch into the new generation.
		if err := b.waitCaughtUp(ctx, p, "follow the switch"); err != nil {
			return err
		}
		if err := b.verify(ctx, idx, "ctl-rebuild"); err != nil {
			return err
		}
	}

	if phases["live"] && b.o.changes > 0 {
		// Changed contacts published at the offered rate while the
		// projector runs: the projection rate is the publishers' as long
		// as the projector keeps up; the lag says whether it did.
		m := startMeter(ctx, b.rdb)
		start := time.Now()
		var maxLag atomic.Uint64
		sampled := make(chan struct{})
		sampleCtx, stopSampling := context.WithCancel(ctx)
		go func() {
			defer close(sampled)
			t := time.NewTicker(20 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-sampleCtx.Done():
					return
				case <-t.C:
					if last, applied := b.last.Load(), p.Applied(); last > applied && last-applied > maxLag.Load() {
						maxLag.Store(last - applied)
					}
				}
			}
		}()
		published, err := b.publish(ctx, b.o.changes, b.o.liveRate)
		if err != nil {
			stopSampling()
			return err
		}
		err = b.waitCaughtUp(ctx, p, "live")
		stopSampling()
		<-sampled
		if err != nil {
			return err
		}
		took := time.Since(start)
		if err := b.verify(ctx, idx, "live"); err != nil {
			return err
		}
		offered := "as fast as possible"
		if b.o.liveRate > 0 {
			offered = count(b.o.liveRate) + "/s offered"
		}
		row("live", b.o.changes, took, fmt.Sprintf("%s; %s, published at %s/s, projection lag at most %s events, all in %s after the last publish",
			m.stop(ctx, b.o.changes), offered, count(int(float64(b.o.changes)/published.Seconds())), count(int(maxLag.Load())), (took-published).Round(time.Millisecond)))
	}

	if phases["changes"] && b.o.changes > 0 {
		// A backlog of changed contacts after a restart, from the checkpoint.
		stop()
		if _, err := b.publish(ctx, b.o.changes, 0); err != nil {
			return err
		}
		m := startMeter(ctx, b.rdb)
		start := time.Now()
		if p, stop, err = b.startProjector(ctx, idx, cp); err != nil {
			return err
		}
		if err := b.waitCaughtUp(ctx, p, "changes"); err != nil {
			return err
		}
		row("changes", b.o.changes, time.Since(start), m.stop(ctx, b.o.changes))
		if err := b.verify(ctx, idx, "changes"); err != nil {
			return err
		}
	}
	st, err := idx.Stats(ctx, benchTenant)
	if err != nil {
		return err
	}
	if st.Contacts != int64(b.o.contacts) {
		return fmt.Errorf("index holds %d contacts, want %d", st.Contacts, b.o.contacts)
	}
	return nil
}

// verify looks up a sample of the contacts by their first number, as the
// ringing path does, and checks that the index answers with the version
// last published of each.
func (b *bench) verify(ctx context.Context, idx index.Index, phase string) error {
	updated := time.Now()
	step := max(1, b.o.contacts/1000)
	for i := 0; i < b.o.contacts; i += step {
		version := b.version
		if i >= b.o.changes {
			version = b.versionOfRest
		}
		want := synth(i, version, updated)
		keys, err := phone.Candidates(want.Phones[0].Raw, benchPhone)
		if err != nil {
			return fmt.Errorf("%s: verify contact %d: %w", phase, i, err)
		}
		ms, err := idx.Lookup(ctx, benchTenant, keys, 5)
		if err != nil {
			return fmt.Errorf("%s: verify contact %d: %w", phase, i, err)
		}
		if len(ms) != 1 || ms[0].Contact.ID != want.ID || ms[0].Contact.Name != want.Name {
			return fmt.Errorf("%s: %s finds %+v, want only %s %q", phase, want.Phones[0].Raw, ms, want.ID, want.Name)
		}
	}
	return nil
}

type benchTenants struct{}

func (benchTenants) PhoneOptions(id string) (phone.Options, bool) {
	return benchPhone, id == benchTenant
}

func (b *bench) startProjector(ctx context.Context, idx index.Index, cp projector.Checkpoint) (*projector.Projector, func(), error) {
	p, err := projector.New(projector.Config{Topology: b.topo, Bulk: b.o.bulk}, b.js, idx, benchTenants{}, cp, b.log)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	return p, func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				b.log.Error("projector", "err", err)
			}
		})
	}, nil
}

// waitCaughtUp waits until the projector applied everything published,
// printing progress every 5 s to stderr.
func (b *bench) waitCaughtUp(ctx context.Context, p *projector.Projector, what string) error {
	target := b.last.Load()
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	done := make(chan error, 1)
	go func() { done <- p.WaitApplied(ctx, target) }()
	prev, prevAt := p.Applied(), time.Now()
	for {
		select {
		case err := <-done:
			return err
		case now := <-t.C:
			a := p.Applied()
			fmt.Fprintf(os.Stderr, "  %s: applied seq %d of %d (%.0f events/s)\n", what, a, target, float64(a-min(a, prev))/now.Sub(prevAt).Seconds())
			prev, prevAt = a, now
		}
	}
}

// publish publishes n contacts (0…n-1, the next version of each) with
// concurrent publishers, paced to rate contacts/s unless 0, and returns
// how long it took.
func (b *bench) publish(ctx context.Context, n, rate int) (time.Duration, error) {
	b.version++
	version := b.version
	updated := time.Now().UTC()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, b.o.publishers)
	for range b.o.publishers {
		wg.Go(func() {
			cs := make([]events.Contact, 0, b.o.chunk)
			for ctx.Err() == nil {
				from := int(next.Add(int64(b.o.chunk))) - b.o.chunk
				if from >= n {
					return
				}
				if rate > 0 {
					// The chunk is due when the offered rate reaches it.
					sleep(ctx, time.Until(start.Add(time.Duration(float64(from)/float64(rate)*float64(time.Second)))))
				}
				cs = cs[:0]
				for i := from; i < min(from+b.o.chunk, n); i++ {
					cs = append(cs, synth(i, version, updated))
				}
				last, err := b.pub.UpsertMany(ctx, benchTenant, cs)
				if err != nil {
					errs <- err
					return
				}
				for {
					cur := b.last.Load()
					if last <= cur || b.last.CompareAndSwap(cur, last) {
						break
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return time.Since(start), ctx.Err()
}

// reportMemory prints what the tenant's keys cost in Redis, per contact:
// MEMORY USAGE of every key (exact, whatever else the server holds), and
// the used_memory delta (includes allocator overhead, but also anything
// other clients of a shared server did meanwhile).
func (b *bench) reportMemory(ctx context.Context, tenantPrefix string, before int64) {
	n := float64(b.o.contacts)
	delta := usedMemory(ctx, b.rdb) - before
	usage, keys, err := memoryUsage(ctx, b.rdb, tenantPrefix)
	if err != nil {
		fmt.Printf("     memory: %v\n", err)
		return
	}
	var total int64
	for _, v := range usage {
		total += v
	}
	// The name index is its directory and its pages.
	usage["names"] += usage["nm"]
	parts := make([]string, 0, len(usage))
	for _, part := range []string{"recs", "ph", "names"} {
		parts = append(parts, fmt.Sprintf("%s %.0f", part, float64(usage[part])/n))
	}
	fmt.Printf("     memory: %.0f B/contact by MEMORY USAGE (%s; %s keys), %.0f B/contact by used_memory delta\n",
		float64(total)/n, strings.Join(parts, ", "), count(keys), float64(delta)/n)
}

// memoryUsage sums MEMORY USAGE (every element sampled) of every key under
// tenantPrefix, by part: recs, ph (the phone-key buckets), names and nm
// (the name index's directory and pages), tally, upto.
func memoryUsage(ctx context.Context, rdb *redis.Client, tenantPrefix string) (map[string]int64, int, error) {
	usage := map[string]int64{}
	n := 0
	iter := rdb.Scan(ctx, 0, tenantPrefix+"*", 5000).Iterator()
	var batch []string
	flush := func() error {
		cmds := make([]*redis.IntCmd, len(batch))
		_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range batch {
				cmds[i] = p.MemoryUsage(ctx, k, 0)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for i, k := range batch {
			part, _, _ := strings.Cut(strings.TrimPrefix(k, tenantPrefix), ":")
			usage[part] += cmds[i].Val()
		}
		n += len(batch)
		batch = batch[:0]
		return nil
	}
	for iter.Next(ctx) {
		if batch = append(batch, iter.Val()); len(batch) == 5000 {
			if err := flush(); err != nil {
				return nil, n, err
			}
		}
	}
	if err := iter.Err(); err != nil {
		return nil, n, err
	}
	return usage, n, flush()
}

// meter measures what a phase cost: this process's CPU time (publishers,
// projector and all; an embedded NATS server too), Redis's CPU time, the
// CPU time of nats-server processes on this machine, and how busy the
// whole machine was (other engineers' processes included), from /proc.
type meter struct {
	rdb                *redis.Client
	proc, redis, nats  time.Duration
	busy, total        uint64
	procOK, rdOK, nsOK bool
}

func startMeter(ctx context.Context, rdb *redis.Client) *meter {
	m := &meter{rdb: rdb}
	m.proc, m.procOK = processCPU()
	m.redis, m.rdOK = redisCPU(ctx, rdb)
	m.nats, m.nsOK = natsServerCPU()
	m.busy, m.total = machineCPU()
	return m
}

func (m *meter) stop(ctx context.Context, n int) string {
	var parts []string
	if p, ok := processCPU(); ok && m.procOK {
		parts = append(parts, fmt.Sprintf("Go %.1f µs", float64((p-m.proc).Microseconds())/float64(n)))
	}
	if r, ok := redisCPU(ctx, m.rdb); ok && m.rdOK {
		parts = append(parts, fmt.Sprintf("Redis %.1f µs", float64((r-m.redis).Microseconds())/float64(n)))
	}
	if ns, ok := natsServerCPU(); ok && m.nsOK {
		parts = append(parts, fmt.Sprintf("nats-server %.1f µs", float64((ns-m.nats).Microseconds())/float64(n)))
	}
	if busy, total := machineCPU(); total > m.total {
		parts = append(parts, fmt.Sprintf("machine %.0f%% busy", 100*float64(busy-m.busy)/float64(total-m.total)))
	}
	if len(parts) == 0 {
		return ""
	}
	return "  " + strings.Join(parts, ", ")
}

func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}

func redisCPU(ctx context.Context, rdb *redis.Client) (time.Duration, bool) {
	info, err := rdb.Info(ctx, "cpu").Result()
	if err != nil {
		return 0, false
	}
	var total float64
	for _, line := range strings.Split(info, "\r\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
			f, _ := strconv.ParseFloat(v, 64)
			total += f
		}
	}
	return time.Duration(total * float64(time.Second)), true
}

// natsServerCPU sums the CPU time of the processes named nats-server on
// this machine (none when NATS is embedded or remote).
func natsServerCPU() (time.Duration, bool) {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, false
	}
	var total time.Duration
	found := false
	for _, d := range dirs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		comm, err := os.ReadFile("/proc/" + d.Name() + "/comm")
		if err != nil || strings.TrimSpace(string(comm)) != "nats-server" {
			continue
		}
		stat, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		// The fields after the command name (which may hold spaces):
		// utime and stime are the 14th and 15th of the line.
		_, rest, ok := strings.Cut(string(stat), ") ")
		f := strings.Fields(rest)
		if !ok || len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseUint(f[11], 10, 64)
		st, _ := strconv.ParseUint(f[12], 10, 64)
		total += time.Duration(ut+st) * time.Second / clockTicks
		found = true
	}
	return total, found
}

// clockTicks is USER_HZ, the unit of /proc's CPU times (100 on Linux).
const clockTicks = 100

// machineCPU reads the busy and total jiffies of all CPUs.
func machineCPU() (busy, total uint64) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	fields := strings.Fields(line)
	for i, f := range fields[1:] {
		v, _ := strconv.ParseUint(f, 10, 64)
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total
}

func usedMemory(ctx context.Context, rdb *redis.Client) int64 {
	v, _ := infoField(ctx, rdb, "memory", "used_memory")
	n, _ := strconv.ParseInt(v, 10, 64)
	return n
}

// waitLazyFree waits (bounded) until Redis has freed what earlier runs
// unlinked, so that the next used_memory delta is not skewed by it.
func waitLazyFree(ctx context.Context, rdb *redis.Client) {
	for range 600 {
		v, ok := infoField(ctx, rdb, "memory", "lazyfree_pending_objects")
		if !ok || v == "0" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func infoField(ctx context.Context, rdb *redis.Client, section, field string) (string, bool) {
	info, err := rdb.Info(ctx, section).Result()
	if err != nil {
		return "", false
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return v, true
		}
	}
	return "", false
}

func redisVersion(ctx context.Context, rdb *redis.Client) string {
	v, _ := infoField(ctx, rdb, "server", "redis_version")
	return v
}

// deletePrefix unlinks every key under prefix (its generations included).
func deletePrefix(rdb *redis.Client, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	iter := rdb.Scan(ctx, 0, prefix+":*", 10_000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		if batch = append(batch, iter.Val()); len(batch) == 10_000 {
			rdb.Unlink(ctx, batch...)
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		rdb.Unlink(ctx, batch...)
	}
}

func (b *bench) deleteStreams() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, s := range b.topo.Streams() {
		_ = b.js.DeleteStream(ctx, s.Name)
	}
}

// startNATS returns the URL to use: url itself, or that of an embedded
// server started for the run.
func startNATS(url string) (string, func(), error) {
	if url != "embedded" {
		return url, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "projectload")
	if err != nil {
		return "", nil, err
	}
	ns, err := natsx.StartEmbedded(natsx.EmbeddedConfig{DataDir: dir, Port: -1})
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return ns.ClientURL(), func() { ns.Shutdown(); ns.WaitForShutdown(); os.RemoveAll(dir) }, nil
}

// count renders n with thousands separators.
func count(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + count(-n)
	}
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
