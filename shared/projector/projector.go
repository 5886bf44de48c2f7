// Package projector turns CONTACTS into the index. It is the index's only
// writer: every contact change, whatever its origin, is an event first, so
// rebuilding the index is replaying the stream.
package projector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/phone"
)

// Tenants gives the phone conventions of a tenant; false for an unknown one.
// The projector calls it from the goroutine that reads and decodes events,
// beside the one that writes the index.
type Tenants interface {
	PhoneOptions(tenant string) (phone.Options, bool)
}

// Checkpoint remembers the last stream sequence applied to the index, stored
// beside the index so that both are lost (or kept) together: an empty index
// starts from sequence 0 and so rebuilds itself from the stream.
type Checkpoint interface {
	Load(ctx context.Context) (uint64, error)
	Save(ctx context.Context, seq uint64) error
}

// Config configures a projector.
type Config struct {
	Topology events.Topology
	// Filter limits the contacts projected (default: every tenant).
	Filter string
	// CheckpointEvery bounds how often the checkpoint is written.
	CheckpointEvery time.Duration
	// Batch is how many events are written to the index at once at most
	// (default 1000). The projector writes what has arrived, so a lone
	// change is written at once and a backlog in batches of this size.
	Batch int
	// Bulk, on an index of generations, is how many contacts of a tenant
	// whose index is empty the projector loads in bulk at most (see
	// fill.go; 0: never). A load holds ~140 bytes of each contact in
	// memory, and a heap of up to ~650 bytes a contact while it writes
	// their phone keys and names.
	Bulk int
}

// Generations is an index whose tenants can be rebuilt beside the served
// data and switched at once (*index.Redis). The projector writes each
// tenant into the generation it follows; when a tenant switches, it records
// that it follows the new one (Adopt) and, if it had applied events past the
// sequence the new generation was built to, projects again from there, so
// the new generation misses nothing.
type Generations interface {
	ActiveGenerations(ctx context.Context) (map[string]string, error)
	Generation(ctx context.Context, tenant, id string) (index.Generation, error)
	Adopt(ctx context.Context, tenant, id string) error
	View(tenant, gen string) index.Index
	// Served is the generation the process's table serves tenant from:
	// when it changes (the index follows switches by pub/sub), the
	// projector checks the switch before writing the tenant's next event.
	Served(tenant string) string
}

var _ Generations = (*index.Redis)(nil)

// Marker is an index that keeps a marker per tenant generation
// (*index.Redis): with a checkpoint that keeps the marker values too
// (*Redis), the projector checks every marker at least once a second and,
// when one is missing or lower than it set it (the index lost data),
// projects CONTACTS again from the sequence the marker still vouches for,
// at once.
type Marker interface {
	CheckMarks(ctx context.Context, marks []index.Mark) ([]uint64, error)
}

var _ Marker = (*index.Redis)(nil)

// markStore is a checkpoint that also keeps the marker values (*Redis).
type markStore interface {
	LoadMarks(ctx context.Context) (map[string]uint64, error)
	SaveMarks(ctx context.Context, seq uint64, marks map[string]uint64) error
}

// checkEvery is how often the markers are checked, and idleWait how long
// an idle loop waits for events before it looks at the time again.
const (
	checkEvery = 500 * time.Millisecond
	idleWait   = 250 * time.Millisecond
)

// Projector applies contact events to an index, in stream order.
type Projector struct {
	cfg     Config
	js      jetstream.JetStream
	idx     index.Index
	tenants Tenants
	cp      Checkpoint
	log     *slog.Logger
	apply   applier

	// With an index of generations: what each tenant is written to
	// (absent: the original keys), and the views doing it. Only Run's
	// goroutine touches them.
	gens  Generations
	pins  map[string]string
	views map[string]pinned
	seen  map[string]string // Served as last checked, by tenant

	// With a Marker and a markStore: what each "tenant/generation" marker
	// was last set to (0: not yet). Only Run's goroutine touches it.
	marker Marker
	mstore markStore
	marks  map[string]uint64

	// With Bulk and an index that can be filled: the fill under way, the
	// tenants not to fill (they had contacts, or were filled), and the
	// last sequence written or loaded. Only Run's goroutine touches them.
	filler filler
	fill   *fill
	noFill map[string]bool
	read   uint64

	applied  atomic.Uint64
	target   atomic.Uint64 // stream's last sequence, read every checkEvery: caught up once applied reaches it
	started  atomic.Bool   // target is known; until then nothing is caught up
	mu       sync.Mutex
	advanced chan struct{} // closed and replaced whenever applied moves
}

