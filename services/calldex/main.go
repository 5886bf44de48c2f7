// Command calldex runs Calldex. With no configuration it runs every role in
// one process on an embedded NATS JetStream and the in-process index, with a
// demo tenant. With --roles (or CALLDEX_ROLES) it runs some of them, for the
// production split over a NATS cluster and Redis: ingress, worker, sync,
// projector.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/calldex/calldex/services/internal/app"
	"github.com/calldex/calldex/services/internal/gctune"
)

func main() {
	roles := flag.String("roles", "", "comma list of roles to run (ingress, worker, sync, projector); overrides CALLDEX_ROLES; default all")
	listEnv := flag.Bool("list-env", false, "print the environment variables Calldex reads, one per line, and exit")
	flag.Parse()
	if *listEnv {
		for _, name := range app.EnvNames() {
			fmt.Println(name)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *roles); err != nil {
		fmt.Fprintln(os.Stderr, "calldex:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, roles string) error {
	cfg, err := app.FromEnv(os.LookupEnv)
	if err != nil {
		return err
	}
	if roles != "" {
		if cfg.Roles, err = app.ParseRoles(roles); err != nil {
			return fmt.Errorf("--roles: %w", err)
		}
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	gc := gctune.Choose(os.LookupEnv, !cfg.IndexInHeap(), gctune.CgroupLimit("/sys/fs/cgroup"))
	gctune.Apply(ctx, gc)
	log.Info("garbage collector", "settings", gc.String())
	var a *app.App
	a, err = app.Build(ctx, cfg, app.WithLogger(log), app.WithReady(func(httpAddr, natsURL string) {
		if a.Demo() {
			fmt.Print(demoHelp(httpAddr, natsURL))
		}
	}))
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

func demoHelp(addr, natsURL string) string {
	return fmt.Sprintf(`
Calldex is running with the demo tenant %[2]q (NATS for calldexctl: %[5]s).

  # peoplefone CONNECTOR lookup (current form)
  curl -s -X POST http://%[1]s/peoplefone/Lookup -H '%[3]s: %[4]s' -d '{"inputs":{"phoneNumber":"41215522000"}}'
  # first form
  curl -s 'http://%[1]s/peoplefone/Lookup?PhoneNumber=41446681800' -H '%[3]s: %[4]s'
  # While1 PBX webservice
  curl -s 'http://%[1]s/pbx/lookup?telephone=0215522000&dnid=0215550000&token=%[4]s'
  # log the call in the demo CRM (SQLite in the data directory)
  curl -s -X POST http://%[1]s/peoplefone/CallFlow -H '%[3]s: %[4]s' -d '{"inputs":{"contactCrmId":"c-1001","originatorNumber":"41215522000","destinationNumber":"41215550000","direction":"incoming","startedTime":"2026-01-05T10:00:00Z","answeredTime":"2026-01-05T10:00:05Z","endedTime":"2026-01-05T10:03:00Z"}}'
  # add a contact, then explain a lookup
  curl -s -X PUT http://%[1]s/admin/v1/tenants/demo/contacts/c-2001 -H 'Authorization: Bearer %[6]s' -d '{"name":"Zoë Keller","phones":[{"raw":"044 123 45 67"}]}'
  curl -s 'http://%[1]s/admin/v1/tenants/demo/lookup?number=%%2B41441234567' -H 'Authorization: Bearer %[6]s'

`, addr, app.DemoTenant, app.DemoExecuteHeader, app.DemoToken, natsURL, app.DemoAdminToken)
}
