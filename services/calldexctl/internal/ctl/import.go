package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/contact"
	"github.com/calldex/calldex/shared/tenant"
)

// importBatch contacts are published with their acks in flight at once.
const importBatch = 1000

type importOptions struct {
	tenant     string
	source     string
	format     string
	maxReports int
}

// rejectedLine is a line of the file that was not imported, and why.
type rejectedLine struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// importReport is what an import did; the same shape as the admin API's.
type importReport struct {
	Tenant   string         `json:"tenant"`
	File     string         `json:"file"`
	Accepted int            `json:"accepted"`
	Rejected int            `json:"rejected"`
	Errors   []rejectedLine `json:"errors"`
	// Seq is the highest CONTACTS sequence written.
	Seq uint64 `json:"seq,omitempty"`
	// LastLine is the last line read.
	LastLine    int    `json:"lastLine"`
	Interrupted bool   `json:"interrupted,omitempty"`
	Error       string `json:"error,omitempty"`
}

func importCmd(a *app) *cobra.Command {
	var o importOptions
	c := &cobra.Command{
		Use:   "import FILE --tenant T",
		Short: "Import contacts from CSV or NDJSON into CONTACTS, reporting rejected lines by number",
		Long: `Reads contacts from FILE (NDJSON, one contact per line, or CSV with the header
id,name,company,phones,emails,contactUri,companyUri,crmName,type,createdAt and phones
separated by ";"; the format follows the extension, or --format) and
publishes every valid one to CONTACTS, waiting for JetStream to acknowledge
each batch. The projector indexes them. Invalid lines are reported by number
and skipped. Importing the same file again is harmless (upserts), which is
also how to finish an import that was interrupted.`,
		Example: `  calldexctl import contacts.csv --tenant acme
  calldexctl import export.ndjson --tenant acme --source hubspot --json | jq .errors`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.importFile(cmd.Context(), args[0], o)
		},
	}
	c.Flags().StringVar(&o.tenant, "tenant", "", "tenant the contacts belong to")
	c.Flags().StringVar(&o.source, "source", "admin", "source of contacts that name none (a contact is identified by tenant, source and id)")
	c.Flags().StringVar(&o.format, "format", "", "csv or ndjson (default: from the file name)")
	c.Flags().IntVar(&o.maxReports, "max-errors", 1000, "report at most this many rejected lines (all are counted)")
	_ = c.MarkFlagRequired("tenant")
	return c
}

// countingReader counts the bytes read, for the progress bar.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (a *app) importFile(ctx context.Context, path string, o importOptions) error {
	if err := events.ValidID(o.tenant); err != nil {
		return usagef("--tenant: %v", err)
	}
	if err := events.ValidID(o.source); err != nil {
		return usagef("--source: %v", err)
	}
	format := contact.FormatOf(path)
	switch o.format {
	case "":
	case "csv":
		format = contact.CSV
	case "ndjson", "json":
		format = contact.NDJSON
	default:
		return usagef("--format %q: csv or ndjson", o.format)
	}
	if err := a.knownTenant(ctx, o.tenant); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var size int64
	if st, err := f.Stat(); err == nil {
		size = st.Size()
	}
	js, err := a.jetstream()
	if err != nil {
		return err
	}
	pub := contact.NewPublisher(js, a.topo())
	in := &countingReader{r: f}
	bar := a.progress("import "+o.tenant, "bytes")
	rep := importReport{Tenant: o.tenant, File: path, Errors: []rejectedLine{}}
	batch := make([]events.Contact, 0, importBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		pctx, cancel := context.WithTimeout(ctx, max(a.opts.timeout, 30*time.Second))
		defer cancel()
		seq, err := pub.UpsertMany(pctx, o.tenant, batch)
		if err != nil {
			return err
		}
		rep.Accepted += len(batch)
		rep.Seq = max(rep.Seq, seq)
		batch = batch[:0]
		return nil
	}
	var publishErr error
	storedThrough := 0 // every line up to it is stored or reported
	err = contact.Read(in, format, o.source, func(r contact.Record) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		bar.Update(in.n.Load(), size)
		if r.Err != nil {
			rep.Rejected++
			if len(rep.Errors) < o.maxReports {
				rep.Errors = append(rep.Errors, rejectedLine{Line: r.Line, Reason: r.Err.Error()})
			}
		} else {
			batch = append(batch, r.Contact)
		}
		rep.LastLine = r.Line
		if len(batch) == importBatch {
			if publishErr = flush(); publishErr != nil {
				return publishErr
			}
			storedThrough = r.Line
		}
		return nil
	})
	if err == nil {
		publishErr = flush()
		err = publishErr
		if err == nil {
			storedThrough = rep.LastLine
		}
	}
	bar.Update(in.n.Load(), size)
	bar.Finish()
	rep.LastLine = storedThrough
	switch {
	case err == nil:
	case ctx.Err() != nil:
		rep.Interrupted = true
	default:
		rep.Error = err.Error()
	}
	if a.opts.json {
		if perr := a.printJSON(rep); perr != nil {
			return perr
		}
	} else {
		a.printImport(rep)
	}
	switch {
	case rep.Interrupted:
		return errInterrupted
	case publishErr != nil:
		return fmt.Errorf("import stopped: NATS did not acknowledge: %w", publishErr)
	case err != nil:
		return err
	}
	return nil
}

