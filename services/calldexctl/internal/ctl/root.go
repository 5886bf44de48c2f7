package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/redisx"
	"github.com/calldex/calldex/shared/tenant"
)

// DefaultNATSURL is where the embedded calldex exposes its NATS.
const DefaultNATSURL = "nats://127.0.0.1:4250"

// IO is where a run reads and writes.
type IO struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Progress enables progress bars on Stderr (a terminal).
	Progress bool
	// Interactive allows questions on Stdin (a terminal).
	Interactive bool
}

// Stdio is the process's own streams, with progress bars and questions
// only when they are terminals.
func Stdio() IO {
	return IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		Progress: isTerminal(os.Stderr), Interactive: isTerminal(os.Stdin)}
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Exit codes.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitInterrupted = 130
)

// errInterrupted: ctx ended (Ctrl-C). The command has said how far it got.
var errInterrupted = errors.New("interrupted")

// errProblems: the command ran and reported problems (config check); it
// has printed them, so Main prints nothing more.
var errProblems = errors.New("problems found")

// usageError marks bad arguments.
type usageError struct{ error }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// Main runs calldexctl with args and returns the process exit code.
// lookupEnv supplies NATS_URL and friends as flag defaults.
func Main(ctx context.Context, args []string, stdio IO, lookupEnv func(string) (string, bool)) int {
	a := &app{io: stdio, lookupEnv: lookupEnv}
	defer a.close()
	root := newRoot(a, lookupEnv)
	root.SetArgs(args)
	root.SetIn(stdio.Stdin)
	root.SetOut(stdio.Stdout)
	root.SetErr(stdio.Stderr)
	cmd, err := root.ExecuteContextC(ctx)
	a.recordRun(ctx, cmd, err)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errProblems):
		return exitFailed
	case errors.Is(err, errInterrupted) || ctx.Err() != nil:
		fmt.Fprintln(stdio.Stderr, "calldexctl: interrupted")
		return exitInterrupted
	}
	fmt.Fprintln(stdio.Stderr, "calldexctl:", err)
	var ue usageError
	if errors.As(err, &ue) || strings.Contains(err.Error(), "unknown command") ||
		strings.Contains(err.Error(), "accepts ") || strings.Contains(err.Error(), "required flag") ||
		strings.Contains(err.Error(), "at least one of the flags") || strings.Contains(err.Error(), "if any flags in the group") {
		fmt.Fprintln(stdio.Stderr, "(see calldexctl --help, or --help after the command)")
		return exitUsage
	}
	return exitFailed
}

// options are the global flags.
type options struct {
	natsURL      string
	redisURL     string
	redisPrefix  string
	streamPrefix string
	config       string
	json         bool
	timeout      time.Duration
}

// app is one run: options, lazily opened connections, output.
type app struct {
	io        IO
	opts      options
	lookupEnv func(string) (string, bool)

	nc  *nats.Conn
	js  jetstream.JetStream
	rdb redis.UniversalClient
	cfg *tenant.Config
}

