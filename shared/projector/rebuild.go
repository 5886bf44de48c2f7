package projector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/phone"
)

// Builder is what a rebuild needs of the index (*index.Redis).
type Builder interface {
	BeginGeneration(ctx context.Context, tenant string, stale time.Duration) (*index.Build, error)
	GC(ctx context.Context, o index.GCOptions) ([]index.Dropped, error)
}

var _ Builder = (*index.Redis)(nil)

// RebuildConfig configures one tenant's rebuild.
type RebuildConfig struct {
	Topology events.Topology
	Tenant   string
	// Phone are the tenant's phone conventions, as the projector uses them.
	Phone phone.Options
	// HeartbeatEvery is how often the build tells GC it is alive (default 5s).
	HeartbeatEvery time.Duration
	// StaleAfter is how long without a heartbeat makes a build dead, for
	// GC and for refusing a second concurrent build (default 1m).
	StaleAfter time.Duration
	// Grace is how long GC keeps retired generations (default 1m).
	Grace time.Duration
	// Batch is how many events are written at once at most (default 1000).
	Batch int
	// Bulk is how many contacts a rebuild loads in bulk at most
	// (index.Load, default 1,000,000), holding ~140 bytes of each in
	// memory, and a heap of up to ~650 bytes a contact while it writes
	// their postings and names; the contacts beyond, and every event once
	// the rebuild has caught up, are written one batch at a time, as the
	// projector writes them.
	Bulk int
	// Progress, when set, is called after every batch.
	Progress func(RebuildProgress)
	// Log receives skipped events (default: discarded).
	Log *slog.Logger
}

// RebuildProgress is how far a rebuild is.
type RebuildProgress struct {
	Tenant string
	// Events is how many contact events were written to the new generation.
	Events uint64
	// Total is how many the tenant had when the build started.
	Total uint64
	// Seq is the last stream sequence read.
	Seq uint64
}

// RebuildResult is a finished rebuild.
type RebuildResult struct {
	Tenant     string `json:"tenant"`
	Generation string `json:"generation"`
	// Previous is the generation that served before ("" the original keys);
	// GC drops it after the grace period.
	Previous string `json:"previous"`
	// Events is how many contact events were written.
	Events uint64 `json:"events"`
	// Seq is the CONTACTS sequence the generation holds everything up to.
	Seq   uint64      `json:"seq"`
	Stats index.Stats `json:"stats"`
	// Collected are leftovers of earlier rebuilds dropped before this one.
	Collected []index.Dropped `json:"collected,omitempty"`
	Took      time.Duration   `json:"tookNs"`
}

