package ctl

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/audit"
)

// audited are the commands that change something: each run is an event on
// the AUDIT stream, as the admin API's requests are.
var audited = map[string]bool{
	"calldexctl dlq redrive":   true,
	"calldexctl dlq purge":     true,
	"calldexctl erase":         true,
	"calldexctl events replay": true,
	"calldexctl import":        true,
	"calldexctl index rebuild": true,
	"calldexctl index gc":      true,
}

// secretFlag tells flags whose values may hold a credential (a token, a
// password in a URL); they are never recorded.
func secretFlag(name string) bool {
	for _, s := range []string{"token", "password", "secret", "url"} {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}

// recordRun records an audited command's run: who ran it (user and host),
// its arguments and the flags given (but those that may hold credentials),
// and how it ended. A failure to record is reported, not fatal: the action
// has happened either way.
func (a *app) recordRun(ctx context.Context, cmd *cobra.Command, runErr error) {
	if cmd == nil || !audited[cmd.CommandPath()] {
		return
	}
	target := map[string]string{}
	if args := cmd.Flags().Args(); len(args) > 0 {
		if cmd.CommandPath() == "calldexctl erase" {
			args = []string{audit.MaskNumber(args[0])}
		}
		target["args"] = strings.Join(args, " ")
	}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if !secretFlag(f.Name) {
			target["--"+f.Name] = f.Value.String()
		}
	})
	tenant := events.NoTenant
	if f := cmd.Flags().Lookup("tenant"); f != nil && f.Value.String() != "" {
		tenant = f.Value.String()
	}
	e := events.AuditEntry{Actor: a.actor(), Via: events.ViaCalldexctl, Action: cmd.CommandPath(), Target: target, Outcome: events.OutcomeOK}
	if runErr != nil {
		e.Outcome, e.Error = events.OutcomeFailed, runErr.Error()
	}
	js, err := a.jetstream()
	if err == nil {
		rctx, cancel := a.reqCtx(context.WithoutCancel(ctx))
		defer cancel()
		err = audit.New(js, a.topo()).Record(rctx, tenant, e)
	}
	if err != nil {
		fmt.Fprintln(a.io.Stderr, "calldexctl: this run was not recorded on the AUDIT stream:", err)
	}
}

// actor names who runs calldexctl: the user and the host.
func (a *app) actor() string {
	user, _ := a.lookupEnv("USER")
	if user == "" {
		user = "unknown"
	}
	host, _ := os.Hostname()
	return "calldexctl:" + user + "@" + host
}

func auditCmd(a *app) *cobra.Command {
	var o tailOptions
	var tenant string
	var follow bool
	c := &cobra.Command{
		Use:   "audit [--tenant T] [--since 24h]",
		Short: "Administrative actions: who did what, when, and how it ended",
		Long: `Prints the AUDIT stream: every request to the admin API (whatever its outcome,
with the credential kind used, never its value) and every calldexctl command
that changes something (dlq redrive and purge, erase, events replay, import,
index rebuild and gc), with the user and host that ran it. --since 24h by default;
--follow waits for new ones.`,
		Example: `  calldexctl audit --tenant acme --since 168h
  calldexctl audit --json | jq 'select(.event.data.outcome != "ok")'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			filter := "audit.>"
			if tenant != "" {
				if err := events.ValidID(tenant); err != nil {
					return usagef("--tenant: %v", err)
				}
				filter = "audit." + tenant
			}
			o.noFollow = !follow
			return a.tail(cmd.Context(), filter, o)
		},
	}
	c.Flags().StringVar(&tenant, "tenant", "", "only this tenant's administration")
	c.Flags().StringVar(&o.since, "since", "24h", "start this long ago (168h, 10m) or at this RFC 3339 time")
	c.Flags().IntVar(&o.limit, "limit", 0, "stop after this many events")
	c.Flags().BoolVar(&follow, "follow", false, "wait for new actions once caught up")
	return c
}