// New builds a projector; Run starts it.
func New(cfg Config, js jetstream.JetStream, idx index.Index, tenants Tenants, cp Checkpoint, log *slog.Logger) (*Projector, error) {
	if js == nil || idx == nil || tenants == nil || cp == nil {
		return nil, errors.New("projector: js, index, tenants and checkpoint are required")
	}
	if cfg.Filter == "" {
		cfg.Filter = cfg.Topology.ContactsFilter("*")
	}
	if cfg.CheckpointEvery == 0 {
		cfg.CheckpointEvery = time.Second
	}
	if cfg.Batch <= 0 {
		cfg.Batch = defaultBatch
	}
	if log == nil {
		log = slog.Default()
	}
	p := &Projector{cfg: cfg, js: js, idx: idx, tenants: tenants, cp: cp, log: log, advanced: make(chan struct{}),
		pins: map[string]string{}, views: map[string]pinned{}, seen: map[string]string{}, noFill: map[string]bool{}}
	p.gens, _ = idx.(Generations)
	if cfg.Bulk > 0 && p.gens != nil {
		p.filler, _ = idx.(filler)
	}
	p.marker, _ = idx.(Marker)
	p.mstore, _ = cp.(markStore)
	if p.marker == nil || p.mstore == nil {
		p.marker, p.mstore = nil, nil
	}
	p.apply = applier{tenants: tenants, log: log, index: p.indexOf}
	return p, nil
}

type pinned struct {
	gen string
	idx index.Index
}

// indexOf is the index a tenant's events are written to.
func (p *Projector) indexOf(tenant string) index.Index {
	if p.gens == nil {
		return p.idx
	}
	gen := p.pins[tenant]
	if v, ok := p.views[tenant]; ok && v.gen == gen {
		return v.idx
	}
	v := pinned{gen: gen, idx: p.gens.View(tenant, gen)}
	p.views[tenant] = v
	return v.idx
}

