// Command ingress serves the HTTP API against external NATS (NATS_URL) and
// Redis (REDIS_URL): the stateless, horizontally scaled production form.
package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/calldex/calldex/services/internal/app"
)

func main() { app.Main("ingress", run) }

func run(ctx context.Context, log *slog.Logger) error {
	o, _, err := app.FromEnv(log)
	if err != nil {
		return err
	}
	if o.NATSURL == "" || o.RedisURL == "" {
		return errors.New("NATS_URL and REDIS_URL are required (use cmd calldex for the embedded default)")
	}
	o.Seed = ""
	o.Sync = false // services/crmsync syncs; the ingress only takes webhooks
	return app.Run(ctx, o)
}
