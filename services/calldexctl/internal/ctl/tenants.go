package ctl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/shared/tenantstore"
)

// credentialKeyEnv names the credential lookup key, as the services read it.
const credentialKeyEnv = "CALLDEX_CREDENTIAL_KEY"

func tenantsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tenants",
		Short: "Tenant definitions in the tenants bucket: apply a file, list, get, delete",
		Long: `Tenant definitions live in the NATS KV bucket tenants; every replica applies a
change within a second. The configuration file is the bootstrap: its tenants are
imported once when the bucket lacks them, and from then on changes go through
'tenants apply' (GitOps) or the admin API.

Tokens are stored hashed under CALLDEX_CREDENTIAL_KEY (set it like the
services); connector secrets must be ${VAR} or ${file:/path} references.`,
	}
	cmd.AddCommand(tenantsApplyCmd(a), tenantsListCmd(a), tenantsGetCmd(a), tenantsDeleteCmd(a), tenantsHashCmd(a))
	return cmd
}

// tenantStore opens the tenants bucket.
func (a *app) tenantStore(ctx context.Context, owners tenantstore.CredentialOwners) (*tenantstore.Store, error) {
	js, err := a.jetstream()
	if err != nil {
		return nil, err
	}
	rctx, cancel := a.reqCtx(ctx)
	defer cancel()
	kv, err := js.KeyValue(rctx, a.topo().Stream(events.BucketTenants))
	if err != nil {
		return nil, fmt.Errorf("open the tenants bucket (does a calldex run against this NATS?): %w", err)
	}
	return tenantstore.New(kv, tenantstore.Config{LookupKey: a.credentialKey(), Getenv: a.lookupEnv, Owners: owners}), nil
}

func (a *app) credentialKey() []byte {
	v, _ := a.lookupEnv(credentialKeyEnv)
	return []byte(v)
}

func tenantsListCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the stored tenants",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.tenantStore(cmd.Context(), nil)
			if err != nil {
				return err
			}
			all, err := s.List(cmd.Context())
			if err != nil {
				return err
			}
			if a.opts.json {
				out := make([]map[string]any, len(all))
				for i, e := range all {
					out[i] = map[string]any{"id": e.Tenant.ID, "revision": e.Revision, "credentials": len(e.Tenant.Credentials), "connectors": len(e.Tenant.Connectors)}
				}
				return a.printJSON(out)
			}
			tw := a.table()
			fmt.Fprintln(tw, "TENANT\tREVISION\tCREDENTIALS\tCONNECTORS\tWORKFLOWS")
			for _, e := range all {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\n", e.Tenant.ID, e.Revision, len(e.Tenant.Credentials), len(e.Tenant.Connectors), len(e.Tenant.Workflows))
			}
			return tw.Flush()
		},
	}
}

func tenantsGetCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Show a stored tenant, secrets masked",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.tenantStore(cmd.Context(), nil)
			if err != nil {
				return err
			}
			e, err := s.Get(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if a.opts.json {
				return a.printJSON(map[string]any{"tenant": viewOf(e.Tenant), "revision": e.Revision})
			}
			a.printf("# revision %d\n%s", e.Revision, maskedYAML(e.Tenant))
			return nil
		},
	}
}

func tenantsDeleteCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID",
		Short: "Remove a tenant: every replica stops accepting its credentials",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.tenantStore(cmd.Context(), nil)
			if err != nil {
				return err
			}
			if err := s.Delete(cmd.Context(), args[0]); err != nil {
				return err
			}
			a.notef("tenant %s deleted\n", args[0])
			return nil
		},
	}
}