// Run projects until ctx ends. Index failures are retried, never skipped:
// a contact event is only passed once the index has it.
func (p *Projector) Run(ctx context.Context) error {
	start, err := p.cp.Load(ctx)
	if err != nil {
		return fmt.Errorf("projector: load checkpoint: %w", err)
	}
	if p.marker != nil {
		if p.marks, err = p.mstore.LoadMarks(ctx); err != nil {
			return fmt.Errorf("projector: %w", err)
		}
	}
	streamName := p.cfg.Topology.Stream(events.StreamContacts)
	stream, err := p.js.Stream(ctx, streamName)
	if err != nil {
		return fmt.Errorf("projector: stream %s: %w", streamName, err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("projector: stream info: %w", err)
	}
	p.target.Store(info.State.LastSeq)
	p.started.Store(true)
	defer p.abortFill(ctx)
	targetCtx, stopTarget := context.WithCancel(ctx)
	targetDone := make(chan struct{})
	go func() { defer close(targetDone); p.followTarget(targetCtx, stream) }()
	defer func() { stopTarget(); <-targetDone }()
	p.setApplied(start)
	if p.gens != nil {
		// A switch made while no projector ran is followed before the
		// first event.
		if to, err := p.follow(ctx); err != nil {
			return fmt.Errorf("projector: follow index generations: %w", err)
		} else if to < start {
			start = to
		}
	}
	if p.marker != nil {
		// Data lost while no projector ran is projected again first.
		if to, err := p.guard(ctx); err != nil {
			return fmt.Errorf("projector: check index markers: %w", err)
		} else if to < start {
			start = to
		}
	}
	open := func(from uint64) (*feed, error) {
		cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{p.cfg.Filter},
			DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
			OptStartSeq:    from + 1,
		})
		if err != nil {
			return nil, err
		}
		return startFeed(cons, p.cfg.Batch, p.apply.decode)
	}
	f, err := open(start)
	if err != nil {
		return fmt.Errorf("projector: consumer: %w", err)
	}
	defer func() {
		if f != nil {
			f.stop()
		}
	}()
	p.log.Info("projector started", "from_seq", start+1, "stream_last_seq", info.State.LastSeq)
	saved := start
	lastSave, lastCheck := time.Now(), time.Now()
	// goBack drops the feed after a switch made the projector go back to
	// an earlier sequence (follow lowered the checkpoint and the applied
	// position already): the next one starts from there.
	goBack := func(to uint64) {
		if f != nil {
			f.stop()
			f = nil
		}
		saved, lastSave = to, time.Now()
	}
	for ctx.Err() == nil {
		if p.gens != nil {
			// The safety net: a switch whose message this process missed.
			applied := p.applied.Load()
			to, err := p.follow(ctx)
			if err != nil && ctx.Err() == nil {
				p.log.Warn("projector: follow index generations", "err", err)
			}
			if err == nil && to < applied {
				goBack(to)
			}
		}
		if f == nil {
			if f, err = open(p.applied.Load()); err != nil {
				f = nil
				if ctx.Err() == nil {
					p.log.Warn("projector: consumer", "err", err)
					sleep(ctx, time.Second)
				}
				continue
			}
		}
		// The wait only bounds how long an idle loop sleeps: shorter while
		// a fill waits for its tenant's events to stop.
		wait := idleWait
		if p.fill != nil {
			wait = fillQuiet / 2
		}
		evs, err := f.next(ctx, p.cfg.Batch, wait)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			p.log.Warn("projector: reading CONTACTS stopped; reopening", "err", err)
			f.stop()
			f = nil
			sleep(ctx, time.Second)
			continue
		}
		// Fewer than a batch: the stream is drained for now, and the
		// checkpoint is saved at once, so that readiness and admin writes
		// waiting on it elsewhere see the change.
		drained := len(evs) < p.cfg.Batch
		for len(evs) > 0 && ctx.Err() == nil {
			// Write up to the first event whose tenant switched to another
			// generation since it was last checked.
			n := len(evs)
			if p.gens != nil {
				n = 0
				for n < len(evs) && !p.switched(evs[n].subject) {
					n++
				}
			}
			if n > 0 {
				p.track(evs[:n])
				if p.writeOrLoad(ctx, evs[:n]) != nil {
					break // only when ctx ended: these events are not applied
				}
				p.advance(evs[n-1].seq)
				if evs = evs[n:]; len(evs) == 0 {
					break
				}
			}
			applied := p.applied.Load()
			to, err := p.follow(ctx)
			if err != nil && ctx.Err() == nil {
				p.log.Warn("projector: follow index generations", "err", err)
			}
			if err == nil && to < applied {
				goBack(to)
				break // the rest of these events comes again
			}
			// Otherwise evs[0] is written with the generation now followed.
		}
		if to, ok := p.tendFill(ctx); ok {
			p.rewind(to)
			goBack(to)
			continue
		}
		a := p.applied.Load()
		due := a != saved && (drained || time.Since(lastSave) > p.cfg.CheckpointEvery) && ctx.Err() == nil
		if p.marker != nil && (due || time.Since(lastCheck) >= checkEvery) && ctx.Err() == nil {
			// Checked before the checkpoint is saved: a checkpoint is
			// never saved over an index that lost what it vouches for.
			lastCheck = time.Now()
			to, err := p.guard(ctx)
			if err != nil {
				if ctx.Err() == nil {
					p.log.Warn("projector: check index markers", "err", err)
				}
				continue
			}
			if to < a {
				goBack(to)
				continue
			}
		}
		if due {
			if err := p.save(ctx, a); err != nil {
				p.log.Warn("projector checkpoint", "err", err)
			} else {
				saved, lastSave = a, time.Now()
			}
		}
	}
	if a := p.applied.Load(); a != saved {
		saveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		// Checked first here too (guard lowers the checkpoint itself).
		if p.marker != nil {
			if to, err := p.guard(saveCtx); err != nil || to < a {
				return nil
			}
		}
		_ = p.save(saveCtx, a)
	}
	return nil
}

