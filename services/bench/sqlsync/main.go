// Command sqlsync measures the contact path of a sql source from a database
// table to Redis lookups, as Calldex runs it: a sync process whose sql
// connector is built from tenant options publishes to CONTACTS, a projector
// process writes the Redis index, both built by the composition root
// (services/internal/pipelinetest).
//
//   - sync: N contacts (default 100,000) in the shipped contacts table of
//     a fresh table prefix, synced from an empty cursor until every one is
//     in the index, timed from when the sync process leads the source (its
//     first lease claim waits 3 s, also reported); contacts/s, when the
//     syncer had published them all, and the CPU each process used
//     meanwhile;
//   - lag: a writer changes the phone of -rate rows a second for
//     -duration while the sync polls every -interval; for every change, the
//     time from its commit until a lookup of the new number finds the
//     contact (p50, p90, p99, max), and how many upserts the sync published
//     per change.
//
// Everything it creates (tables, streams, buckets, Redis keys) is deleted
// at the end, also on Ctrl-C.
//
//	go run ./services/bench/sqlsync -driver postgres -contacts 100000
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/services/internal/app"
	"github.com/calldex/calldex/services/internal/pipelinetest"
	"github.com/calldex/calldex/shared/natsx"
	"github.com/calldex/calldex/shared/phone"
	"github.com/calldex/calldex/workflows/sqlcrm"
)

type options struct {
	driver, dsn      string
	natsURL          string
	redisURL         string
	contacts         int
	pageSize         int
	rateLimit        int
	interval         time.Duration
	overlap          time.Duration
	rate             int
	duration         time.Duration
	check            time.Duration
	verbose          bool
	phases           string
	loadBatch        int
	lookupGoroutines int
	cpuProfile       string
	bulk             int
}

const (
	benchTenant = "bench"
	benchSource = "crm"
)

var benchPhone = phone.Options{Region: "CH", TailDigits: 9}

