package ctl

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
	"github.com/calldex/calldex/workflows/dispatch"
)

// Headers of a replayed message.
const (
	// HeaderReplayOf is "<stream>:<seq>" of the original message.
	HeaderReplayOf = "Calldex-Replay-Of"
	// HeaderReplayRun identifies one replay run.
	HeaderReplayRun = "Calldex-Replay-Run"
	// HeaderReplayFor names the consumer a replay was made for.
	HeaderReplayFor = "Calldex-Replay-For"
	// HeaderReplaySubject is the original subject (replays to a subject).
	HeaderReplaySubject = "Calldex-Replay-Subject"
)

type replayOptions struct {
	stream      string
	runID       string
	fromSeq     uint64
	since       string
	until       string
	subject     string
	toConsumer  string
	toSubject   string
	rate        string
	dryRun      bool
	force       bool
	allowFanout bool
}

const replayLong = `Replays exactly one range of a stream, in stream order: from --from-seq N (or
--since 10m / an RFC 3339 time; default the first message) through --until
(a sequence, a duration ago or an RFC 3339 time; default the last message
when the replay starts), optionally only subjects matching --subject. Nothing
published after the replay started is replayed, even into the same stream.

--to-consumer NAME delivers the range into a durable consumer's processing.
The consumer itself is left alone: resetting or recreating it at a start
sequence would also redeliver everything after the range, drop the
acknowledgements of live work, and fight the service that owns its
configuration (the worker re-creates its consumer at every start). Instead
each message is published again, as a new message at the end of the stream,
to its original subject — which the consumer's filter accepts, so the
consumer processes it as any other message, in order. Each copy carries
Calldex-Replay-Of: <stream>:<seq>, Calldex-Replay-Run and Calldex-Replay-For
headers, and a Nats-Msg-Id made of the run and the sequence, so a retried
publish is stored once. Unless --subject says otherwise, the range is what
the consumer's filter takes. Other durable consumers whose filters take the
same subjects would receive the copies too: the replay refuses unless
--allow-fanout.

--to-subject SUBJ publishes every message of the range to SUBJ instead (to
inspect it elsewhere, or feed another stream), with the same headers plus
Calldex-Replay-Subject.

Workflow requests stay idempotent: a request whose key workflow_results
records as done is skipped (the summary says how many). With --force and
--to-consumer it is submitted again under a new key (the dispatcher's forced
key), so it runs once more.

--rate 100/s paces the publishing; --dry-run reads the range and reports what
would be replayed and skipped without publishing. Ctrl-C (or a NATS failure)
stops between two messages and prints the --from-seq and --run-id to resume
with; the run id keeps a copy made just before the stop from being made
twice (within the stream's duplicate window, 10 minutes).`

