package ctl

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/calldex/calldex/services/internal/tenantcheck"
	"github.com/calldex/calldex/shared/tenant"
)

func configCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "config",
		Short: "Tenants configuration",
	}
	var ignoreEnv bool
	check := &cobra.Command{
		Use:   "check FILE",
		Short: "List every problem of a tenants configuration at once, with line numbers",
		Long: `Reads FILE as calldex does and lists every problem at once, each with its line
and the field it is about: environment variables that are not set, unknown
fields and wrong types, every rule a tenant breaks, every connector's options
(read by the connector's own parser, without connecting to it), workflow
actions the connector cannot run, fallback sources that cannot search by
phone, and the App Connect options: what calldex checks when it starts, so
that a file passing here is one it accepts. Exits 1 when there
is any problem. --ignore-missing-env checks a file on a machine without its
secrets (each missing variable is then a placeholder value).`,
		Example: `  calldexctl config check deploy/demo/calldex.yaml
  calldexctl config check prod.yaml --ignore-missing-env --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			raw, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			all := tenantcheck.Check(raw, a.lookupEnv)
			problems := []tenant.Problem{}
			for _, p := range all {
				if ignoreEnv && p.Kind == tenant.KindEnv {
					continue
				}
				problems = append(problems, p)
			}
			if a.opts.json {
				if err := a.printJSON(map[string]any{"file": args[0], "ok": len(problems) == 0, "problems": problems}); err != nil {
					return err
				}
			} else if len(problems) == 0 {
				a.printf("%s: ok\n", args[0])
			} else {
				for _, p := range problems {
					where := p.Path
					if where != "" {
						where += ": "
					}
					a.printf("%s:%d: %s%s\n", args[0], p.Line, where, p.Message)
				}
				a.printf("%d problem(s)\n", len(problems))
			}
			if len(problems) > 0 {
				return fmt.Errorf("%w in %s", errProblems, args[0])
			}
			return nil
		},
	}
	check.Flags().BoolVar(&ignoreEnv, "ignore-missing-env", false, "do not report environment variables that are not set")
	c.AddCommand(check)
	return c
}
