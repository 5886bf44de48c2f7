package ctl

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"github.com/spf13/cobra"
)

// eraseReport is the admin API's answer to an erasure.
type eraseReport struct {
	Tenant   string         `json:"tenant"`
	Contacts []string       `json:"contacts"`
	Removed  map[string]int `json:"removed"`
	Indexed  bool           `json:"indexed"`
}

func eraseCmd(a *app) *cobra.Command {
	var tenant, server, token string
	c := &cobra.Command{
		Use:   "erase NUMBER --tenant T --server URL",
		Short: "Erase a phone number from every store (a data subject's request)",
		Long: `Erases NUMBER (E.164, or any form the tenant's region reads) through a running
calldex's admin API (DELETE /admin/v1/tenants/{tenant}/numbers/{number}): the
contacts holding it are published again without it (a rebuild does not bring
it back), and the call events, workflow requests, dead letters, workflow
results and App Connect call logs that hold it are deleted. Prints what was
removed, by store. Running it again is harmless.

A redacted contact keeps the CRM's modification time, so the CRM sync does
not bring the number back unless the CRM changes the contact again, or a
full resync rereads it: erase the number in the CRM too.`,
		Example: `  calldexctl erase +41215522000 --tenant acme --server http://127.0.0.1:8080 --admin-token demo-admin-token`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, err := a.adminAPI(cmd.Context(), server, token, http.MethodDelete,
				"/admin/v1/tenants/"+url.PathEscape(tenant)+"/numbers/"+url.PathEscape(args[0]))
			if err != nil {
				return err
			}
			var rep eraseReport
			if err := json.Unmarshal(body, &rep); err != nil {
				return fmt.Errorf("calldex at %s: unexpected answer: %w", server, err)
			}
			if a.opts.json {
				return a.printJSON(rep)
			}
			w := a.table()
			fmt.Fprintln(w, "STORE\tREMOVED")
			stores := make([]string, 0, len(rep.Removed))
			for s := range rep.Removed {
				stores = append(stores, s)
			}
			slices.Sort(stores)
			for _, s := range stores {
				fmt.Fprintf(w, "%s\t%d\n", s, rep.Removed[s])
			}
			w.Flush()
			for _, c := range rep.Contacts {
				a.printf("contact %s published again without the number\n", c)
			}
			if !rep.Indexed {
				a.printf("the index had not yet applied the redacted contacts; it will\n")
			}
			return nil
		},
	}
	c.Flags().StringVar(&tenant, "tenant", "", "tenant the number belongs to")
	c.Flags().StringVar(&server, "server", "", "the calldex whose admin API erases it")
	c.Flags().StringVar(&token, "admin-token", "", "admin API token (env CALLDEX_ADMIN_TOKEN)")
	_ = c.MarkFlagRequired("tenant")
	_ = c.MarkFlagRequired("server")
	return c
}
