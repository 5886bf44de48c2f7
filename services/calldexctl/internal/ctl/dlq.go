package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/workflows/worker"
)

// HeaderRedriveOf is "<DLQ stream>:<seq>" on a redriven message.
const HeaderRedriveOf = "Calldex-Redrive-Of"

// testHookRedrivePublished runs after a redrive's publish was acked and
// before its dead letter is deleted (tests stop NATS there).
var testHookRedrivePublished func(id uint64)

// deadLetter is one message of the DLQ stream.
type deadLetter struct {
	// ID is its sequence in the DLQ stream.
	ID uint64 `json:"id"`
	// Time is when it was dead-lettered.
	Time time.Time `json:"time"`
	// Subject is where it came from and where redrive puts it back.
	Subject  string `json:"subject"`
	Reason   string `json:"reason"`
	Attempts int    `json:"attempts"`
	// OriginalSeq is its sequence in its original stream.
	OriginalSeq uint64 `json:"originalSeq,omitempty"`
	Type        string `json:"type,omitempty"`
	Tenant      string `json:"tenant,omitempty"`
	// Key is the idempotency key of a workflow request.
	Key string `json:"key,omitempty"`
	// Shown by dlq show only:
	Headers map[string]string `json:"headers,omitempty"`
	Event   json.RawMessage   `json:"event,omitempty"`
	Status  string            `json:"status,omitempty"`

	subject string // in the DLQ stream
	data    []byte
	header  nats.Header
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
			letters, err := a.deadLetters(cmd.Context(), lsFilter, lsLimit)
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

// decodeDeadLetter reads what a dead letter says about itself.
func (a *app) decodeDeadLetter(id uint64, subject string, stored time.Time, h nats.Header, data []byte) deadLetter {
	d := deadLetter{ID: id, Time: stored.UTC(), subject: subject, data: data, header: h,
		Subject: h.Get(worker.HeaderDLQSubject), Reason: h.Get(worker.HeaderDLQReason)}
	if d.Subject == "" {
		d.Subject = strings.TrimPrefix(subject, a.topo().DLQSubject(""))
	}
	d.Attempts, _ = strconv.Atoi(h.Get(worker.HeaderDLQAttempts))
	d.OriginalSeq, _ = strconv.ParseUint(h.Get(worker.HeaderDLQSeq), 10, 64)
	if t, err := time.Parse(time.RFC3339Nano, h.Get(worker.HeaderDLQTime)); err == nil {
		d.Time = t.UTC()
	}
	if env, err := events.Decode(data); err == nil {
		d.Type, d.Tenant = env.Type, env.Tenant
		var req events.WorkflowRequested
		if env.Type == events.TypeWorkflowRequested && env.Payload(&req) == nil {
			d.Key = req.Key
		}
	}
	return d
}

// deadLetters reads the DLQ in order (from subjects matching filter; at
// most limit when limit > 0).
func (a *app) deadLetters(ctx context.Context, filter string, limit int) ([]deadLetter, error) {
	s, err := a.dlqStream(ctx)
	if err != nil {
		return nil, err
	}
	out := []deadLetter{}
	if s.CachedInfo().State.Msgs == 0 {
		return out, nil
	}
	r, err := newReader(ctx, s, jetstream.OrderedConsumerConfig{
		FilterSubjects: filterFor(s.CachedInfo().Config.Subjects, a.dlqFilter(filter)),
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, err
	}
	err = r.each(ctx, func(msg jetstream.Msg, md *jetstream.MsgMetadata) (bool, error) {
		out = append(out, a.decodeDeadLetter(md.Sequence.Stream, msg.Subject(), md.Timestamp, msg.Headers(), msg.Data()))
		return limit <= 0 || len(out) < limit, nil
	})
	return out, err
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

// getDeadLetter reads one dead letter by ID.
func (a *app) getDeadLetter(ctx context.Context, s jetstream.Stream, id uint64) (deadLetter, error) {
	rctx, cancel := a.reqCtx(ctx)
	defer cancel()
	m, err := s.GetMsg(rctx, id)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return deadLetter{}, fmt.Errorf("no dead letter %d (see dlq ls)", id)
	}
	if err != nil {
		return deadLetter{}, fmt.Errorf("dead letter %d: %w", id, err)
	}
	return a.decodeDeadLetter(m.Sequence, m.Subject, m.Time, m.Header, m.Data), nil
}

func (a *app) showDeadLetter(ctx context.Context, id uint64) error {
	s, err := a.dlqStream(ctx)
	if err != nil {
		return err
	}
	d, err := a.getDeadLetter(ctx, s, id)
	if err != nil {
		return err
	}
	d.Headers = map[string]string{}
	for k := range d.header {
		d.Headers[k] = d.header.Get(k)
	}
	if json.Valid(d.data) {
		d.Event = d.data
	} else {
		b, _ := json.Marshal(printable(d.data))
		d.Event = b
	}
	if d.Key != "" {
		d.Status = a.workflowStatus(ctx, d.Key)
	}
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

// workflowStatus reads a key's status in workflow_results ("unknown" when
// it cannot be read, "none" when there is no record).
func (a *app) workflowStatus(ctx context.Context, key string) string {
	js, err := a.jetstream()
	if err != nil {
		return "unknown"
	}
	rctx, cancel := a.reqCtx(ctx)
	defer cancel()
	kv, err := js.KeyValue(rctx, a.topo().Stream(events.BucketWorkflowResults))
	if err != nil {
		return "unknown"
	}
	e, err := kv.Get(rctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "none"
	}
	if err != nil {
		return "unknown"
	}
	var r events.WorkflowResult
	if json.Unmarshal(e.Value(), &r) != nil {
		return "unreadable"
	}
	return r.Status
}

type redriveOptions struct {
	ids    []uint64
	all    bool
	filter string
}

// redriven is one dead letter put back.
type redriven struct {
	ID      uint64 `json:"id"`
	Subject string `json:"subject"`
	// Seq is its new sequence in its original stream.
	Seq uint64 `json:"seq"`
}

type redriveReport struct {
	Redriven []redriven `json:"redriven"`
	// Failed is the dead letter the redrive stopped at, if any.
	Failed *redriveFailure `json:"failed,omitempty"`
	// Left is how many selected dead letters are still in the DLQ.
	Left        int  `json:"left"`
	Interrupted bool `json:"interrupted,omitempty"`
}

type redriveFailure struct {
	ID uint64 `json:"id"`
	// Stage is "publish" (not republished, still in the DLQ) or "delete"
	// (republished, still in the DLQ: a redrive again is harmless).
	Stage string `json:"stage"`
	Error string `json:"error"`
}

func (a *app) redrive(ctx context.Context, o redriveOptions) error {
	s, err := a.dlqStream(ctx)
	if err != nil {
		return err
	}
	var letters []deadLetter
	if len(o.ids) > 0 {
		for _, id := range o.ids {
			d, err := a.getDeadLetter(ctx, s, id)
			if err != nil {
				return err
			}
			letters = append(letters, d)
		}
	} else if letters, err = a.deadLetters(ctx, o.filter, 0); err != nil {
		return err
	}
	rep := redriveReport{Redriven: []redriven{}}
	bar := a.progress("redrive", "dead letters")
	streams := map[string]string{}
	for i, d := range letters {
		if err := ctx.Err(); err != nil {
			rep.Interrupted = true
			break
		}
		seq, stage, err := a.redriveOne(ctx, s, d, streams)
		if err != nil {
			if ctx.Err() != nil && stage == "publish" {
				rep.Interrupted = true
			} else {
				rep.Failed = &redriveFailure{ID: d.ID, Stage: stage, Error: err.Error()}
			}
			break
		}
		rep.Redriven = append(rep.Redriven, redriven{ID: d.ID, Subject: d.Subject, Seq: seq})
		bar.Update(int64(i+1), int64(len(letters)))
	}
	bar.Finish()
	rep.Left = len(letters) - len(rep.Redriven)
	if a.opts.json {
		if err := a.printJSON(rep); err != nil {
			return err
		}
	} else {
		a.printf("redriven %d of %d dead letter(s)\n", len(rep.Redriven), len(letters))
		if f := rep.Failed; f != nil {
			if f.Stage == "publish" {
				a.printf("stopped at dead letter %d: not republished (%s); it and the %d after it are still in the DLQ\n", f.ID, f.Error, rep.Left-1)
			} else {
				a.printf("stopped at dead letter %d: republished but not removed from the DLQ (%s); redrive it again: the stream drops the duplicate\n", f.ID, f.Error)
			}
		}
		if rep.Interrupted {
			a.printf("interrupted: %d dead letter(s) left in the DLQ, none lost\n", rep.Left)
		}
	}
	switch {
	case rep.Interrupted:
		return errInterrupted
	case rep.Failed != nil:
		return fmt.Errorf("redrive stopped at dead letter %d (%s): %s", rep.Failed.ID, rep.Failed.Stage, rep.Failed.Error)
	}
	return nil
}

// redriveOne republishes one dead letter and, once acked, deletes it. It
// returns the stage that failed.
func (a *app) redriveOne(ctx context.Context, dlq jetstream.Stream, d deadLetter, streams map[string]string) (uint64, string, error) {
	js, err := a.jetstream()
	if err != nil {
		return 0, "publish", err
	}
	target, ok := streams[d.Subject]
	if !ok {
		rctx, cancel := a.reqCtx(ctx)
		target, err = js.StreamNameBySubject(rctx, d.Subject)
		cancel()
		if err != nil {
			return 0, "publish", fmt.Errorf("no stream for %s: %w", d.Subject, err)
		}
		streams[d.Subject] = target
	}
	m := nats.NewMsg(d.Subject)
	m.Data = d.data
	m.Header = copyHeaders(d.header)
	for k := range m.Header {
		if strings.HasPrefix(k, "Calldex-Dlq-") {
			m.Header.Del(k)
		}
	}
	dlqName := dlq.CachedInfo().Config.Name
	m.Header.Set(HeaderRedriveOf, dlqName+":"+strconv.FormatUint(d.ID, 10))
	// The same id on every attempt: a dead letter republished but not
	// deleted (NATS failed in between) is stored once.
	m.Header.Set(nats.MsgIdHdr, "redrive-"+dlqName+"-"+strconv.FormatUint(d.ID, 10))
	rctx, cancel := a.reqCtx(ctx)
	ack, err := js.PublishMsg(rctx, m, jetstream.WithExpectStream(target))
	cancel()
	if err != nil {
		return 0, "publish", err
	}
	if testHookRedrivePublished != nil {
		testHookRedrivePublished(d.ID)
	}
	// Deleted even when Ctrl-C came meanwhile: the republish is done.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.opts.timeout)
	defer cancel()
	if err := dlq.DeleteMsg(dctx, d.ID); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return ack.Sequence, "delete", err
	}
	return ack.Sequence, "", nil
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