// followTarget reads the stream's last sequence, which CaughtUp compares
// the applied one with, every checkEvery until ctx ends: apart from Run's
// loop, which a slow write may hold.
func (p *Projector) followTarget(ctx context.Context, stream jetstream.Stream) {
	tick := time.NewTicker(checkEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		ictx, cancel := context.WithTimeout(ctx, time.Second)
		info, err := stream.Info(ictx)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				p.log.Warn("projector: read CONTACTS' last sequence", "err", err)
			}
			continue
		}
		p.target.Store(info.State.LastSeq)
	}
}

// save stores the checkpoint, with the marker values when they are kept.
func (p *Projector) save(ctx context.Context, seq uint64) error {
	if p.marker != nil {
		return p.mstore.SaveMarks(ctx, seq, p.marks)
	}
	return p.cp.Save(ctx, seq)
}

// track records the tenant generations evs are written to, so that their
// markers are checked and set from the next check on.
func (p *Projector) track(evs []event) {
	if p.marker == nil {
		return
	}
	for _, ev := range evs {
		if t := p.tenantOf(ev.subject); t != "" {
			if k := markKey(t, p.pins[t]); !hasKey(p.marks, k) {
				p.marks[k] = 0
			}
		}
	}
}

func hasKey(m map[string]uint64, k string) bool { _, ok := m[k]; return ok }

func markKey(tenant, gen string) string { return tenant + "/" + gen }

// guard checks every tracked marker and moves each intact one up to the
// applied sequence. A marker gone or lower than last set means its tenant
// generation lost data (Redis restarted empty, a failover lost writes, a
// flush): guard lowers the checkpoint and the applied position to the
// lowest sequence a damaged marker still vouches for and returns it, and
// Run projects again from there. Otherwise it returns the applied sequence.
func (p *Projector) guard(ctx context.Context) (uint64, error) {
	applied := p.applied.Load()
	if len(p.marks) == 0 {
		return applied, nil
	}
	keys := make([]string, 0, len(p.marks))
	checks := make([]index.Mark, 0, len(p.marks))
	for k, want := range p.marks {
		t, g, _ := strings.Cut(k, "/")
		keys = append(keys, k)
		checks = append(checks, index.Mark{Tenant: t, Gen: g, Want: want, Next: applied})
	}
	found, err := p.marker.CheckMarks(ctx, checks)
	if err != nil {
		return applied, err
	}
	to := applied
	for i, k := range keys {
		if found[i] < checks[i].Want {
			p.log.Warn("projector: the index lost data; projecting CONTACTS again", "tenant", checks[i].Tenant,
				"generation", checks[i].Gen, "marker", found[i], "expected", checks[i].Want, "from_seq", found[i]+1)
			to = min(to, found[i])
			p.marks[k] = found[i]
			continue
		}
		p.marks[k] = max(found[i], applied)
	}
	if to < applied {
		if err := p.save(ctx, to); err != nil {
			return applied, fmt.Errorf("lower checkpoint to %d: %w", to, err)
		}
		p.rewind(to)
	}
	return to, nil
}

// switched reports whether the process's table serves the tenant of a
// contact subject from another generation than when last checked.
func (p *Projector) switched(subject string) bool {
	tenant := p.tenantOf(subject)
	if tenant == "" {
		return false
	}
	served := p.gens.Served(tenant)
	if served == p.seen[tenant] {
		return false
	}
	p.seen[tenant] = served
	return served != p.pins[tenant]
}

// tenantOf is the tenant of a contact subject ("" if none).
func (p *Projector) tenantOf(subject string) string {
	rest := strings.TrimPrefix(subject, strings.TrimSuffix(p.cfg.Topology.ContactsFilter(""), ".>"))
	tenant, _, _ := strings.Cut(rest, ".")
	return tenant
}

