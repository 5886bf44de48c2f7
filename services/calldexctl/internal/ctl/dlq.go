package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/workflows/deadletter"
)

// HeaderRedriveOf is "<DLQ stream>:<seq>" on a redriven message.
const HeaderRedriveOf = deadletter.HeaderRedriveOf

// testHookRedrivePublished runs after a redrive's publish was acked and
// before its dead letter is deleted (tests stop NATS there).
var testHookRedrivePublished func(id uint64)

type (
	deadLetter    = deadletter.Letter
	redriveReport = deadletter.Report
)

// deadLetters opens the DLQ through the one implementation the admin API
// and the console use too.
func (a *app) deadLetters() (*deadletter.Store, error) {
	js, err := a.jetstream()
	if err != nil {
		return nil, err
	}
	return deadletter.New(js, a.topo(), deadletter.Config{Timeout: a.opts.timeout, AfterPublish: testHookRedrivePublished}), nil
}

// dlqOrigFilter is the original subject filter of --filter ("" for all).
func (a *app) dlqOrigFilter(filter string) string {
	if filter == "" {
		return ""
	}
	return a.subject(filter)
}

func dlqCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "dlq",
		Short: "Dead letters: list, show, redrive, purge",
		Long: `Dead letters are messages a consumer gave up on (a permanent error, or
transient ones for longer than it retries), stored in the DLQ stream unchanged
with headers naming the reason, the attempts and the original subject. The
ID of a dead letter is its sequence in the DLQ stream.`,
	}
	var lsFilter string
	var lsLimit int
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List dead letters with reason and attempts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			store, err := a.deadLetters()
			if err != nil {
				return err
			}
			letters, err := store.List(cmd.Context(), a.dlqOrigFilter(lsFilter), lsLimit)
			if err != nil {
				return err
			}
			if a.opts.json {
				return a.printJSON(map[string]any{"deadLetters": letters})
			}
			a.printDeadLetters(letters)
			return nil
		},
	}
	ls.Flags().StringVar(&lsFilter, "filter", "", "only dead letters from subjects matching this filter (workflows.acme.>)")
	ls.Flags().IntVar(&lsLimit, "limit", 0, "list at most this many")
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show one dead letter: headers, reason, attempts, decoded event, workflow status",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil {
				return usagef("ID %q: a dead letter's ID is its DLQ sequence (see dlq ls)", args[0])
			}
			return a.showDeadLetter(cmd.Context(), id)
		},
	}
	var rd redriveOptions
	redrive := &cobra.Command{
		Use:   "redrive (ID… | --all | --filter SUBJ)",
		Short: "Put dead letters back on their original subject, removing each only once the republish is acked",
		Long: `Publishes each dead letter again to its original subject (the same data and
headers, without the dead-letter ones, plus Calldex-Redrive-Of), waits for
the stream's acknowledgement, and only then deletes it from the DLQ. If NATS
fails in the middle, every dead letter is either still in the DLQ or
republished — never lost. A dead letter republished but not yet deleted is
republished again by the next redrive under the same message id, which the
stream discards as a duplicate for 10 minutes (and a workflow done meanwhile
is not run twice: its key is recorded).`,
		Example: `  calldexctl dlq redrive 17 18
  calldexctl dlq redrive --filter 'workflows.acme.>'
  calldexctl dlq redrive --all`,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, s := range args {
				id, err := strconv.ParseUint(s, 10, 64)
				if err != nil {
					return usagef("ID %q: a dead letter's ID is its DLQ sequence (see dlq ls)", s)
				}
				rd.ids = append(rd.ids, id)
			}
			if n := btoi(len(rd.ids) > 0) + btoi(rd.all) + btoi(rd.filter != ""); n != 1 {
				return usagef("name the dead letters: IDs, --all or --filter (one of them)")
			}
			return a.redrive(cmd.Context(), rd)
		},
	}
	redrive.Flags().BoolVar(&rd.all, "all", false, "every dead letter")
	redrive.Flags().StringVar(&rd.filter, "filter", "", "dead letters from subjects matching this filter")
	var pg purgeOptions
	purge := &cobra.Command{
		Use:   "purge [--filter SUBJ] --yes",
		Short: "Delete dead letters for good",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.purgeDLQ(cmd.Context(), pg)
		},
	}
	purge.Flags().StringVar(&pg.filter, "filter", "", "only dead letters from subjects matching this filter")
	purge.Flags().BoolVar(&pg.yes, "yes", false, "do not ask")
	c.AddCommand(ls, show, redrive, purge)
	return c
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// dlqStream opens the DLQ stream.
func (a *app) dlqStream(ctx context.Context) (jetstream.Stream, error) {
	js, err := a.jetstream()
	if err != nil {
		return nil, err
	}
	rctx, cancel := a.reqCtx(ctx)
	defer cancel()
	name := a.topo().Stream(events.StreamDLQ)
	s, err := js.Stream(rctx, name)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", name, err)
	}
	return s, nil
}

// dlqFilter is the DLQ subject filter of dead letters from filter.
func (a *app) dlqFilter(filter string) string {
	if filter == "" {
		return ""
	}
	return a.topo().DLQSubject(a.subject(filter))
}