func replayCmd(a *app) *cobra.Command {
	var o replayOptions
	c := &cobra.Command{
		Use:   "replay --stream S [--from-seq N|--since T] [--until SEQ|TIME] [--subject FILTER] (--to-consumer NAME | --to-subject SUBJ)",
		Short: "Replay a range of a stream into a consumer or to a subject, in order",
		Long:  replayLong,
		Example: `  # the CRM was down all night: run the night's workflows again (done ones are skipped)
  calldexctl events replay --stream WORKFLOWS --since 12h --to-consumer calldex-worker
  # what would one tenant's replay do?
  calldexctl events replay --stream WORKFLOWS --from-seq 1200 --until 1450 --subject 'workflows.acme.>' --to-consumer calldex-worker --dry-run
  # copy a range of call events elsewhere, 50 a second
  calldexctl events replay --stream CALLS --since 2h --to-subject debug.calls --rate 50/s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.replay(cmd.Context(), o)
		},
	}
	f := c.Flags()
	f.StringVar(&o.stream, "stream", "", "stream to replay from (WORKFLOWS, CALLS, …)")
	f.Uint64Var(&o.fromSeq, "from-seq", 0, "first stream sequence of the range")
	f.StringVar(&o.since, "since", "", "start of the range: a duration ago (10m) or an RFC 3339 time")
	f.StringVar(&o.until, "until", "", "end of the range (inclusive): a sequence, a duration ago or an RFC 3339 time")
	f.StringVar(&o.subject, "subject", "", "only subjects matching this filter")
	f.StringVar(&o.toConsumer, "to-consumer", "", "durable consumer to deliver the range to (republished to the original subjects)")
	f.StringVar(&o.toSubject, "to-subject", "", "subject to publish the range to")
	f.StringVar(&o.rate, "rate", "", "at most this many messages a second (100 or 100/s)")
	f.BoolVar(&o.dryRun, "dry-run", false, "report what would be replayed, publish nothing")
	f.BoolVar(&o.force, "force", false, "run workflows already done again, under a new key (with --to-consumer)")
	f.BoolVar(&o.allowFanout, "allow-fanout", false, "replay even if other durable consumers would receive the copies too")
	f.StringVar(&o.runID, "run-id", "", "id of a stopped run to resume (printed when it stopped): copies it made are not made twice")
	_ = c.MarkFlagRequired("stream")
	c.MarkFlagsMutuallyExclusive("from-seq", "since")
	c.MarkFlagsMutuallyExclusive("to-consumer", "to-subject")
	c.MarkFlagsOneRequired("to-consumer", "to-subject")
	return c
}

// replayReport is what a replay did.
type replayReport struct {
	Stream string `json:"stream"`
	Filter string `json:"filter,omitempty"`
	Target string `json:"target"`
	RunID  string `json:"runId"`
	DryRun bool   `json:"dryRun"`
	// EndSeq is the last sequence the range may include.
	EndSeq uint64 `json:"endSeq"`
	// FirstSeq and LastSeq are the first and last messages handled.
	FirstSeq uint64 `json:"firstSeq,omitempty"`
	LastSeq  uint64 `json:"lastSeq,omitempty"`
	// Matched messages were in the range; each was replayed, forced or skipped.
	Matched  int `json:"matched"`
	Replayed int `json:"replayed"`
	// Forced workflows were done and submitted again under a new key.
	Forced     int               `json:"forced"`
	ForcedKeys map[string]string `json:"forcedKeys,omitempty"`
	// Skipped workflows were done already (see --force).
	Skipped     int    `json:"skipped"`
	Interrupted bool   `json:"interrupted,omitempty"`
	Error       string `json:"error,omitempty"`
	// ResumeFromSeq is the --from-seq that continues a stopped replay.
	ResumeFromSeq uint64        `json:"resumeFromSeq,omitempty"`
	Took          time.Duration `json:"tookNs"`
}

// replayer holds what one replay run resolved.
type replayer struct {
	a        *app
	o        replayOptions
	js       jetstream.JetStream
	rep      *replayReport
	target   string // stream that stores the copies ("" core NATS)
	results  jetstream.KeyValue
	dispatch *dispatch.Dispatcher
	pace     time.Duration
	next     time.Time
	// filters, when set, are the consumer's: messages of --subject it
	// does not take are left out of the range.
	filters []string
}

func (a *app) replay(ctx context.Context, o replayOptions) error {
	start := time.Now()
	js, err := a.jetstream()
	if err != nil {
		return err
	}
	if o.force && o.toConsumer == "" {
		return usagef("--force submits done workflows again through the dispatcher, which publishes to the workflow's own subject: use it with --to-consumer")
	}
	pace, err := parseRate(o.rate)
	if err != nil {
		return err
	}
	rctx, cancel := a.reqCtx(ctx)
	defer cancel()
	stream, err := js.Stream(rctx, a.stream(o.stream))
	if err != nil {
		return fmt.Errorf("stream %s: %w", a.stream(o.stream), err)
	}
	info, err := stream.Info(rctx)
	if err != nil {
		return err
	}
	rep := &replayReport{Stream: info.Config.Name, DryRun: o.dryRun, RunID: o.runID, EndSeq: info.State.LastSeq}
	if rep.RunID == "" {
		rep.RunID = runID()
	} else if strings.ContainsAny(rep.RunID, " .*>") {
		return usagef("--run-id %q: letters and digits only", rep.RunID)
	}
	r := &replayer{a: a, o: o, js: js, rep: rep, pace: pace}

	filter := ""
	if o.subject != "" {
		filter = a.subject(o.subject)
	}
	switch {
	case o.toConsumer != "":
		if filter, err = r.checkConsumer(rctx, stream, info, filter); err != nil {
			return err
		}
		rep.Target = "consumer " + o.toConsumer + " (original subjects)"
		r.target = info.Config.Name
	default:
		to := a.subject(o.toSubject)
		if strings.ContainsAny(to, "*>") {
			return usagef("--to-subject %s: a subject to publish to has no wildcards", o.toSubject)
		}
		r.o.toSubject = to
		rep.Target = "subject " + to
		name, err := js.StreamNameBySubject(rctx, to)
		switch {
		case err == nil:
			r.target = name
		case errors.Is(err, jetstream.ErrStreamNotFound):
			a.notef("note: no stream stores %s: the copies reach only its current subscribers, unacknowledged\n", to)
		default:
			return fmt.Errorf("stream of %s: %w", to, err)
		}
	}
	rep.Filter = filter

	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: filterFor(info.Config.Subjects, filter), DeliverPolicy: jetstream.DeliverAllPolicy}
	switch {
	case o.fromSeq > 0:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, o.fromSeq
	case o.since != "":
		t, err := parseWhen(o.since, time.Now())
		if err != nil {
			return err
		}
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &t
	}
	var untilTime time.Time
	if o.until != "" {
		if seq, err := strconv.ParseUint(o.until, 10, 64); err == nil {
			rep.EndSeq = min(rep.EndSeq, seq)
		} else if untilTime, err = parseWhen(o.until, time.Now()); err != nil {
			return err
		}
	}
	if rep.EndSeq == 0 || o.fromSeq > rep.EndSeq {
		return a.replayDone(ctx, r, nil)
	}
	rd, err := newReader(ctx, stream, cfg)
	if err != nil {
		return fmt.Errorf("read %s: %w", info.Config.Name, err)
	}
	bar := a.progress("replay "+info.Config.Name, "messages")
	first := uint64(0)
	err = rd.each(ctx, func(msg jetstream.Msg, md *jetstream.MsgMetadata) (bool, error) {
		seq := md.Sequence.Stream
		if seq > rep.EndSeq || !untilTime.IsZero() && md.Timestamp.After(untilTime) {
			return false, nil
		}
		if first == 0 {
			first = seq
		}
		matched := rep.Matched
		if err := r.one(ctx, msg, seq); err != nil {
			rep.ResumeFromSeq = seq
			return false, err
		}
		if rep.Matched > matched {
			if rep.FirstSeq == 0 {
				rep.FirstSeq = seq
			}
			rep.LastSeq = seq
		}
		bar.Update(int64(seq-first+1), int64(rep.EndSeq-first+1))
		return true, nil
	})
	bar.Finish()
	if err == nil && r.target == "" && !o.dryRun && a.nc != nil {
		err = a.nc.FlushTimeout(a.opts.timeout)
	}
	rep.Took = time.Since(start)
	return a.replayDone(ctx, r, err)
}

// checkConsumer checks that the consumer exists, takes the subjects to
// replay and shares them with no other durable consumer; it returns the
// filter of the range.
func (r *replayer) checkConsumer(ctx context.Context, stream jetstream.Stream, info *jetstream.StreamInfo, filter string) (string, error) {
	// Listed rather than opened: the consumer may be a push consumer
	// (the worker's), and the others are needed for the fan-out check.
	var ci *jetstream.ConsumerInfo
	var all []*jetstream.ConsumerInfo
	list := stream.ListConsumers(ctx)
	for c := range list.Info() {
		all = append(all, c)
		if c.Name == r.o.toConsumer {
			ci = c
		}
	}
	if err := list.Err(); err != nil && !errors.Is(err, jetstream.ErrEndOfData) {
		return "", fmt.Errorf("consumers of %s: %w", info.Config.Name, err)
	}
	if ci == nil {
		return "", fmt.Errorf("stream %s has no consumer %s (see calldexctl streams)", info.Config.Name, r.o.toConsumer)
	}
	if ci.Config.Durable == "" {
		return "", usagef("consumer %s is ephemeral: replay into a durable consumer", r.o.toConsumer)
	}
	filters := consumerOf(ci).Filters
	if len(filters) == 0 {
		filters = info.Config.Subjects
	}
	if filter == "" {
		if len(filters) > 1 {
			return "", usagef("consumer %s takes several filters (%s): choose one with --subject", r.o.toConsumer, strings.Join(filters, ", "))
		}
		filter = filters[0]
	} else if !overlapsAny(filters, filter) {
		return "", usagef("consumer %s takes nothing of %s (its filter: %s)", r.o.toConsumer, filter, strings.Join(filters, ", "))
	} else if !coveredByAny(filters, filter) {
		// Only what the consumer takes is replayed.
		r.filters = filters
	}
	var others []string
	for _, other := range all {
		if other.Name == r.o.toConsumer || other.Config.Durable == "" {
			continue
		}
		of := consumerOf(other).Filters
		if len(of) == 0 {
			of = info.Config.Subjects
		}
		for _, f := range of {
			if subjectsOverlap(f, filter) {
				others = append(others, other.Name)
				break
			}
		}
	}
	if len(others) > 0 && !r.o.allowFanout {
		return "", usagef("the copies would also reach durable consumer(s) %s, whose filters take %s: narrow --subject, or pass --allow-fanout", strings.Join(others, ", "), filter)
	}
	return filter, nil
}

func overlapsAny(filters []string, subject string) bool {
	for _, f := range filters {
		if subjectsOverlap(f, subject) {
			return true
		}
	}
	return false
}

func matchesAny(filters []string, subject string) bool {
	for _, f := range filters {
		if subjectMatches(f, subject) {
			return true
		}
	}
	return false
}

func coveredByAny(filters []string, subject string) bool {
	for _, f := range filters {
		if subjectCovers(f, subject) {
			return true
		}
	}
	return false
}

// one replays, forces or skips one message.
func (r *replayer) one(ctx context.Context, msg jetstream.Msg, seq uint64) (err error) {
	if r.filters != nil && !matchesAny(r.filters, msg.Subject()) {
		return nil
	}
	defer func() {
		if err == nil {
			r.rep.Matched++
		}
	}()
	if env, err := events.Decode(msg.Data()); err == nil && env.Type == events.TypeWorkflowRequested {
		var req events.WorkflowRequested
		if err := env.Payload(&req); err == nil && req.Key != "" {
			done, err := r.done(ctx, req.Key)
			if err != nil {
				return err
			}
			if done {
				if !r.o.force {
					r.rep.Skipped++
					return nil
				}
				if r.o.dryRun {
					r.rep.Forced++
					return nil
				}
				if err := r.wait(ctx); err != nil {
					return err
				}
				key, err := r.dispatch.Submit(ctx, env.Tenant, req.Workflow, req.Inputs, true)
				if err != nil {
					return fmt.Errorf("submit %s again: %w", req.Key, err)
				}
				r.rep.Forced++
				if r.rep.ForcedKeys == nil {
					r.rep.ForcedKeys = map[string]string{}
				}
				if len(r.rep.ForcedKeys) < 1000 {
					r.rep.ForcedKeys[req.Key] = key
				}
				return nil
			}
		}
	}
	if r.o.dryRun {
		r.rep.Replayed++
		return nil
	}
	if err := r.wait(ctx); err != nil {
		return err
	}
	out := nats.NewMsg(msg.Subject())
	if r.o.toSubject != "" {
		out.Subject = r.o.toSubject
	}
	out.Data = msg.Data()
	out.Header = copyHeaders(msg.Headers())
	out.Header.Set(HeaderReplayOf, r.rep.Stream+":"+strconv.FormatUint(seq, 10))
	out.Header.Set(HeaderReplayRun, r.rep.RunID)
	if r.o.toConsumer != "" {
		out.Header.Set(HeaderReplayFor, r.o.toConsumer)
	} else {
		out.Header.Set(HeaderReplaySubject, msg.Subject())
	}
	out.Header.Set(nats.MsgIdHdr, "replay-"+r.rep.RunID+"-"+r.rep.Stream+"-"+strconv.FormatUint(seq, 10))
	if err := r.publish(ctx, out); err != nil {
		return err
	}
	r.rep.Replayed++
	return nil
}

// publish stores a copy, retrying a few times: the message id makes a
// retried publish count once.
func (r *replayer) publish(ctx context.Context, m *nats.Msg) error {
	if r.target == "" {
		return r.a.nc.PublishMsg(m)
	}
	var err error
	for attempt := range 3 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
			}
		}
		pctx, cancel := r.a.reqCtx(ctx)
		_, err = r.js.PublishMsg(pctx, m, jetstream.WithExpectStream(r.target))
		cancel()
		if err == nil || ctx.Err() != nil {
			return err
		}
	}
	return fmt.Errorf("publish to %s: %w", m.Subject, err)
}

// done reports whether workflow_results records the key as done.
func (r *replayer) done(ctx context.Context, key string) (bool, error) {
	if r.results == nil {
		topo := r.a.topo()
		kv, err := r.js.KeyValue(ctx, topo.Stream(events.BucketWorkflowResults))
		if err != nil {
			return false, fmt.Errorf("workflow results bucket: %w", err)
		}
		r.results = kv
		r.dispatch = dispatch.New(r.js, kv, topo)
	}
	e, err := r.results.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("result of %s: %w", key, err)
	}
	var res events.WorkflowResult
	if err := json.Unmarshal(e.Value(), &res); err != nil {
		return false, nil // unreadable: the worker replaces it, so run
	}
	return res.Status == events.StatusDone, nil
}

// wait paces publishing at --rate.
func (r *replayer) wait(ctx context.Context) error {
	if r.pace == 0 {
		return ctx.Err()
	}
	now := time.Now()
	if r.next.After(now) {
		t := time.NewTimer(r.next.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		now = r.next
	}
	r.next = now.Add(r.pace)
	return ctx.Err()
}

func (a *app) replayDone(ctx context.Context, r *replayer, err error) error {
	rep := r.rep
	interrupted := err != nil && ctx.Err() != nil
	if err != nil && rep.ResumeFromSeq == 0 {
		rep.ResumeFromSeq = max(rep.LastSeq+1, r.o.fromSeq, 1)
	}
	if interrupted {
		rep.Interrupted = true
	} else if err != nil {
		rep.Error = err.Error()
	}
	if a.opts.json {
		if perr := a.printJSON(rep); perr != nil {
			return perr
		}
	} else {
		a.printReplay(r)
	}
	switch {
	case interrupted:
		return errInterrupted
	case err != nil:
		return fmt.Errorf("replay stopped: %w", err)
	}
	return nil
}

func (a *app) printReplay(r *replayer) {
	rep := r.rep
	verb, skipVerb, forceVerb := "replayed", "skipped", "submitted again under new keys"
	if rep.DryRun {
		verb, skipVerb, forceVerb = "would replay", "would skip", "would submit again under new keys"
	}
	filter := rep.Filter
	if filter == "" {
		filter = "all subjects"
	}
	a.printf("%s %s (%s) → %s\n", strings.ToUpper(verb[:1])+verb[1:], rep.Stream, filter, rep.Target)
	if rep.Matched == 0 {
		a.printf("  no message in the range (up to seq %d)\n", rep.EndSeq)
	} else {
		a.printf("  range: seq %d..%d, %d message(s)\n", rep.FirstSeq, max(rep.LastSeq, rep.FirstSeq), rep.Matched)
	}
	a.printf("  %s: %d\n", verb, rep.Replayed)
	if rep.Forced > 0 {
		a.printf("  done workflows %s: %d\n", forceVerb, rep.Forced)
	}
	if rep.Skipped > 0 {
		a.printf("  %s: %d workflow(s) already done (--force runs them again under a new key)\n", skipVerb, rep.Skipped)
	}
	if rep.Interrupted || rep.Error != "" {
		what := "interrupted"
		if rep.Error != "" {
			what = "stopped: " + rep.Error
		}
		a.printf("  %s before seq %d; resume with: --from-seq %d --run-id %s\n", what, rep.ResumeFromSeq, rep.ResumeFromSeq, rep.RunID)
	}
}

// parseRate reads "100", "100/s" or "6000/m" into the pause between two
// publishes.
func parseRate(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	num, unit, _ := strings.Cut(s, "/")
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n <= 0 {
		return 0, usagef("--rate %q: want a positive number of messages per second, like 100/s", s)
	}
	per := time.Second
	switch unit {
	case "", "s":
	case "m":
		per = time.Minute
	case "h":
		per = time.Hour
	default:
		return 0, usagef("--rate %q: unit must be /s, /m or /h", s)
	}
	return time.Duration(float64(per) / n), nil
}

func runID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