// follow moves every tenant whose active generation changed to it. It
// returns the sequence to project from: the applied one, or lower when a
// new generation was built to an earlier sequence than the projector had
// applied (then the checkpoint is lowered first, so that a crash right
// after resumes from there too).
func (p *Projector) follow(ctx context.Context) (uint64, error) {
	applied := p.applied.Load()
	active, err := p.gens.ActiveGenerations(ctx)
	if err != nil {
		return applied, err
	}
	changed := map[string]string{}
	for t, g := range active {
		if p.pins[t] != g {
			changed[t] = g
		}
	}
	for t := range p.pins {
		if _, ok := active[t]; !ok {
			changed[t] = ""
		}
	}
	if len(changed) == 0 {
		return applied, nil
	}
	to := applied
	for t, id := range changed {
		if id == "" {
			// Only a lost table of generations drops an active entry
			// (a switch always names a generation): the original keys
			// may miss anything since the tenant was rebuilt.
			to = 0
			continue
		}
		g, err := p.gens.Generation(ctx, t, id)
		if errors.Is(err, index.ErrNoGeneration) {
			p.log.Warn("projector: active generation has no record; following it from here", "tenant", t, "generation", id)
			continue
		}
		if err != nil {
			return applied, err
		}
		if !g.Adopted && g.Seq < to {
			to = g.Seq
		}
	}
	for t := range changed {
		delete(p.marks, markKey(t, p.pins[t]))
	}
	if to < applied {
		if err := p.save(ctx, to); err != nil {
			return applied, fmt.Errorf("lower checkpoint to %d: %w", to, err)
		}
	}
	for t, id := range changed {
		if id == "" {
			delete(p.pins, t)
		} else {
			p.pin(ctx, t, id)
		}
		p.log.Info("projector follows a new index generation", "tenant", t, "generation", id, "from_seq", to+1)
	}
	if to < applied {
		p.rewind(to)
	}
	return to, nil
}

// pin writes tenant into generation id from now on, and records in the
// index that the projector does (Generation.Adopted).
func (p *Projector) pin(ctx context.Context, tenant, id string) {
	p.pins[tenant] = id
	if err := p.gens.Adopt(ctx, tenant, id); err != nil {
		// Harmless: a restart goes back to its sequence once more.
		p.log.Warn("projector: mark generation adopted", "tenant", tenant, "generation", id, "err", err)
	}
}

// Entry computes the index entry of a contact: each phone normalised, and
// the keys of all of them.
func Entry(c events.Contact, opts phone.Options) index.Entry {
	var keys []phone.Key
	seen := map[phone.Key]bool{}
	for i := range c.Phones {
		e164, ks, err := phone.IndexKeys(c.Phones[i].Raw, opts)
		if err != nil {
			continue // kept on the contact as raw text, just not findable by it
		}
		c.Phones[i].Normalized = e164
		for _, k := range ks {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	return index.Entry{Contact: c, Keys: keys}
}

// rewind moves the applied position back, after a generation switch made
// the projector go back to an earlier sequence.
func (p *Projector) rewind(seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.applied.Store(seq)
	close(p.advanced)
	p.advanced = make(chan struct{})
}

func (p *Projector) setApplied(seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if seq <= p.applied.Load() && seq != 0 {
		return
	}
	p.applied.Store(seq)
	close(p.advanced)
	p.advanced = make(chan struct{})
}

// Applied is the last stream sequence in the index.
func (p *Projector) Applied() uint64 { return p.applied.Load() }

// CaughtUp reports whether the stream, as last read (at most about half a
// second ago while Run runs), is in the index as far as this process
// knows. A process serving from a shared Redis should use Readiness, which
// also sees an index that lost data before the projector notices.
func (p *Projector) CaughtUp() bool {
	return p.started.Load() && p.applied.Load() >= p.target.Load()
}

// WaitApplied waits until the event at stream sequence seq is in the index.
func (p *Projector) WaitApplied(ctx context.Context, seq uint64) error {
	for {
		p.mu.Lock()
		ch := p.advanced
		p.mu.Unlock()
		if p.applied.Load() >= seq {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for projection of seq %d: %w", seq, ctx.Err())
		case <-ch:
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