func tenantsHashCmd(a *app) *cobra.Command {
	var header, query string
	var admin bool
	cmd := &cobra.Command{
		Use:   "hash-token (--header NAME | --query NAME | --admin) < token",
		Short: "Print the stored form of a token read from stdin, for files kept in git",
		Long: `Reads a token from stdin (not from the command line, which shells keep) and
prints the form the tenants bucket stores: a credential value, or admin.token
with --admin. The lookup part depends on where the token is presented and on
CALLDEX_CREDENTIAL_KEY, which must be the services' one.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if n := len(slices.DeleteFunc([]bool{header != "", query != "", admin}, func(b bool) bool { return !b })); n != 1 {
				return usagef("give exactly one of --header, --query or --admin")
			}
			raw, err := io.ReadAll(io.LimitReader(a.io.Stdin, 4096))
			if err != nil {
				return err
			}
			token := strings.TrimSpace(string(raw))
			if len(token) < 8 {
				return usagef("a token has at least 8 characters")
			}
			if admin {
				a.printf("%s\n", tenant.HashToken(a.credentialKey(), token))
				return nil
			}
			a.printf("%s\n", tenant.HashCredential(a.credentialKey(), tenant.Credential{Header: header, Query: query, Value: token}).Value)
			return nil
		},
	}
	cmd.Flags().StringVar(&header, "header", "", "the token is sent in this header")
	cmd.Flags().StringVar(&query, "query", "", "the token is sent in this query parameter")
	cmd.Flags().BoolVar(&admin, "admin", false, "the token is the admin token")
	return cmd
}

func tenantsApplyCmd(a *app) *cobra.Command {
	var file string
	var dryRun, prune bool
	cmd := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Make the stored tenants what a file says; shows the difference first",
		Long: `Reads the tenants of FILE (a configuration file: its tenants list; admin is
ignored), checks each like the admin API does (every problem at once, nothing
written when there is one), shows what changes, and writes the tenants that
are new or differ. Tenants stored but absent from the file stay, unless
--prune. With --dry-run nothing is written.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.tenantsApply(cmd.Context(), file, dryRun, prune)
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "configuration file with a tenants list")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "show the difference, write nothing")
	cmd.Flags().BoolVar(&prune, "prune", false, "delete stored tenants the file does not list")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

// tenantChange is what apply does to one tenant.
type tenantChange struct {
	ID     string   `json:"id"`
	Action string   `json:"action"` // create, update, delete, unchanged
	Diff   []string `json:"diff,omitempty"`

	tenant tenant.Tenant
}

func (a *app) tenantsApply(ctx context.Context, file string, dryRun, prune bool) error {
	wanted, err := readTenantsFile(file)
	if err != nil {
		return err
	}
	probe, err := a.tenantStore(ctx, nil)
	if err != nil {
		return err
	}
	stored, err := probe.List(ctx)
	if err != nil {
		return err
	}
	byID := map[string]tenant.Tenant{}
	current := make([]*tenant.Tenant, 0, len(stored))
	for i := range stored {
		byID[stored[i].Tenant.ID] = stored[i].Tenant
		current = append(current, &stored[i].Tenant)
	}
	key := a.credentialKey()
	s, err := a.tenantStore(ctx, tenant.NewKeyedRegistry(key, current))
	if err != nil {
		return err
	}

	var changes []tenantChange
	var problems []string
	seen := map[string]bool{}
	for _, t := range wanted {
		seen[t.ID] = true
		old, exists := byID[t.ID]
		if exists {
			t = keepStoredHashes(key, a.lookupEnv, t, old)
		}
		if _, ps := s.Prepare(t); len(ps) > 0 {
			for _, p := range ps {
				problems = append(problems, fmt.Sprintf("tenant %s: %s: %s", t.ID, p.Path, p.Message))
			}
			continue
		}
		ch := tenantChange{ID: t.ID, Action: "create", tenant: t}
		if exists {
			ch.Action = "update"
			ch.Diff = lineDiff(maskedYAML(old), maskedYAML(t))
			if len(ch.Diff) == 0 {
				ch.Action = "unchanged"
			}
		} else {
			ch.Diff = lineDiff("", maskedYAML(t))
		}
		changes = append(changes, ch)
	}
	if len(problems) > 0 {
		for _, p := range problems {
			a.notef("%s\n", p)
		}
		a.notef("%d problems; nothing written\n", len(problems))
		return errProblems
	}
	if prune {
		for _, e := range stored {
			if !seen[e.Tenant.ID] {
				changes = append(changes, tenantChange{ID: e.Tenant.ID, Action: "delete", Diff: lineDiff(maskedYAML(e.Tenant), "")})
			}
		}
	}
	a.showChanges(changes, dryRun)
	if dryRun {
		return nil
	}
	for _, ch := range changes {
		var err error
		switch ch.Action {
		case "create", "update":
			_, err = s.Put(ctx, ch.tenant)
		case "delete":
			err = s.Delete(ctx, ch.ID)
		}
		if err != nil {
			return fmt.Errorf("apply stopped at tenant %s (the ones before it are written): %w", ch.ID, err)
		}
	}
	return nil
}

