package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/calldex/calldex/events"
)

func eventsCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "events",
		Short: "Follow and replay events",
	}
	c.AddCommand(tailCmd(a), replayCmd(a))
	return c
}

type tailOptions struct {
	since    string
	limit    int
	noFollow bool
}

func tailCmd(a *app) *cobra.Command {
	var o tailOptions
	c := &cobra.Command{
		Use:   "tail SUBJECT_FILTER",
		Short: "Follow events, pretty-printed with their envelope decoded",
		Long: `Follows the events of every stream holding subjects that match SUBJECT_FILTER
(e.g. 'calls.acme.>', 'workflows.>', 'dlq.>', '>'), printing each with its
stream, sequence, time, headers and decoded envelope. By default only new
events; --since 10m (or an RFC 3339 time) starts earlier. --json prints one
JSON object per line.`,
		Example: `  calldexctl events tail 'calls.acme.>' --since 10m
  calldexctl events tail 'workflows.>' --json | jq .event.data`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.tail(cmd.Context(), args[0], o)
		},
	}
	c.Flags().StringVar(&o.since, "since", "", "start this long ago (10m) or at this RFC 3339 time; default: new events only")
	c.Flags().IntVar(&o.limit, "limit", 0, "stop after this many events")
	c.Flags().BoolVar(&o.noFollow, "no-follow", false, "stop once caught up instead of waiting for new events")
	return c
}

// tailedEvent is one event as tail prints it with --json.
type tailedEvent struct {
	Stream  string            `json:"stream"`
	Seq     uint64            `json:"seq"`
	Subject string            `json:"subject"`
	Time    time.Time         `json:"time"`
	Headers map[string]string `json:"headers,omitempty"`
	// Event is the decoded envelope; Data the raw payload when it is none.
	Event *events.Envelope `json:"event,omitempty"`
	Data  *string          `json:"data,omitempty"`
}

func (a *app) tail(ctx context.Context, filter string, o tailOptions) error {
	js, err := a.jetstream()
	if err != nil {
		return err
	}
	subject := a.subject(filter)
	var start time.Time
	if o.since != "" {
		if start, err = parseWhen(o.since, time.Now()); err != nil {
			return err
		}
	}
	rctx, cancel := a.reqCtx(ctx)
	names := js.StreamNames(rctx, jetstream.WithStreamListSubject(subject))
	var streams []jetstream.Stream
	for name := range names.Name() {
		s, err := js.Stream(rctx, name)
		if err != nil {
			cancel()
			return err
		}
		streams = append(streams, s)
	}
	cancel()
	if len(streams) == 0 {
		return fmt.Errorf("no stream holds subjects matching %s", subject)
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var (
		mu      sync.Mutex
		printed atomic.Int64
		wg      sync.WaitGroup
		errs    = make(chan error, len(streams))
	)
	for _, s := range streams {
		cfg := jetstream.OrderedConsumerConfig{
			FilterSubjects: filterFor(s.CachedInfo().Config.Subjects, subject),
			DeliverPolicy:  jetstream.DeliverNewPolicy,
		}
		if !start.IsZero() {
			cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &start
		}
		r, err := newReader(ctx, s, cfg)
		if err != nil {
			return fmt.Errorf("tail %s: %w", s.CachedInfo().Config.Name, err)
		}
		name := s.CachedInfo().Config.Name
		wg.Go(func() {
			fn := func(msg jetstream.Msg, md *jetstream.MsgMetadata) (bool, error) {
				mu.Lock()
				defer mu.Unlock()
				if o.limit > 0 && printed.Load() >= int64(o.limit) {
					stop()
					return false, nil
				}
				if err := a.printEvent(name, msg, md); err != nil {
					return false, err
				}
				if n := printed.Add(1); o.limit > 0 && n >= int64(o.limit) {
					stop()
					return false, nil
				}
				return true, nil
			}
			var err error
			if o.noFollow {
				err = r.each(ctx, fn)
			} else {
				err = r.follow(ctx, fn)
			}
			if ctx.Err() == nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	// Ctrl-C ends a tail; that is how it is used, not a failure.
	return nil
}

// printEvent prints the events of one message: one, or a batch (see
// events.DecodeBatch), each under the message's sequence.
func (a *app) printEvent(stream string, msg jetstream.Msg, md *jetstream.MsgMetadata) error {
	ev := tailedEvent{Stream: stream, Seq: md.Sequence.Stream, Subject: msg.Subject(), Time: md.Timestamp.UTC()}
	if h := msg.Headers(); len(h) > 0 {
		ev.Headers = map[string]string{}
		for k := range h {
			ev.Headers[k] = h.Get(k)
		}
	}
	envs, err := events.DecodeBatch(msg.Data())
	if err != nil {
		d := printable(msg.Data())
		ev.Data = &d
		return a.printTailed(ev)
	}
	for i := range envs {
		ev.Event = &envs[i]
		if err := a.printTailed(ev); err != nil {
			return err
		}
	}
	return nil
}

func (a *app) printTailed(ev tailedEvent) error {
	if a.opts.json {
		b, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(a.io.Stdout, "%s\n", b)
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "── %s #%d  %s  %s\n", ev.Stream, ev.Seq, ev.Time.Local().Format("2006-01-02 15:04:05.000"), ev.Subject)
	keys := make([]string, 0, len(ev.Headers))
	for k := range ev.Headers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "   %s: %s\n", k, ev.Headers[k])
	}
	if e := ev.Event; e != nil {
		fmt.Fprintf(&b, "   %s  tenant=%s", e.Type, e.Tenant)
		if e.Source != "" {
			fmt.Fprintf(&b, "  source=%s", e.Source)
		}
		fmt.Fprintf(&b, "  id=%s  at=%s  v%d\n", e.ID, e.Time.Local().Format(time.RFC3339Nano), e.SchemaVersion)
		var pretty bytes.Buffer
		if json.Indent(&pretty, e.Data, "   ", "  ") == nil {
			fmt.Fprintf(&b, "   %s\n", pretty.String())
		} else {
			fmt.Fprintf(&b, "   %s\n", e.Data)
		}
	} else {
		fmt.Fprintf(&b, "   (not a Calldex envelope) %s\n", *ev.Data)
	}
	_, err := fmt.Fprint(a.io.Stdout, b.String())
	return err
}

// printable returns data as text, or a note of its size when it is binary.
func printable(data []byte) string {
	if utf8.Valid(data) {
		return string(data)
	}
	return fmt.Sprintf("<%d bytes of binary data>", len(data))
}