// Rebuild builds tenant's part of the index from CONTACTS into a new
// generation while the current one keeps serving, then switches to it.
//
// It reads the tenant's contacts in stream order until it has caught up
// with the stream (every event published before its last check is
// written), then activates the generation with that sequence. The running
// projector follows the switch and goes on from there, going back first if
// it was ahead (see Generations). If the rebuild fails or ctx ends before
// the switch, the new generation is dropped and the old one never stopped
// serving; if the process dies, the leftover is dropped by the next
// rebuild's GC or by calldexctl index gc.
func Rebuild(ctx context.Context, cfg RebuildConfig, js jetstream.JetStream, ix Builder) (RebuildResult, error) {
	if err := events.ValidID(cfg.Tenant); err != nil {
		return RebuildResult{}, fmt.Errorf("rebuild: tenant: %w", err)
	}
	if err := cfg.Phone.Validate(); err != nil {
		return RebuildResult{}, fmt.Errorf("rebuild %s: %w", cfg.Tenant, err)
	}
	if cfg.HeartbeatEvery <= 0 {
		cfg.HeartbeatEvery = 5 * time.Second
	}
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = time.Minute
	}
	if cfg.Grace <= 0 {
		cfg.Grace = time.Minute
	}
	if cfg.Batch <= 0 {
		cfg.Batch = defaultBatch
	}
	if cfg.Bulk <= 0 {
		cfg.Bulk = defaultBulk
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	start := time.Now()
	res := RebuildResult{Tenant: cfg.Tenant}
	collected, err := ix.GC(ctx, index.GCOptions{Tenant: cfg.Tenant, Grace: cfg.Grace, Stale: cfg.StaleAfter})
	if err != nil {
		return res, fmt.Errorf("rebuild %s: collect leftovers: %w", cfg.Tenant, err)
	}
	res.Collected = collected
	b, err := ix.BeginGeneration(ctx, cfg.Tenant, cfg.StaleAfter)
	if err != nil {
		return res, fmt.Errorf("rebuild %s: %w", cfg.Tenant, err)
	}
	res.Generation, res.Previous = b.Generation().ID, b.Previous()
	activated := false
	defer func() {
		if activated {
			return
		}
		// Also after ctx ended: a stopped rebuild leaves nothing behind.
		abort(ctx, b, cfg.Log)
	}()

	stream, err := js.Stream(ctx, cfg.Topology.Stream(events.StreamContacts))
	if err != nil {
		return res, fmt.Errorf("rebuild %s: %w", cfg.Tenant, err)
	}
	filter := cfg.Topology.ContactsFilter(cfg.Tenant)
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{filter},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return res, fmt.Errorf("rebuild %s: consumer: %w", cfg.Tenant, err)
	}
	a := applier{
		tenants:  oneTenant{cfg.Tenant, cfg.Phone},
		log:      cfg.Log,
		index:    func(string) index.Index { return b.Index() },
		attempts: 5,
	}
	f, err := startFeed(cons, cfg.Batch, a.decode)
	if err != nil {
		return res, fmt.Errorf("rebuild %s: consumer: %w", cfg.Tenant, err)
	}
	defer f.stop()
	// The consumer exists once the feed started; it may have delivered
	// some events already.
	var total uint64
	if ci, err := cons.Info(ctx); err == nil {
		total = ci.NumPending + ci.Delivered.Consumer
	}
	// Events are loaded in bulk until cfg.Bulk contacts are, or the
	// rebuild has caught up; then written as the projector writes them.
	load := b.Load()
	finish := func() error {
		if err := a.retry(ctx, cfg.Tenant, load.Len(), load.Finish); err != nil {
			return fmt.Errorf("rebuild %s: %w", cfg.Tenant, err)
		}
		load = nil
		return nil
	}
	lastBeat := time.Now()
	progress := func() {
		if cfg.Progress != nil {
			cfg.Progress(RebuildProgress{Tenant: cfg.Tenant, Events: res.Events, Total: max(total, res.Events), Seq: res.Seq})
		}
	}
	progress()
	for {
		if time.Since(lastBeat) >= cfg.HeartbeatEvery {
			if err := b.Heartbeat(ctx); err != nil {
				return res, fmt.Errorf("rebuild %s: %w", cfg.Tenant, err)
			}
			lastBeat = time.Now()
		}
		evs, err := f.next(ctx, cfg.Batch, 500*time.Millisecond)
		if err != nil {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			return res, fmt.Errorf("rebuild %s: %w", cfg.Tenant, err)
		}
		if len(evs) > 0 {
			if load != nil {
				err = a.retry(ctx, cfg.Tenant, len(evs), func(ctx context.Context) error { return load.Apply(ctx, changesOf(evs)) })
			} else {
				err = a.write(ctx, evs)
			}
			if err != nil {
				return res, fmt.Errorf("rebuild %s: %w", cfg.Tenant, err)
			}
			if load != nil && load.Len() >= cfg.Bulk {
				if err := finish(); err != nil {
					return res, err
				}
			}
			res.Events += uint64(len(evs))
			res.Seq = evs[len(evs)-1].seq
			progress()
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		if len(evs) == cfg.Batch {
			continue
		}
		// Caught up? The stream's last sequence is read first. Then, if
		// the consumer has nothing pending and every event it delivered
		// is written, every event of the tenant up to that sequence is.
		si, err := stream.Info(ctx)
		if err != nil {
			return res, fmt.Errorf("rebuild %s: stream info: %w", cfg.Tenant, err)
		}
		ci, err := cons.Info(ctx)
		if err != nil {
			return res, fmt.Errorf("rebuild %s: consumer info: %w", cfg.Tenant, err)
		}
		if ci.NumPending == 0 && res.Seq >= ci.Delivered.Stream {
			// Newer servers count a consumer's pending events after the
			// stream stored them, not with it: the stream itself says
			// whether the tenant has an event after res.Seq up to LastSeq.
			next, err := stream.GetMsg(ctx, res.Seq+1, jetstream.WithGetMsgSubject(filter))
			switch {
			case errors.Is(err, jetstream.ErrMsgNotFound) || err == nil && next.Sequence > si.State.LastSeq:
				res.Seq = max(res.Seq, si.State.LastSeq)
			case err != nil:
				return res, fmt.Errorf("rebuild %s: next event: %w", cfg.Tenant, err)
			default:
				continue // not delivered yet
			}
			break
		}
	}
	if load != nil {
		if err := finish(); err != nil {
			return res, err
		}
	}
	if res.Stats, err = b.Index().Stats(ctx, cfg.Tenant); err != nil {
		return res, fmt.Errorf("rebuild %s: %w", cfg.Tenant, err)
	}
	if err := b.Activate(ctx, res.Seq); err != nil {
		return res, fmt.Errorf("rebuild %s: %w", cfg.Tenant, err)
	}
	activated = true
	res.Took = time.Since(start)
	return res, nil
}

// abort drops the unfinished generation of b, also after ctx ended; what it
// cannot drop is left to index GC.
func abort(ctx context.Context, b *index.Build, log *slog.Logger) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := b.Abort(actx); err != nil {
		g := b.Generation()
		log.Warn("drop the unfinished generation (index gc will)", "tenant", g.Tenant, "generation", g.ID, "err", err)
	}
}

// defaultBulk is RebuildConfig.Bulk's default.
const defaultBulk = 1_000_000

// changesOf are the changes of the events that are not skipped.
func changesOf(evs []event) []index.Change {
	out := make([]index.Change, 0, len(evs))
	for _, ev := range evs {
		if !ev.skip {
			out = append(out, ev.change)
		}
	}
	return out
}

// oneTenant gives the phone options of the tenant being rebuilt.
type oneTenant struct {
	id   string
	opts phone.Options
}

func (o oneTenant) PhoneOptions(id string) (phone.Options, bool) { return o.opts, id == o.id }