// knownTenant refuses a tenant that neither the tenants bucket (the
// tenants in force) nor the tenants file has: the projector would skip its
// contacts. Without either to ask, any tenant is taken.
func (a *app) knownTenant(ctx context.Context, id string) error {
	var asked []string
	if a.opts.config != "" {
		cfg, err := a.config()
		if err != nil {
			return err
		}
		if hasTenant(cfg.Tenants, id) {
			return nil
		}
		asked = append(asked, a.opts.config)
	}
	js, err := a.jetstream()
	if err != nil {
		return err
	}
	rctx, cancel := a.reqCtx(ctx)
	defer cancel()
	kv, err := js.KeyValue(rctx, a.topo().Stream(events.BucketTenants))
	switch {
	case errors.Is(err, jetstream.ErrBucketNotFound):
	case err != nil:
		return fmt.Errorf("open the tenants bucket: %w", err)
	default:
		_, err := kv.Get(rctx, id)
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("read tenant %s: %w", id, err)
		}
		asked = append(asked, "the tenants bucket")
	}
	if len(asked) == 0 {
		return nil
	}
	return usagef("--tenant %s: no such tenant in %s (the projector would skip its contacts): add it first, with calldexctl tenants apply",
		id, strings.Join(asked, " nor in "))
}

func hasTenant(ts []tenant.Tenant, id string) bool {
	for _, t := range ts {
		if t.ID == id {
			return true
		}
	}
	return false
}

func (a *app) printImport(rep importReport) {
	a.printf("imported %s contact(s) into %s", count(int64(rep.Accepted)), rep.Tenant)
	if rep.Seq > 0 {
		a.printf(" (CONTACTS up to seq %d; the projector indexes them)", rep.Seq)
	}
	a.printf("\n")
	if rep.Rejected > 0 {
		a.printf("rejected %d line(s):\n", rep.Rejected)
		for _, e := range rep.Errors {
			a.printf("  line %d: %s\n", e.Line, e.Reason)
		}
		if len(rep.Errors) < rep.Rejected {
			a.printf("  … and %d more (--max-errors)\n", rep.Rejected-len(rep.Errors))
		}
	}
	switch {
	case rep.Interrupted:
		a.printf("interrupted: lines 1..%d are stored or reported; importing the whole file again is harmless\n", rep.LastLine)
	case rep.Error != "":
		a.printf("stopped: %s; lines 1..%d are stored or reported; importing the whole file again is harmless\n", rep.Error, rep.LastLine)
	}
}
