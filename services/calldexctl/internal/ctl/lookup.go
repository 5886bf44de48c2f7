package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/services/internal/ingress"
	"github.com/calldex/calldex/shared/lookup"
	"github.com/calldex/calldex/shared/phone"
	"github.com/calldex/calldex/shared/projector"
)

type lookupOptions struct {
	tenant     string
	server     string
	adminToken string
}

// candidateKey is one key a lookup checks.
type candidateKey struct {
	Key  phone.Key `json:"key"`
	Kind string    `json:"kind"`
	// RedisKey and Contacts are known when explained against Redis.
	RedisKey string `json:"redisKey,omitempty"`
	Contacts *int64 `json:"contacts,omitempty"`
}

// explainedMatch is one contact found, in rank order.
type explainedMatch struct {
	Rank      int            `json:"rank"`
	Kind      string         `json:"kind"`
	UpdatedAt time.Time      `json:"updatedAt"`
	FoundBy   []phone.Key    `json:"foundBy,omitempty"`
	Contact   events.Contact `json:"contact"`
	// Merged are the same person's entries from other sources ("source/id"),
	// answered as this one (lookup.Result.Merged).
	Merged []string `json:"merged,omitempty"`
}

// mergedRefs names the contacts of lookup.Result.Merged[i] by source/id.
func mergedRefs(cs []events.Contact) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Source+"/"+c.ID)
	}
	return out
}

// lookupExplain is calldexctl lookup's answer.
type lookupExplain struct {
	Tenant     string           `json:"tenant"`
	Number     string           `json:"number"`
	Via        string           `json:"via"`
	Generation string           `json:"generation,omitempty"`
	Region     string           `json:"region,omitempty"`
	TailDigits int              `json:"tailDigits,omitempty"`
	MaxResults int              `json:"maxResults,omitempty"`
	Ranking    string           `json:"ranking,omitempty"`
	NotANumber string           `json:"notANumber,omitempty"`
	Candidates []candidateKey   `json:"candidates"`
	Matches    []explainedMatch `json:"matches"`
	// TookMicros is the lookup itself (one round trip), not the explaining.
	TookMicros int64 `json:"tookMicros"`
}

func lookupCmd(a *app) *cobra.Command {
	var o lookupOptions
	c := &cobra.Command{
		Use:   "lookup NUMBER --tenant T",
		Short: "Explain a lookup: candidates, keys checked, matches and their ranking, time",
		Long: `Looks NUMBER up as the tenant's phone system would, and explains it: the
candidate keys the number gives with the tenant's region and tail digits
(exact E.164 keys first, then digits, then tail keys), the Redis key each
one reads and how many contacts it finds, the contacts found in rank order
(exact before tail, then the most recently updated) with the keys that found
them, and how long the lookup took.

Against Redis (REDIS_URL and the tenants configuration), or, when the index
lives inside a running calldex (the embedded default), through its admin
API with --server http://127.0.0.1:8080 and --admin-token.`,
		Example: `  calldexctl lookup 0215522000 --tenant acme
  calldexctl lookup '+41 44 668 18 00' --tenant demo --server http://127.0.0.1:8080 --admin-token demo-admin-token`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var ex lookupExplain
			var err error
			if o.server != "" {
				ex, err = a.lookupAPI(cmd.Context(), args[0], o)
			} else {
				ex, err = a.lookupRedis(cmd.Context(), args[0], o)
			}
			if err != nil {
				return err
			}
			if a.opts.json {
				return a.printJSON(ex)
			}
			a.printLookup(ex)
			return nil
		},
	}
	c.Flags().StringVar(&o.tenant, "tenant", "", "tenant whose index to look in")
	c.Flags().StringVar(&o.server, "server", "", "explain through this calldex's admin API instead of Redis")
	c.Flags().StringVar(&o.adminToken, "admin-token", "", "admin API token (env CALLDEX_ADMIN_TOKEN)")
	_ = c.MarkFlagRequired("tenant")
	return c
}

func (a *app) lookupRedis(ctx context.Context, number string, o lookupOptions) (lookupExplain, error) {
	cfg, err := a.config()
	if err != nil {
		return lookupExplain{}, err
	}
	ts, err := selectTenants(cfg, []string{o.tenant})
	if err != nil {
		return lookupExplain{}, err
	}
	t := ts[0]
	ix, err := a.index(ctx)
	if err != nil {
		return lookupExplain{}, err
	}
	opts := t.PhoneOptions()
	ex := lookupExplain{Tenant: t.ID, Number: number, Via: "redis " + a.opts.redisURL, Region: opts.Region,
		TailDigits: opts.TailDigits, MaxResults: t.MaxResults, Ranking: string(t.ContactRanking), Candidates: []candidateKey{}, Matches: []explainedMatch{}}
	keys, err := phone.Candidates(number, opts)
	if errors.Is(err, phone.ErrNotANumber) {
		ex.NotANumber = err.Error()
		return ex, nil
	}
	if err != nil {
		return ex, err
	}
	gen, reports, err := ix.Explain(ctx, t.ID, keys)
	if err != nil {
		return ex, err
	}
	ex.Generation = genName(gen)
	for _, r := range reports {
		n := r.Contacts
		ex.Candidates = append(ex.Candidates, candidateKey{Key: r.Key, Kind: r.Kind, RedisKey: r.RedisKey, Contacts: &n})
	}
	// The lookup the dialects make: the tenant's ranking, each person once.
	res, err := lookup.New(ix).Lookup(ctx, t, number)
	ex.TookMicros = res.Took.Microseconds()
	if err != nil {
		return ex, err
	}
	for i, m := range res.Matches {
		own := projector.Entry(m.Contact, opts).Keys
		var by []phone.Key
		for _, k := range keys {
			if slices.Contains(own, k) {
				by = append(by, k)
			}
		}
		ex.Matches = append(ex.Matches, explainedMatch{Rank: i + 1, Kind: m.Kind.String(), UpdatedAt: m.Contact.UpdatedAt, FoundBy: by, Contact: m.Contact,
			Merged: mergedRefs(res.MergedInto(i))})
	}
	return ex, nil
}

