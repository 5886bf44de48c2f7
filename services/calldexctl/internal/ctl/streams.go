package ctl

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/services/internal/appconnect"
)

// streamReport is one stream as `streams` shows it.
type streamReport struct {
	Name      string    `json:"name"`
	Subjects  []string  `json:"subjects"`
	Messages  uint64    `json:"messages"`
	Bytes     uint64    `json:"bytes"`
	FirstSeq  uint64    `json:"firstSeq"`
	LastSeq   uint64    `json:"lastSeq"`
	FirstTime time.Time `json:"firstTime,omitzero"`
	LastTime  time.Time `json:"lastTime,omitzero"`
	// MaxAge is the stream's retention: older messages are dropped (0:
	// kept forever).
	MaxAge    time.Duration    `json:"maxAge"`
	Consumers []consumerReport `json:"consumers"`
}

// consumerReport is one consumer of a stream.
type consumerReport struct {
	Name    string   `json:"name"`
	Durable bool     `json:"durable"`
	Filters []string `json:"filters,omitempty"`
	// Pending: matching messages not yet delivered.
	Pending uint64 `json:"pending"`
	// AckPending: delivered, not yet acknowledged.
	AckPending int `json:"ackPending"`
	// Redelivered: messages delivered more than once and still unacked.
	Redelivered int `json:"redelivered"`
	// Lag is what the consumer has not finished: Pending + AckPending.
	Lag uint64 `json:"lag"`
	// DeliveredSeq and AckFloorSeq are stream sequences.
	DeliveredSeq uint64    `json:"deliveredSeq"`
	AckFloorSeq  uint64    `json:"ackFloorSeq"`
	LastActive   time.Time `json:"lastActive,omitzero"`
}