func (a *app) showChanges(changes []tenantChange, dryRun bool) {
	counts := map[string]int{}
	for _, ch := range changes {
		counts[ch.Action]++
	}
	if a.opts.json {
		_ = a.printJSON(map[string]any{"dryRun": dryRun, "changes": changes, "counts": counts})
		return
	}
	for _, ch := range changes {
		if ch.Action == "unchanged" {
			continue
		}
		a.printf("%s tenant %s\n", ch.Action, ch.ID)
		for _, l := range ch.Diff {
			a.printf("  %s\n", l)
		}
	}
	verb := "applied"
	if dryRun {
		verb = "dry run, nothing written"
	}
	a.printf("%d to create, %d to update, %d to delete, %d unchanged (%s)\n",
		counts["create"], counts["update"], counts["delete"], counts["unchanged"], verb)
}

// readTenantsFile reads the tenants of a configuration file, keeping
// ${VAR} references as they are (the store resolves those of credentials;
// connector ones stay references).
func readTenantsFile(path string) ([]tenant.Tenant, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, usagef("read %s: %w", path, err)
	}
	var doc struct {
		Admin   yaml.Node   `yaml:"admin"`
		Tenants []yaml.Node `yaml:"tenants"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []tenant.Tenant
	var errs []error
	for i, n := range doc.Tenants {
		b, err := yaml.Marshal(&n)
		if err != nil {
			return nil, err
		}
		t, ps := tenant.DecodeTenant(b)
		for _, p := range ps {
			errs = append(errs, fmt.Errorf("%s line %d: tenants[%d]: %s", path, n.Line+max(p.Line-1, 0), i, p.Message))
		}
		out = append(out, t)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no tenants", path)
	}
	return out, nil
}

// keepStoredHashes gives t the stored hash of each credential the file
// has unchanged, so that an unchanged token shows no difference and is
// not hashed again.
func keepStoredHashes(key []byte, getenv func(string) (string, bool), t, stored tenant.Tenant) tenant.Tenant {
	creds := slices.Clone(t.Credentials)
	for i, c := range creds {
		for _, sc := range stored.Credentials {
			if resolved, err := tenant.ExpandRefs(c.Value, getenv); err == nil &&
				tenant.SameCredential(key, tenant.Credential{Header: c.Header, Query: c.Query, Value: resolved}, sc) {
				creds[i] = sc
			}
		}
	}
	t.Credentials = creds
	return t
}

func viewOf(t tenant.Tenant) map[string]any {
	var out map[string]any
	_ = yaml.Unmarshal([]byte(maskedYAML(t)), &out)
	return out
}

// maskedYAML renders a tenant as stored, secrets masked; a credential that
// is not yet hashed shows as a new one.
func maskedYAML(t tenant.Tenant) string {
	m := tenantstore.Mask(t)
	for i, c := range t.Credentials {
		if !tenant.IsHashed(c.Value) {
			m.Credentials[i].Value = tenantstore.Masked + " (new)"
		}
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	_ = enc.Encode(&m)
	return b.String()
}

// lineDiff is a line diff of two texts ("-" removed, "+" added), nil when
// equal.
func lineDiff(a, b string) []string {
	if a == b {
		return nil
	}
	x, y := splitLines(a), splitLines(b)
	// Longest common subsequence; tenant documents are small.
	l := make([][]int, len(x)+1)
	for i := range l {
		l[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				l[i][j] = l[i+1][j+1] + 1
			} else {
				l[i][j] = max(l[i+1][j], l[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			i, j = i+1, j+1
		case j < len(y) && (i == len(x) || l[i][j+1] >= l[i+1][j]):
			out = append(out, "+ "+y[j])
			j++
		default:
			out = append(out, "- "+x[i])
			i++
		}
	}
	return out
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimRight(s, "\n"), "\n")
}