func newRoot(a *app, lookupEnv func(string) (string, bool)) *cobra.Command {
	env := func(key, def string) string {
		if v, ok := lookupEnv(key); ok && v != "" {
			return v
		}
		return def
	}
	root := &cobra.Command{
		Use:   "calldexctl",
		Short: "Operate Calldex: streams, events, dead letters, the index, imports, lookups, config",
		Long: `calldexctl is the tool for when something went wrong: a CRM down all night, a
bug that mis-projected contacts, a tenant whose contacts must be loaded.

It talks to the NATS JetStream of Calldex (NATS_URL, default the embedded
calldex's ` + DefaultNATSURL + `) and to its Redis index (REDIS_URL), under
CALLDEX_STREAM_PREFIX and CALLDEX_REDIS_PREFIX like the services. Stream and
subject names you type are the unprefixed ones (WORKFLOWS, workflows.acme.>);
the prefix is added for you.

Output is for people by default; --json prints one JSON document (NDJSON for
events tail) for scripts. Long operations show a progress bar on a terminal.
Ctrl-C stops at a safe point and says how far the command got; a second
Ctrl-C kills it.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	f := root.PersistentFlags()
	f.StringVar(&a.opts.natsURL, "nats-url", env("NATS_URL", DefaultNATSURL), "NATS server (env NATS_URL)")
	f.StringVar(&a.opts.redisURL, "redis-url", env("REDIS_URL", ""), "Redis of the index (env REDIS_URL)")
	f.StringVar(&a.opts.redisPrefix, "redis-prefix", env("CALLDEX_REDIS_PREFIX", "cdx"), "Redis key prefix (env CALLDEX_REDIS_PREFIX)")
	f.StringVar(&a.opts.streamPrefix, "stream-prefix", env("CALLDEX_STREAM_PREFIX", ""), "prefix of streams, subjects and buckets (env CALLDEX_STREAM_PREFIX)")
	f.StringVar(&a.opts.config, "config", env("CALLDEX_CONFIG", ""), "tenants configuration file (env CALLDEX_CONFIG)")
	f.BoolVar(&a.opts.json, "json", false, "print JSON for scripts")
	f.DurationVar(&a.opts.timeout, "timeout", 5*time.Second, "timeout of each request to NATS or Redis")
	root.AddCommand(
		streamsCmd(a),
		eventsCmd(a),
		dlqCmd(a),
		indexCmd(a),
		importCmd(a),
		lookupCmd(a),
		configCmd(a),
		tenantsCmd(a),
		auditCmd(a),
		eraseCmd(a),
		riskCmd(a),
	)
	return root
}

func (a *app) topo() events.Topology { return events.Topology{Prefix: a.opts.streamPrefix} }

// stream turns a stream name as typed (WORKFLOWS) into the real one.
func (a *app) stream(name string) string {
	p := a.opts.streamPrefix
	if p != "" && strings.HasPrefix(name, p) {
		return name
	}
	return p + name
}

// subject turns a subject as typed (workflows.acme.>) into the real one.
func (a *app) subject(s string) string {
	p := a.opts.streamPrefix
	if p == "" || strings.HasPrefix(s, p+".") {
		return s
	}
	return p + "." + s
}

// jetstream connects to NATS once per run. Publishes are not buffered
// while disconnected: a command must know at once that NATS is gone.
func (a *app) jetstream() (jetstream.JetStream, error) {
	if a.js != nil {
		return a.js, nil
	}
	if err := events.ValidPrefix(a.opts.streamPrefix); err != nil {
		return nil, fmt.Errorf("--stream-prefix (CALLDEX_STREAM_PREFIX): %w", err)
	}
	nc, err := nats.Connect(a.opts.natsURL, nats.Name("calldexctl"), nats.Timeout(a.opts.timeout),
		nats.ReconnectBufSize(-1), nats.ReconnectWait(250*time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s (set NATS_URL or --nats-url): %w", a.opts.natsURL, err)
	}
	js, err := jetstream.New(nc, jetstream.WithDefaultTimeout(a.opts.timeout))
	if err != nil {
		nc.Close()
		return nil, err
	}
	a.nc, a.js = nc, js
	return js, nil
}

// redis connects to the index's Redis once per run: one server, Sentinel
// or Cluster, as REDIS_URL says (see shared/redisx).
func (a *app) redis(ctx context.Context) (redis.UniversalClient, error) {
	if a.rdb != nil {
		return a.rdb, nil
	}
	if a.opts.redisURL == "" {
		return nil, usagef("this command needs the Redis index: set REDIS_URL or --redis-url (an embedded calldex without Redis keeps its index in process: restart it to rebuild)")
	}
	pctx, cancel := context.WithTimeout(ctx, a.opts.timeout)
	defer cancel()
	rdb, _, err := redisx.Open(pctx, a.opts.redisURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	a.rdb = rdb
	return rdb, nil
}

// index opens the Redis index, serving tenants from their active generations.
func (a *app) index(ctx context.Context) (*index.Redis, error) {
	rdb, err := a.redis(ctx)
	if err != nil {
		return nil, err
	}
	ix := index.NewRedis(rdb, a.opts.redisPrefix)
	if err := ix.Refresh(ctx); err != nil {
		return nil, err
	}
	return ix, nil
}

// config loads the tenants configuration once per run.
func (a *app) config() (*tenant.Config, error) {
	if a.cfg != nil {
		return a.cfg, nil
	}
	if a.opts.config == "" {
		return nil, usagef("this command needs the tenants configuration: set CALLDEX_CONFIG or --config")
	}
	cfg, err := tenant.Load(a.opts.config, a.lookupEnv)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", a.opts.config, err)
	}
	a.cfg = cfg
	return cfg, nil
}

func (a *app) close() {
	if a.nc != nil {
		a.nc.Close()
	}
	if a.rdb != nil {
		a.rdb.Close()
	}
}

// printJSON writes v as indented JSON on stdout.
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.io.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printf writes human output on stdout.
func (a *app) printf(format string, args ...any) { fmt.Fprintf(a.io.Stdout, format, args...) }

// notef writes a remark for people on stderr (never mixed into --json).
func (a *app) notef(format string, args ...any) { fmt.Fprintf(a.io.Stderr, format, args...) }

func (a *app) table() *tabwriter.Writer { return tabwriter.NewWriter(a.io.Stdout, 0, 4, 2, ' ', 0) }

// reqCtx bounds one request to NATS or Redis.
func (a *app) reqCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, a.opts.timeout)
}