func streamsCmd(a *app) *cobra.Command {
	var all bool
	c := &cobra.Command{
		Use:   "streams",
		Short: "Streams with their subjects, message counts and bytes, and each consumer's pending, redelivered and lag",
		Long: `Lists Calldex's streams (CALLS, WORKFLOWS, CONTACTS, DLQ, AUDIT and the streams
of the KV buckets workflow_results, sync_cursors, tenants, appconnect_revoked
and appconnect_calllogs, under the stream prefix) with subjects, message counts, bytes and
retention (max age: CALLDEX_CALLS_MAX_AGE and the others, applied at start), and
every consumer with pending (not yet delivered), ack pending (delivered, not
acknowledged), redelivered, and lag (pending + ack pending: what it has not
finished). --all lists every stream of the account.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			reports, err := a.streams(cmd.Context(), all)
			if err != nil {
				return err
			}
			if a.opts.json {
				return a.printJSON(map[string]any{"streams": reports})
			}
			a.printStreams(reports)
			return nil
		},
	}
	c.Flags().BoolVar(&all, "all", false, "every stream of the account, not only Calldex's")
	return c
}

// calldexBuckets are every KV bucket a calldex process keeps state in.
var calldexBuckets = []string{
	events.BucketWorkflowResults, events.BucketSyncCursors, events.BucketTenants,
	appconnect.BucketRevoked, appconnect.BucketCallLogs,
}

// calldexStream reports whether a stream belongs to the topology.
func (a *app) calldexStream(name string) bool {
	topo := a.topo()
	for _, s := range topo.Streams() {
		if s.Name == name {
			return true
		}
	}
	for _, b := range calldexBuckets {
		if name == "KV_"+topo.Stream(b) {
			return true
		}
	}
	return false
}

func (a *app) streams(ctx context.Context, all bool) ([]streamReport, error) {
	js, err := a.jetstream()
	if err != nil {
		return nil, err
	}
	rctx, cancel := a.reqCtx(ctx)
	defer cancel()
	var out []streamReport
	list := js.ListStreams(rctx)
	for info := range list.Info() {
		if !all && !a.calldexStream(info.Config.Name) {
			continue
		}
		r := streamReport{
			Name: info.Config.Name, Subjects: info.Config.Subjects,
			Messages: info.State.Msgs, Bytes: info.State.Bytes,
			FirstSeq: info.State.FirstSeq, LastSeq: info.State.LastSeq,
			FirstTime: info.State.FirstTime, LastTime: info.State.LastTime,
			MaxAge: info.Config.MaxAge, Consumers: []consumerReport{},
		}
		s, err := js.Stream(rctx, info.Config.Name)
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", info.Config.Name, err)
		}
		cl := s.ListConsumers(rctx)
		for ci := range cl.Info() {
			r.Consumers = append(r.Consumers, consumerOf(ci))
		}
		if err := cl.Err(); err != nil && !errors.Is(err, jetstream.ErrEndOfData) {
			return nil, fmt.Errorf("consumers of %s: %w", info.Config.Name, err)
		}
		slices.SortFunc(r.Consumers, func(x, y consumerReport) int { return strings.Compare(x.Name, y.Name) })
		out = append(out, r)
	}
	if err := list.Err(); err != nil && !errors.Is(err, jetstream.ErrEndOfData) {
		return nil, fmt.Errorf("list streams: %w", err)
	}
	slices.SortFunc(out, func(x, y streamReport) int { return strings.Compare(x.Name, y.Name) })
	return out, nil
}

func consumerOf(ci *jetstream.ConsumerInfo) consumerReport {
	filters := ci.Config.FilterSubjects
	if ci.Config.FilterSubject != "" {
		filters = append([]string{ci.Config.FilterSubject}, filters...)
	}
	r := consumerReport{
		Name: ci.Name, Durable: ci.Config.Durable != "", Filters: filters,
		Pending: ci.NumPending, AckPending: ci.NumAckPending, Redelivered: ci.NumRedelivered,
		Lag:          ci.NumPending + uint64(max(ci.NumAckPending, 0)),
		DeliveredSeq: ci.Delivered.Stream, AckFloorSeq: ci.AckFloor.Stream,
	}
	if ci.Delivered.Last != nil {
		r.LastActive = *ci.Delivered.Last
	}
	return r
}

func (a *app) printStreams(reports []streamReport) {
	if len(reports) == 0 {
		a.printf("no streams (is this the right NATS, %s, and stream prefix %q?)\n", a.opts.natsURL, a.opts.streamPrefix)
		return
	}
	w := a.table()
	fmt.Fprintln(w, "STREAM\tSUBJECTS\tMESSAGES\tBYTES\tSEQ\tLAST MESSAGE\tMAX AGE")
	for _, r := range reports {
		last := "-"
		if !r.LastTime.IsZero() && r.Messages > 0 {
			last = r.LastTime.Local().Format(time.DateTime)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d..%d\t%s\t%s\n", r.Name, strings.Join(r.Subjects, ","), count(int64(r.Messages)),
			bytesHuman(r.Bytes), r.FirstSeq, r.LastSeq, last, ageHuman(r.MaxAge))
	}
	w.Flush()
	var any bool
	for _, r := range reports {
		if len(r.Consumers) > 0 {
			any = true
		}
	}
	if !any {
		return
	}
	a.printf("\n")
	w = a.table()
	fmt.Fprintln(w, "STREAM\tCONSUMER\tFILTER\tPENDING\tACK PENDING\tREDELIVERED\tLAG\tACK FLOOR")
	for _, r := range reports {
		for _, c := range r.Consumers {
			name := c.Name
			if !c.Durable {
				name += " (ephemeral)"
			}
			filter := strings.Join(c.Filters, ",")
			if filter == "" {
				filter = "(all)"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%d\n", r.Name, name, filter, count(int64(c.Pending)),
				c.AckPending, c.Redelivered, count(int64(c.Lag)), c.AckFloorSeq)
		}
	}
	w.Flush()
}

// ageHuman shows a retention in days and hours ("30d", "36h", "forever").
func ageHuman(d time.Duration) string {
	switch {
	case d <= 0:
		return "forever"
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	default:
		return d.String()
	}
}
