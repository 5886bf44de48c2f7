package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/calldex/calldex/shared/risk"
)

type riskTopOptions struct {
	limit      int
	tenant     string
	server     string
	adminToken string
}

// riskScan is how many of the busiest numbers risk top scores.
const riskScan = 5000

func riskCmd(a *app) *cobra.Command {
	c := &cobra.Command{Use: "risk", Short: "Caller risk: the numbers calling suspiciously across tenants"}
	var o riskTopOptions
	top := &cobra.Command{
		Use:   "top",
		Short: "List the riskiest callers of the last hour",
		Long: `Scores the busiest numbers of the last hour (counts across every tenant: distinct
tenants called, calls, finished, answered, short and after-hours calls) and
their static facts (premium rate, shared cost, VoIP, invalid), and lists those
with a signal, highest score first, with the reasons. Thresholds are the
defaults, or those of --tenant (from the tenants configuration, or the
server's with --server).

Against Redis (REDIS_URL), or, when calldex keeps the counts in process (the
embedded default), through its admin API with --server and --admin-token.`,
		Example: `  calldexctl risk top
  calldexctl risk top --limit 50 --server http://127.0.0.1:8080 --admin-token demo-admin-token`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.limit < 1 || o.limit > 1000 {
				return usagef("--limit %d: between 1 and 1000", o.limit)
			}
			var ranked []risk.Ranked
			var err error
			if o.server != "" {
				ranked, err = a.riskTopAPI(cmd.Context(), o)
			} else {
				ranked, err = a.riskTopRedis(cmd.Context(), o)
			}
			if err != nil {
				return err
			}
			if a.opts.json {
				return a.printJSON(ranked)
			}
			a.printRiskTop(ranked)
			return nil
		},
	}
	top.Flags().IntVar(&o.limit, "limit", 20, "how many numbers to list")
	top.Flags().StringVar(&o.tenant, "tenant", "", "score with this tenant's thresholds")
	top.Flags().StringVar(&o.server, "server", "", "ask this calldex's admin API instead of Redis")
	top.Flags().StringVar(&o.adminToken, "admin-token", "", "admin API token (env CALLDEX_ADMIN_TOKEN)")
	c.AddCommand(top)
	return c
}

func (a *app) riskTopRedis(ctx context.Context, o riskTopOptions) ([]risk.Ranked, error) {
	var th risk.Thresholds
	if o.tenant != "" {
		cfg, err := a.config()
		if err != nil {
			return nil, err
		}
		ts, err := selectTenants(cfg, []string{o.tenant})
		if err != nil {
			return nil, err
		}
		th = ts[0].Risk.Thresholds
	}
	rdb, err := a.redis(ctx)
	if err != nil {
		return nil, err
	}
	store, err := risk.NewRedis(rdb, a.opts.redisPrefix, risk.Window{})
	if err != nil {
		return nil, err
	}
	rctx, cancel := a.reqCtx(ctx)
	defer cancel()
	return risk.Riskiest(rctx, store, riskScan, o.limit, th)
}

func (a *app) riskTopAPI(ctx context.Context, o riskTopOptions) ([]risk.Ranked, error) {
	q := url.Values{"limit": {strconv.Itoa(o.limit)}}
	if o.tenant != "" {
		q.Set("tenant", o.tenant)
	}
	body, err := a.adminAPI(ctx, o.server, o.adminToken, http.MethodGet, "/admin/v1/risk?"+q.Encode())
	if err != nil {
		return nil, err
	}
	var ans struct {
		Numbers []risk.Ranked `json:"numbers"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return nil, fmt.Errorf("calldex at %s: unexpected answer: %w", o.server, err)
	}
	return ans.Numbers, nil
}

func (a *app) printRiskTop(ranked []risk.Ranked) {
	if len(ranked) == 0 {
		a.printf("no caller with a risk signal in the last hour\n")
		return
	}
	w := a.table()
	fmt.Fprintln(w, "NUMBER\tSCORE\tHIGH\tTENANTS\tCALLS\tFINISHED\tANSWERED\tSHORT\tAFTER HOURS\tREASONS")
	for _, r := range ranked {
		high := ""
		if r.High {
			high = "yes"
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", r.Number, r.Score, high, r.Tenants, r.Calls, r.Finished,
			r.Answered, r.Short, r.AfterHours, strings.Join(r.Reasons.Codes(), ","))
	}
	w.Flush()
}