func (a *app) lookupAPI(ctx context.Context, number string, o lookupOptions) (lookupExplain, error) {
	body, err := a.adminAPI(ctx, o.server, o.adminToken, http.MethodGet,
		"/admin/v1/tenants/"+url.PathEscape(o.tenant)+"/lookup?number="+url.QueryEscape(number))
	if err != nil {
		return lookupExplain{}, err
	}
	var ans ingress.Explanation
	if err := json.Unmarshal(body, &ans); err != nil {
		return lookupExplain{}, fmt.Errorf("calldex at %s: unexpected answer: %w", o.server, err)
	}
	ex := lookupExplain{Tenant: o.tenant, Number: number, Via: o.server, NotANumber: ans.NotANumber,
		Candidates: []candidateKey{}, Matches: []explainedMatch{}, TookMicros: ans.TookMicros}
	for _, k := range ans.Candidates {
		ex.Candidates = append(ex.Candidates, candidateKey{Key: k, Kind: k.Kind().String()})
	}
	for i, m := range ans.Matches {
		var by []phone.Key
		for _, p := range m.Contact.Phones {
			for _, k := range ans.Candidates {
				if p.Normalized != "" && string(k) == "e:"+p.Normalized {
					by = append(by, k)
				}
			}
		}
		ex.Matches = append(ex.Matches, explainedMatch{Rank: i + 1, Kind: m.Kind, UpdatedAt: m.Contact.UpdatedAt, FoundBy: by, Contact: m.Contact,
			Merged: mergedRefs(m.Merged)})
	}
	return ex, nil
}

func (a *app) printLookup(ex lookupExplain) {
	a.printf("lookup %q for tenant %s via %s", ex.Number, ex.Tenant, ex.Via)
	if ex.Generation != "" {
		a.printf(" (generation %s)", ex.Generation)
	}
	a.printf("\n")
	if ex.Region != "" {
		a.printf("phone conventions: region %s, tail %d digits, at most %d result(s)\n", ex.Region, ex.TailDigits, ex.MaxResults)
	}
	if ex.NotANumber != "" {
		a.printf("not a phone number (%s): a miss, no key checked\n", ex.NotANumber)
		return
	}
	a.printf("\ncandidate keys, checked in one round trip:\n")
	w := a.table()
	if ex.Generation != "" {
		fmt.Fprintln(w, "  KEY\tKIND\tCONTACTS\tREDIS KEY")
	} else {
		fmt.Fprintln(w, "  KEY\tKIND")
	}
	for _, c := range ex.Candidates {
		if c.Contacts != nil {
			fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", c.Key, c.Kind, count(*c.Contacts), c.RedisKey)
		} else {
			fmt.Fprintf(w, "  %s\t%s\n", c.Key, c.Kind)
		}
	}
	w.Flush()
	if len(ex.Matches) == 0 {
		a.printf("\nno match (%dµs)\n", ex.TookMicros)
		return
	}
	ranking := "the tenant's contactRanking"
	if ex.Ranking != "" {
		ranking = ex.Ranking
	}
	a.printf("\nmatches, ranked exact before tail, then %s, each person once (%dµs):\n", ranking, ex.TookMicros)
	w = a.table()
	fmt.Fprintln(w, "  #\tKIND\tCONTACT\tNAME\tCOMPANY\tUPDATED\tFOUND BY\tSAME PERSON")
	for _, m := range ex.Matches {
		var by []string
		for _, k := range m.FoundBy {
			by = append(by, string(k))
		}
		fmt.Fprintf(w, "  %d\t%s\t%s/%s\t%s\t%s\t%s\t%s\t%s\n", m.Rank, m.Kind, m.Contact.Source, m.Contact.ID, m.Contact.Name,
			m.Contact.Company, m.UpdatedAt.Local().Format(time.DateTime), strings.Join(by, " "), strings.Join(m.Merged, " "))
	}
	w.Flush()
}

// adminAPI calls a running calldex's admin API (token: --admin-token, else
// CALLDEX_ADMIN_TOKEN) and returns the body of its 200 answer.
func (a *app) adminAPI(ctx context.Context, server, token, method, path string) ([]byte, error) {
	if token == "" {
		token, _ = a.lookupEnv("CALLDEX_ADMIN_TOKEN")
	}
	if token == "" {
		return nil, usagef("--server needs the admin token: --admin-token or CALLDEX_ADMIN_TOKEN")
	}
	rctx, cancel := a.reqCtx(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, method, strings.TrimSuffix(server, "/")+path, nil)
	if err != nil {
		return nil, usagef("--server %q: %v", server, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("calldex at %s: %w", server, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("calldex at %s answered %s: %s", server, resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}
