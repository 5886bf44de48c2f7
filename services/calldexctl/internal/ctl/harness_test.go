package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/calldex/calldex/shared/natstest"
	"github.com/calldex/calldex/shared/redistest"
)

// cli runs calldexctl in-process against one test's NATS topology (and
// Redis prefix, when the test has one).
type cli struct {
	t      *testing.T
	nats   *natstest.Env
	redis  string // prefix, "" without Redis
	config string
	env    map[string]string
	// stdin is what the next commands read.
	stdin string
}

func newCLI(t *testing.T, env *natstest.Env) *cli {
	return &cli{t: t, nats: env, env: map[string]string{}}
}

// withRedis gives the CLI the test's Redis under prefix.
func (c *cli) withRedis(prefix string) *cli {
	c.redis = prefix
	return c
}

// withConfig writes a tenants configuration for the CLI.
func (c *cli) withConfig(yaml string) *cli {
	c.config = filepath.Join(c.t.TempDir(), "calldex.yaml")
	if err := os.WriteFile(c.config, []byte(yaml), 0o600); err != nil {
		c.t.Fatal(err)
	}
	return c
}

func redisURL() string {
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u
	}
	return redistest.DefaultURL
}

type result struct {
	stdout, stderr string
	code           int
}

// run executes calldexctl with args and the test's connection flags.
func (c *cli) run(args ...string) result {
	c.t.Helper()
	return c.runCtx(context.Background(), args...)
}

func (c *cli) runCtx(ctx context.Context, args ...string) result {
	c.t.Helper()
	full := []string{"--timeout", "2s"}
	if c.nats != nil {
		full = append(full, "--nats-url", c.nats.URL, "--stream-prefix", c.nats.Topology.Prefix)
	}
	if c.redis != "" {
		full = append(full, "--redis-url", redisURL(), "--redis-prefix", c.redis)
	}
	if c.config != "" {
		full = append(full, "--config", c.config)
	}
	full = append(full, args...)
	var out, errOut bytes.Buffer
	code := Main(ctx, full, IO{Stdin: strings.NewReader(c.stdin), Stdout: &out, Stderr: &errOut}, func(k string) (string, bool) {
		v, ok := c.env[k]
		return v, ok
	})
	return result{stdout: out.String(), stderr: errOut.String(), code: code}
}

// ok runs a command that must succeed and returns its stdout.
func (c *cli) ok(args ...string) string {
	c.t.Helper()
	r := c.run(args...)
	if r.code != 0 {
		c.t.Fatalf("calldexctl %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// json runs a command with --json that must succeed and decodes its output.
func (c *cli) json(v any, args ...string) {
	c.t.Helper()
	out := c.ok(append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("calldexctl %s --json: %v\n%s", strings.Join(args, " "), err, out)
	}
}
