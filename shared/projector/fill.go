package projector

import (
	"context"
	"errors"
	"time"

	"github.com/calldex/calldex/shared/index"
)

// A tenant whose index is empty (a new tenant's first sync, an index filled
// from scratch) usually reaches the projector as a backlog of its contacts.
// Written through the write script, each costs Redis ~35–60 µs; loaded in
// bulk into a generation nothing reads yet (index.Load, as calldexctl index
// rebuild does) ~8. So the projector loads an empty tenant's events into a
// new generation as they come, and once they stop coming activates it with
// the sequence it has read to, then writes the tenant there as usual. Until
// then nothing of the tenant is served (there was nothing before either),
// and the applied position and the checkpoint stay before the tenant's
// first loaded event: readiness and WaitApplied do not vouch for contacts
// not yet served, and after a crash the fill starts again from there (the
// unfinished generation is left to index GC). One tenant is filled at a
// time; other empty tenants meanwhile are written as usual.

// filler is an index whose tenants can be filled in bulk (*index.Redis).
type filler interface {
	BeginGeneration(ctx context.Context, tenant string, stale time.Duration) (*index.Build, error)
	// Refresh loads the table of served generations at once: lookups in
	// this process then find the filled contacts as soon as WaitApplied
	// says they are in the index.
	Refresh(ctx context.Context) error
}

var _ filler = (*index.Redis)(nil)

const (
	// fillQuiet is how long without an event of the tenant ends a fill.
	fillQuiet = 100 * time.Millisecond
	// fillLinger ends a fill of a tenant whose events keep trickling in
	// once the projector has caught up with the stream.
	fillLinger = 10 * time.Second
	// fillBeat is how often the fill's generation is kept alive, and
	// fillStale how long without that makes it dead for index GC.
	fillBeat  = 5 * time.Second
	fillStale = time.Minute
)

// fill is the bulk load of one empty tenant under way.
type fill struct {
	tenant string
	build  *index.Build
	load   *index.Load
	// from is the applied sequence before the tenant's first loaded event.
	from                uint64
	started, last, beat time.Time
}

// writeOrLoad writes evs, loading the events of a tenant being filled
// instead, and first starts a fill when evs hold events of an empty tenant.
func (p *Projector) writeOrLoad(ctx context.Context, evs []event) error {
	if p.fill == nil && p.filler != nil {
		p.startFill(ctx, evs)
	}
	if p.fill == nil {
		return p.apply.write(ctx, evs)
	}
	var mine, rest []event
	for _, ev := range evs {
		if ev.tenant == p.fill.tenant {
			mine = append(mine, ev)
		} else {
			rest = append(rest, ev)
		}
	}
	if err := p.apply.write(ctx, rest); err != nil {
		return err
	}
	if len(mine) == 0 {
		return nil
	}
	changes := changesOf(mine)
	if err := p.apply.retry(ctx, p.fill.tenant, len(changes), func(ctx context.Context) error {
		return p.fill.load.Apply(ctx, changes)
	}); err != nil {
		return err
	}
	p.fill.last = time.Now()
	return nil
}

// startFill begins a fill of the tenant with the most events in evs, if
// nothing of it is in the index. Its first events may be all of a backlog
// that has yet to arrive, so even one starts a fill. A tenant found with
// contacts is not looked at again.
func (p *Projector) startFill(ctx context.Context, evs []event) {
	counts := map[string]int{}
	tenant := ""
	for _, ev := range evs {
		if ev.skip || p.noFill[ev.tenant] {
			continue
		}
		counts[ev.tenant]++
		if counts[ev.tenant] > counts[tenant] {
			tenant = ev.tenant
		}
	}
	if tenant == "" {
		return
	}
	s, err := p.indexOf(tenant).Stats(ctx, tenant)
	if err != nil {
		return // written as usual; looked at again with its next events
	}
	if s.Contacts > 0 {
		p.noFill[tenant] = true
		return
	}
	b, err := p.filler.BeginGeneration(ctx, tenant, fillStale)
	if err != nil {
		// A rebuild of the tenant is running, or Redis failed.
		p.log.Info("projector: empty tenant written event by event", "tenant", tenant, "err", err)
		p.noFill[tenant] = errors.Is(err, index.ErrRebuildRunning)
		return
	}
	now := time.Now()
	p.fill = &fill{tenant: tenant, build: b, load: b.Load(), from: p.applied.Load(), started: now, last: now, beat: now}
	p.log.Info("projector: loading an empty tenant in bulk", "tenant", tenant, "generation", b.Generation().ID, "from_seq", p.fill.from+1)
}

// advance records that every event up to seq is written or loaded: the
// applied position moves there, or to the start of a fill under way.
func (p *Projector) advance(seq uint64) {
	p.read = seq
	if p.fill != nil {
		seq = min(seq, p.fill.from)
	}
	p.setApplied(seq)
}

// tendFill keeps a fill's generation alive and ends the fill when its
// tenant's events stopped coming, it holds cfg.Bulk contacts, or it has
// lingered caught up with the stream. A fill that cannot be activated is
// dropped; it returns the sequence to project again from then, ok true.
func (p *Projector) tendFill(ctx context.Context) (from uint64, ok bool) {
	f := p.fill
	if f == nil {
		return 0, false
	}
	now := time.Now()
	done := now.Sub(f.last) >= fillQuiet || f.load.Len() >= p.cfg.Bulk ||
		p.read >= p.target.Load() && now.Sub(f.started) >= fillLinger
	if !done {
		if now.Sub(f.beat) < fillBeat {
			return 0, false
		}
		err := f.build.Heartbeat(ctx)
		if err == nil {
			f.beat = now
			return 0, false
		}
		if !errors.Is(err, index.ErrGenerationConflict) {
			p.log.Warn("projector: keep the bulk load alive", "tenant", f.tenant, "err", err)
			return 0, false
		}
		return p.dropFill(ctx, err)
	}
	n := f.load.Len()
	if err := p.apply.retry(ctx, f.tenant, n, f.load.Finish); err != nil {
		return 0, false // ctx ended: Run drops the fill
	}
	id := f.build.Generation().ID
	if err := f.build.Activate(ctx, p.read); err != nil {
		return p.dropFill(ctx, err)
	}
	if err := p.filler.Refresh(ctx); err != nil {
		p.log.Warn("projector: read the served generations", "err", err)
	}
	delete(p.marks, markKey(f.tenant, p.pins[f.tenant]))
	p.seen[f.tenant] = id
	p.pin(ctx, f.tenant, id)
	p.log.Info("projector: empty tenant loaded in bulk", "tenant", f.tenant, "generation", id,
		"contacts", n, "to_seq", p.read, "took", time.Since(f.started).Round(time.Millisecond))
	p.fill, p.noFill[f.tenant] = nil, true
	p.setApplied(p.read)
	return 0, false
}

// dropFill gives a fill up after err: its generation is dropped, and the
// tenant's events since the fill began are to be written as usual.
func (p *Projector) dropFill(ctx context.Context, err error) (uint64, bool) {
	f := p.fill
	p.log.Warn("projector: bulk load given up; writing the tenant event by event", "tenant", f.tenant, "err", err)
	p.abortFill(ctx)
	p.noFill[f.tenant] = true
	return f.from, true
}

// abortFill drops the generation of the fill under way, if any; also after
// ctx ended.
func (p *Projector) abortFill(ctx context.Context) {
	if p.fill == nil {
		return
	}
	abort(ctx, p.fill.build, p.log)
	p.fill = nil
}