func (a *app) printDeadLetters(letters []deadLetter) {
	if len(letters) == 0 {
		a.printf("no dead letters\n")
		return
	}
	w := a.table()
	fmt.Fprintln(w, "ID\tDEAD-LETTERED\tSUBJECT\tATTEMPTS\tREASON")
	for _, d := range letters {
		reason := d.Reason
		if len(reason) > 100 {
			reason = reason[:100] + "…"
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%d\t%s\n", d.ID, d.Time.Local().Format(time.DateTime), d.Subject, d.Attempts, reason)
	}
	w.Flush()
	a.printf("%d dead letter(s); calldexctl dlq show ID for one, dlq redrive to put them back\n", len(letters))
}

func (a *app) showDeadLetter(ctx context.Context, id uint64) error {
	store, err := a.deadLetters()
	if err != nil {
		return err
	}
	d, err := store.Get(ctx, id)
	if errors.Is(err, deadletter.ErrNotFound) {
		return fmt.Errorf("no dead letter %d (see dlq ls)", id)
	}
	if err != nil {
		return err
	}
	store.Detail(ctx, &d)
	if a.opts.json {
		return a.printJSON(d)
	}
	a.printf("dead letter %d, from %s (seq %d), dead-lettered %s after %d attempt(s)\n",
		d.ID, d.Subject, d.OriginalSeq, d.Time.Local().Format(time.RFC3339), d.Attempts)
	a.printf("reason: %s\n", d.Reason)
	if d.Key != "" {
		a.printf("workflow key %s, status now: %s\n", d.Key, d.Status)
	}
	a.printf("headers:\n")
	w := a.table()
	for k, v := range d.Headers {
		fmt.Fprintf(w, "  %s:\t%s\n", k, v)
	}
	w.Flush()
	a.printf("event:\n")
	var pretty any
	if json.Unmarshal(d.Event, &pretty) == nil {
		b, _ := json.MarshalIndent(pretty, "  ", "  ")
		a.printf("  %s\n", b)
	}
	return nil
}

type redriveOptions struct {
	ids    []uint64
	all    bool
	filter string
}

func (a *app) redrive(ctx context.Context, o redriveOptions) error {
	store, err := a.deadLetters()
	if err != nil {
		return err
	}
	var letters []deadLetter
	if len(o.ids) > 0 {
		for _, id := range o.ids {
			d, err := store.Get(ctx, id)
			if errors.Is(err, deadletter.ErrNotFound) {
				return fmt.Errorf("no dead letter %d (see dlq ls)", id)
			}
			if err != nil {
				return err
			}
			letters = append(letters, d)
		}
	} else if letters, err = store.List(ctx, a.dlqOrigFilter(o.filter), 0); err != nil {
		return err
	}
	bar := a.progress("redrive", "dead letters")
	rep := store.Redrive(ctx, letters, func(done, total int) { bar.Update(int64(done), int64(total)) })
	bar.Finish()
	if a.opts.json {
		if err := a.printJSON(rep); err != nil {
			return err
		}
	} else {
		a.printf("redriven %d of %d dead letter(s)\n", len(rep.Redriven), len(letters))
		if f := rep.Failed; f != nil {
			if f.Stage == deadletter.StagePublish {
				a.printf("stopped at dead letter %d: not republished (%s); it and the %d after it are still in the DLQ\n", f.ID, f.Error, rep.Left-1)
			} else {
				a.printf("stopped at dead letter %d: republished but not removed from the DLQ (%s); redrive it again: the stream drops the duplicate\n", f.ID, f.Error)
			}
		}
		if rep.Interrupted {
			a.printf("interrupted: %d dead letter(s) left in the DLQ, none lost\n", rep.Left)
		}
	}
	if rep.Interrupted {
		return errInterrupted
	}
	return rep.Err()
}

type purgeOptions struct {
	filter string
	yes    bool
}

func (a *app) purgeDLQ(ctx context.Context, o purgeOptions) error {
	s, err := a.dlqStream(ctx)
	if err != nil {
		return err
	}
	rctx, cancel := a.reqCtx(ctx)
	defer cancel()
	filter := a.dlqFilter(o.filter)
	n := s.CachedInfo().State.Msgs
	if filter != "" {
		info, err := s.Info(rctx, jetstream.WithSubjectFilter(filter))
		if err != nil {
			return err
		}
		n = 0
		for _, c := range info.State.Subjects {
			n += c
		}
	}
	if n == 0 {
		return a.purgeDone(0)
	}
	if !o.yes {
		if !a.io.Interactive {
			return usagef("refusing to purge %d dead letter(s) without --yes", n)
		}
		fmt.Fprintf(a.io.Stderr, "Delete %d dead letter(s) for good? [y/N] ", n)
		var answer string
		_, _ = fmt.Fscanln(a.io.Stdin, &answer)
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			return errors.New("not purged")
		}
	}
	var opts []jetstream.StreamPurgeOpt
	if filter != "" {
		opts = append(opts, jetstream.WithPurgeSubject(filter))
	}
	if err := s.Purge(rctx, opts...); err != nil {
		return fmt.Errorf("purge: %w", err)
	}
	return a.purgeDone(n)
}

func (a *app) purgeDone(n uint64) error {
	if a.opts.json {
		return a.printJSON(map[string]uint64{"purged": n})
	}
	a.printf("purged %d dead letter(s)\n", n)
	return nil
}