func main() {
	var o options
	flag.StringVar(&o.driver, "driver", "postgres", "postgres or mysql (MariaDB)")
	flag.StringVar(&o.dsn, "dsn", "", "data source name (default: POSTGRES_DSN or MYSQL_DSN, else the local test database)")
	flag.StringVar(&o.natsURL, "nats", envOr("NATS_URL", nats.DefaultURL), `NATS server, or "embedded" for an in-process one`)
	flag.StringVar(&o.redisURL, "redis", envOr("REDIS_URL", "redis://127.0.0.1:6379/0"), "Redis of the index")
	flag.IntVar(&o.contacts, "contacts", 100_000, "rows in the table, synced from an empty cursor")
	flag.IntVar(&o.bulk, "bulk", app.DefaultConfig().ProjectorBulk, "contacts the projector loads in bulk into the empty index at most (CALLDEX_PROJECTOR_BULK; 0: none)")
	flag.IntVar(&o.pageSize, "page-size", sqlcrm.DefaultPageSize, "sql connector pageSize")
	flag.IntVar(&o.rateLimit, "rate-limit", 1000, "sync rateLimit (pages a second)")
	flag.DurationVar(&o.interval, "interval", time.Second, "syncInterval: the poll interval once caught up")
	flag.DurationVar(&o.overlap, "overlap", sqlcrm.DefaultSyncOverlap, "sql connector syncOverlap")
	flag.IntVar(&o.rate, "rate", 200, "lag phase: rows changed a second")
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "lag phase: how long the writer writes")
	flag.DurationVar(&o.check, "check", 20*time.Millisecond, "lag phase: how often the changed numbers are looked up")
	flag.IntVar(&o.lookupGoroutines, "lookups", 4, "lag phase: concurrent lookups")
	flag.StringVar(&o.phases, "phases", "sync,lag", "phases to run (sync always runs: lag needs the synced table)")
	flag.IntVar(&o.loadBatch, "load-batch", 1000, "rows per INSERT when filling the table")
	flag.BoolVar(&o.verbose, "v", false, "log the sync and projector processes")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "sqlsync:", err)
			os.Exit(1)
		}
		_ = pprof.StartCPUProfile(f)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	pprof.StopCPUProfile()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sqlsync:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	if o.contacts <= 0 || o.rate < 0 || o.pageSize <= 0 || o.rateLimit <= 0 {
		return errors.New("-contacts, -page-size and -rate-limit must be positive, -rate not negative")
	}
	if o.dsn == "" {
		o.dsn = map[string]string{
			"postgres": envOr("POSTGRES_DSN", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"),
			"mysql":    envOr("MYSQL_DSN", "root@tcp(127.0.0.1:3306)/test"),
		}[o.driver]
	}
	if o.dsn == "" {
		return fmt.Errorf("-driver %q: postgres or mysql", o.driver)
	}
	log := slog.New(slog.DiscardHandler)
	if o.verbose {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	stamp := time.Now().UnixNano()

	// The database: a fresh table prefix with the shipped schema.
	t, err := openTable(ctx, o, fmt.Sprintf("sqlsync%d_", stamp%1_000_000_000))
	if err != nil {
		return err
	}
	defer t.drop()

	// NATS and Redis, on which the processes set up their streams and keys
	// (deleted here at the end).
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
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	topo := events.Topology{Prefix: fmt.Sprintf("sqlsync%d", stamp)}
	defer deleteTopology(js, topo)
	ropts, err := redis.ParseURL(o.redisURL)
	if err != nil {
		return err
	}
	rdb := redis.NewClient(ropts)
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis %s: %w", o.redisURL, err)
	}
	redisPrefix := fmt.Sprintf("cdxsqlsync%d", stamp)
	defer deletePrefix(rdb, redisPrefix)

	fmt.Printf("sqlsync: %s %s, NATS %s (server %s), Redis %s, GOMAXPROCS=%d, %d CPUs\n",
		o.driver, t.version, natsURL, nc.ConnectedServerVersion(), redisVersion(ctx, rdb), runtime.GOMAXPROCS(0), runtime.NumCPU())
	took, err := t.fill(ctx, o.contacts, o.loadBatch)
	if err != nil {
		return err
	}
	fmt.Printf("table filled: %s rows in %s\n\n", count(o.contacts), took.Round(time.Millisecond))

	p, err := pipelinetest.Start(ctx, pipelinetest.Config{
		NATSURL: natsURL, RedisURL: o.redisURL, StreamPrefix: topo.Prefix, RedisPrefix: redisPrefix,
		Tenant: benchTenant, Source: benchSource, Phone: benchPhone,
		Connector: map[string]any{
			"driver": o.driver, "dsn": o.dsn, "tablePrefix": t.prefix, "pageSize": o.pageSize, "syncOverlap": o.overlap.String(),
			"syncInterval": o.interval.String(), "rateLimit": o.rateLimit,
		},
		Log:       log,
		Configure: func(c *app.Config) { c.ProjectorBulk = o.bulk },
	})
	if err != nil {
		return err
	}
	defer stopProcess("projector", p.Close)

	// sync: from an empty cursor to every contact in the index, timed from
	// when the sync process leads the source: a process's first lease
	// claim waits a fifth of the lease period (3 s), so that replicas
	// starting together share the shards.
	begin := time.Now()
	s, err := p.StartSyncer(ctx)
	if err != nil {
		return err
	}
	defer stopProcess("sync", s.Stop)
	for {
		leading, err := s.Leading()
		if err != nil {
			return err
		}
		if leading {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sync: never led the source: %w", ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
	m := startMeter()
	start := time.Now()
	led := start.Sub(begin)
	var published time.Duration
	for {
		st, err := p.Index.Stats(ctx, benchTenant)
		if err != nil {
			return err
		}
		upserts, err := s.Upserts()
		if err != nil {
			return err
		}
		if published == 0 && upserts >= int64(o.contacts) {
			published = time.Since(start)
		}
		if st.Contacts == int64(o.contacts) {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sync: %d of %d contacts in the index: %w", st.Contacts, o.contacts, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	took = time.Since(start)
	if published == 0 {
		published = took
	}
	rate := func(d time.Duration) string { return count(int(float64(o.contacts) / d.Seconds())) }
	fmt.Printf("sync: %s contacts from %s into the Redis index in %s: %s contacts/s (page size %d)\n",
		count(o.contacts), o.driver, took.Round(time.Millisecond), rate(took), o.pageSize)
	fmt.Printf("      the syncer had published them all after %s (%s contacts/s); the projector finished %s later\n",
		published.Round(time.Millisecond), rate(published), (took - published).Round(time.Millisecond))
	fmt.Printf("      timed from when the sync process led the source, %s after it started (%s contacts/s counted from its start)\n",
		led.Round(time.Millisecond), rate(led+took))
	fmt.Printf("      CPU meanwhile (2 cores = %s of CPU time; other processes on the machine count too): %s\n\n",
		(2 * took).Round(time.Millisecond), m.stop())

	if !strings.Contains(o.phases, "lag") || o.rate == 0 || o.duration <= 0 {
		return nil
	}
	return lagPhase(ctx, o, t, p, s)
}

// lagPhase changes rows at o.rate for o.duration and times each change
// from its commit to the lookup that finds it.
func lagPhase(ctx context.Context, o options, t *table, p *pipelinetest.Pipeline, s *pipelinetest.Syncer) error {
	type change struct {
		id     string
		number string
		at     time.Time
	}
	var (
		mu      sync.Mutex
		pending []change
		delays  []time.Duration
	)
	upsertsBefore, err := s.Upserts()
	if err != nil {
		return err
	}
	writeCtx, stopWriting := context.WithTimeout(ctx, o.duration)
	defer stopWriting()
	written := make(chan error, 1)
	m := startMeter()
	start := time.Now()
	go func() {
		// Every change writes a number no row had, to a row not changed
		// before in this phase (ids in turn), so each one is found once.
		n := 0
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			due := int(time.Since(start).Seconds() * float64(o.rate))
			for ; n < due && writeCtx.Err() == nil; n++ {
				id := n%o.contacts + 1
				num := fmt.Sprintf("021 %03d %02d %02d", 500+n/10000%500, n/100%100, n%100)
				if err := t.setPhone(writeCtx, id, num); err != nil {
					if writeCtx.Err() == nil {
						written <- err
						return
					}
					break
				}
				mu.Lock()
				pending = append(pending, change{fmt.Sprint(id), num, time.Now()})
				mu.Unlock()
			}
			select {
			case <-writeCtx.Done():
				written <- nil
				return
			case <-tick.C:
			}
		}
	}()

	var writeErr error
	writing := true
	deadline := time.Time{}
	for {
		if writing {
			select {
			case writeErr = <-written:
				writing = false
				deadline = time.Now().Add(o.interval + 30*time.Second)
			default:
			}
		}
		mu.Lock()
		batch := slices.Clone(pending)
		mu.Unlock()
		if !writing && len(batch) == 0 {
			break
		}
		if !writing && time.Now().After(deadline) {
			return fmt.Errorf("lag: %d changes never seen by a lookup", len(batch))
		}
		found := make([]bool, len(batch))
		seenAt := make([]time.Time, len(batch))
		var wg sync.WaitGroup
		for w := range o.lookupGoroutines {
			wg.Go(func() {
				for i := w; i < len(batch); i += o.lookupGoroutines {
					ids, err := p.Lookup(ctx, batch[i].number)
					if err == nil && slices.Contains(ids, batch[i].id) {
						found[i], seenAt[i] = true, time.Now()
					}
				}
			})
		}
		wg.Wait()
		mu.Lock()
		kept := pending[:0]
		for i, c := range pending {
			if i < len(batch) && found[i] {
				delays = append(delays, seenAt[i].Sub(c.at))
				continue
			}
			kept = append(kept, c)
		}
		pending = kept
		mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(o.check):
		}
	}
	if writeErr != nil {
		return fmt.Errorf("lag: writer: %w", writeErr)
	}
	took := time.Since(start)
	slices.Sort(delays)
	pct := func(q float64) time.Duration {
		return delays[min(len(delays)-1, int(q*float64(len(delays))))].Round(time.Millisecond)
	}
	upserts, err := s.Upserts()
	if err != nil {
		return err
	}
	upserts -= upsertsBefore
	fmt.Printf("lag: %s changes at %d/s for %s, poll interval %s, overlap %s: commit → lookup finds it\n",
		count(len(delays)), o.rate, o.duration, o.interval, o.overlap)
	fmt.Printf("      p50 %s  p90 %s  p99 %s  max %s (lookups every %s)\n", pct(0.5), pct(0.9), pct(0.99), delays[len(delays)-1].Round(time.Millisecond), o.check)
	fmt.Printf("      published %s upserts for %s changes (%.2f per change)\n", count(int(upserts)), count(len(delays)), float64(upserts)/float64(len(delays)))
	fmt.Printf("      CPU over the phase (%s of CPU time on 2 cores): %s\n", (2 * took).Round(time.Millisecond), m.stop())
	return nil
}

// table is the benchmark's contacts table.
type table struct {
	o       options
	db      *sql.DB
	prefix  string
	version string
}

func openTable(ctx context.Context, o options, prefix string) (*table, error) {
	// Open migrates the shipped schema under the prefix.
	s, err := sqlcrm.Open(ctx, sqlcrm.Config{Driver: o.driver, DSN: o.dsn, TablePrefix: prefix})
	if err != nil {
		return nil, err
	}
	_ = s.Close()
	driver := map[string]string{"postgres": "pgx", "mysql": "mysql"}[o.driver]
	db, err := sql.Open(driver, o.dsn)
	if err != nil {
		return nil, err
	}
	t := &table{o: o, db: db, prefix: prefix}
	if err := db.QueryRowContext(ctx, "SELECT version()").Scan(&t.version); err != nil {
		t.drop()
		return nil, err
	}
	t.version, _, _ = strings.Cut(t.version, " on ")
	return t, nil
}

// ph rewrites ? placeholders for PostgreSQL.
func (t *table) ph(q string) string {
	if t.o.driver != "postgres" {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// fill inserts contacts 1..n, updated an hour ago, with distinct Zurich
// numbers.
func (t *table) fill(ctx context.Context, n, batch int) (time.Duration, error) {
	start := time.Now()
	at := time.Now().Add(-time.Hour).UTC()
	for from := 1; from <= n; from += batch {
		var rows []string
		var args []any
		for i := from; i < min(from+batch, n+1); i++ {
			rows = append(rows, "(?, ?, ?, ?, ?, ?)")
			args = append(args, i, fmt.Sprintf("Contact %d", i), "Company", fmt.Sprintf("044 %03d %02d %02d", 100+i/10000, i/100%100, i%100),
				fmt.Sprintf("c%d@example.com", i), at)
		}
		q := "INSERT INTO " + t.prefix + "contacts (id, name, company, phone, email, updated_at) VALUES " + strings.Join(rows, ", ")
		if _, err := t.db.ExecContext(ctx, t.ph(q), args...); err != nil {
			return 0, fmt.Errorf("fill: %w", err)
		}
	}
	return time.Since(start), nil
}

func (t *table) setPhone(ctx context.Context, id int, number string) error {
	// updated_at moves by the shipped schema's trigger.
	_, err := t.db.ExecContext(ctx, t.ph("UPDATE "+t.prefix+"contacts SET phone = ? WHERE id = ?"), number, id)
	return err
}

// drop removes the benchmark's tables (and trigger function).
func (t *table) drop() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list := "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
	if t.o.driver == "postgres" {
		list = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
	}
	rows, err := t.db.QueryContext(ctx, list)
	if err == nil {
		var names []string
		for rows.Next() {
			var n string
			if rows.Scan(&n) == nil && strings.HasPrefix(n, t.prefix) {
				names = append(names, n)
			}
		}
		rows.Close()
		for _, n := range names {
			_, _ = t.db.ExecContext(ctx, "DROP TABLE IF EXISTS "+n)
		}
	}
	if t.o.driver == "postgres" {
		_, _ = t.db.ExecContext(ctx, "DROP FUNCTION IF EXISTS "+t.prefix+"contacts_touch() CASCADE")
	}
	_ = t.db.Close()
}

func startNATS(url string) (string, func(), error) {
	if url != "embedded" {
		return url, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "sqlsync-nats-")
	if err != nil {
		return "", nil, err
	}
	srv, err := natsx.StartEmbedded(natsx.EmbeddedConfig{DataDir: dir, Port: -1})
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return srv.ClientURL(), func() { srv.Shutdown(); srv.WaitForShutdown(); os.RemoveAll(dir) }, nil
}

// stopProcess stops a process gracefully (the sync releases its lease).
func stopProcess(name string, stop func() error) {
	if err := stop(); err != nil {
		fmt.Fprintf(os.Stderr, "sqlsync: %s stopped with %v\n", name, err)
	}
}

func deleteTopology(js jetstream.JetStream, topo events.Topology) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, s := range topo.Streams() {
		_ = js.DeleteStream(ctx, s.Name)
	}
	_ = js.DeleteKeyValue(ctx, topo.Stream(events.BucketWorkflowResults))
	_ = js.DeleteKeyValue(ctx, topo.Stream(events.BucketSyncCursors))
}

func deletePrefix(rdb *redis.Client, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		if batch = append(batch, iter.Val()); len(batch) == 1000 {
			_ = rdb.Unlink(ctx, batch...).Err()
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		_ = rdb.Unlink(ctx, batch...).Err()
	}
}

func redisVersion(ctx context.Context, rdb *redis.Client) string {
	info, err := rdb.Info(ctx, "server").Result()
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			return v
		}
	}
	return "?"
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// count writes n with thousands separators.
func count(n int) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}
