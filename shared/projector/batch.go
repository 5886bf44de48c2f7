package projector

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/index"
)

// Batcher is an index that writes many changes of one tenant at once:
// *index.Redis pipelines them (a few round trips per thousand contacts
// instead of one or two per contact), *index.Memory takes its lock once
// per few hundred. The projector and Rebuild use it when the index they
// write (or the view of a generation) has it, and write one change at a
// time otherwise.
//
// ApplyBatch must leave the index as applying changes one after the other
// would, and applying a batch again after it failed must be harmless: a
// failed batch is retried whole.
type Batcher interface {
	ApplyBatch(ctx context.Context, tenant string, changes []index.Change) error
}

var (
	_ Batcher = (*index.Redis)(nil)
	_ Batcher = (*index.Memory)(nil)
)

// defaultBatch is how many events are written to the index at once at
// most, by default.
const defaultBatch = 1000

// event is one contact event, decoded for the index.
type event struct {
	seq     uint64
	subject string
	tenant  string
	change  index.Change
	// skip marks an event that can never be applied (undecodable, unknown
	// tenant or type, a contact the index would refuse): logged when
	// decoded, then only passed over.
	skip bool
}

// feed reads a consumer in a goroutine of its own, decoding each message
// as it arrives (JSON, phone numbers), and hands the events out in groups
// of what has arrived: a lone change is written at once, a backlog in
// large batches, and decoding the next group overlaps with writing this
// one. One consumer serves the whole feed (an ordered consumer's Fetch
// would recreate it on the server at every call).
type feed struct {
	events chan event
	iter   jetstream.MessagesContext
	cancel context.CancelFunc
	done   chan struct{}
	err    error // why the feed ended, set before events is closed
}

// startFeed reads cons with up to size messages prefetched and size
// decoded events waiting.
func startFeed(cons jetstream.Consumer, size int, decode func(jetstream.Msg) event) (*feed, error) {
	iter, err := cons.Messages(jetstream.PullMaxMessages(size))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &feed{events: make(chan event, size), iter: iter, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(f.done)
		defer close(f.events)
		for {
			// Stop does not wake a waiting Next; the context does.
			msg, err := iter.Next(jetstream.NextContext(ctx))
			if err != nil {
				f.err = err
				return
			}
			ev := decode(msg)
			if ev.seq == 0 {
				continue // no metadata: not a stream message
			}
			select {
			case f.events <- ev:
			case <-ctx.Done():
				f.err = ctx.Err()
				return
			}
		}
	}()
	return f, nil
}

// next returns the events that have arrived, at most max. It waits up to
// wait for the first one, then takes only what is already there. No events
// and no error: nothing arrived within wait. An error: the feed ended (the
// events before it were all handed out).
func (f *feed) next(ctx context.Context, max int, wait time.Duration) ([]event, error) {
	t := time.NewTimer(wait)
	defer t.Stop()
	var out []event
	select {
	case ev, ok := <-f.events:
		if !ok {
			return nil, fmt.Errorf("consumer: %w", f.err)
		}
		out = append(out, ev)
	case <-t.C:
		return nil, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	for len(out) < max {
		select {
		case ev, ok := <-f.events:
			if !ok {
				return out, nil // the end is reported by the next call
			}
			out = append(out, ev)
		default:
			return out, nil
		}
	}
	return out, nil
}

// stop ends the feed and waits for its goroutine; events not handed out
// are dropped.
func (f *feed) stop() {
	f.cancel()
	f.iter.Stop()
	<-f.done
}

// applier turns contact events into index writes.
type applier struct {
	tenants Tenants
	log     *slog.Logger
	// index is the index a tenant's events are written to; only the
	// goroutine that writes calls it.
	index func(tenant string) index.Index
	// attempts bounds the tries of one batch; 0 retries until ctx ends.
	attempts int
}

// decode turns a message into an event. Events that can never be applied
// (undecodable, unknown tenant or type, a contact the index would refuse)
// are logged and marked skip. It runs in the feed's goroutine.
func (a applier) decode(msg jetstream.Msg) event {
	ev := event{subject: msg.Subject(), skip: true}
	md, err := msg.Metadata()
	if err != nil {
		return ev
	}
	ev.seq = md.Sequence.Stream
	typ, tenant, c, ok := decodeFast(msg.Data())
	if !ok {
		// The envelope, then its payload by type: twice the work, and the
		// precise reason of a failure.
		env, err := events.Decode(msg.Data())
		if err != nil {
			a.log.Error("projector: undecodable contact event skipped", "subject", ev.subject, "err", err)
			return ev
		}
		typ, tenant = env.Type, env.Tenant
		switch env.Type {
		case events.TypeContactUpserted:
			if err := env.Payload(&c); err != nil {
				a.log.Error("projector: bad contact skipped", "subject", ev.subject, "err", err)
				return ev
			}
		case events.TypeContactDeleted:
			var d events.ContactDeleted
			if err := env.Payload(&d); err != nil {
				a.log.Error("projector: bad tombstone skipped", "subject", ev.subject, "err", err)
				return ev
			}
			c = events.Contact{ID: d.ID, Source: d.Source}
		}
	}
	ev.tenant = tenant
	opts, ok := a.tenants.PhoneOptions(tenant)
	if !ok {
		a.log.Warn("projector: contact of unknown tenant skipped", "tenant", tenant, "subject", ev.subject)
		return ev
	}
	switch typ {
	case events.TypeContactUpserted:
		if err := validContact(tenant, c.Source, c.ID); err != nil {
			a.log.Error("projector: bad contact skipped", "subject", ev.subject, "err", err)
			return ev
		}
		ev.change = index.Upserted(Entry(c, opts))
	case events.TypeContactDeleted:
		if err := validContact(tenant, c.Source, c.ID); err != nil {
			a.log.Error("projector: bad tombstone skipped", "subject", ev.subject, "err", err)
			return ev
		}
		ev.change = index.Deleted(c.Source, c.ID)
	default:
		a.log.Warn("projector: unknown event type skipped", "type", typ, "subject", ev.subject)
		return ev
	}
	ev.skip = false
	return ev
}

// contactEvent is an events.Envelope of CONTACTS with its payload decoded
// in the same pass: as a contact, which a tombstone (events.ContactDeleted)
// decodes into too, having the same id and source fields. Decoding the
// envelope, then its payload, reads every payload twice; on a backlog that
// is a tenth of the projector's CPU.
type contactEvent struct {
	Type          string         `json:"type"`
	Tenant        string         `json:"tenant"`
	SchemaVersion int            `json:"schemaVersion"`
	Data          events.Contact `json:"data"`
}

// decodeFast decodes a contact event in one pass. It reports false for
// anything events.Decode would refuse, or that does not decode this way
// (then the caller decodes the usual way, for the reason).
func decodeFast(b []byte) (typ, tenant string, c events.Contact, ok bool) {
	if typ, tenant, c, ok = decodeScan(b); !ok {
		var e contactEvent
		if err := json.Unmarshal(b, &e); err != nil {
			return "", "", events.Contact{}, false
		}
		// events.Decode's checks.
		if e.Type == "" || e.Tenant == "" || e.SchemaVersion > events.SchemaVersion {
			return "", "", events.Contact{}, false
		}
		typ, tenant, c = e.Type, e.Tenant, e.Data
	}
	if typ == events.TypeContactDeleted {
		// Only what a tombstone has.
		c = events.Contact{ID: c.ID, Source: c.Source}
	}
	return typ, tenant, c, true
}

// validContact is what the index checks of every write (events.ErrInvalid
// otherwise): checked when decoding, such an event is skipped rather than
// retried for ever.
func validContact(tenant, source, id string) error {
	if err := events.ValidID(tenant); err != nil {
		return fmt.Errorf("tenant: %w", err)
	}
	if err := events.ValidID(source); err != nil {
		return fmt.Errorf("source: %w", err)
	}
	if id == "" {
		return fmt.Errorf("%w: empty contact id", events.ErrInvalid)
	}
	return nil
}

// write applies a group of events, in one batch per tenant (each in stream
// order), retrying a failed batch whole. When it returns nil every event of
// the group is in the index; an error (ctx ended, attempts ran out) means
// some may not be.
func (a applier) write(ctx context.Context, evs []event) error {
	var tenants []string
	byTenant := map[string][]index.Change{}
	for _, ev := range evs {
		if ev.skip {
			continue
		}
		if _, ok := byTenant[ev.tenant]; !ok {
			tenants = append(tenants, ev.tenant)
		}
		byTenant[ev.tenant] = append(byTenant[ev.tenant], ev.change)
	}
	for _, t := range tenants {
		if err := a.writeTenant(ctx, t, byTenant[t]); err != nil {
			return err
		}
	}
	return nil
}

func (a applier) writeTenant(ctx context.Context, tenant string, changes []index.Change) error {
	idx := a.index(tenant)
	return a.retry(ctx, tenant, len(changes), func(ctx context.Context) error {
		if b, ok := idx.(Batcher); ok {
			return b.ApplyBatch(ctx, tenant, changes)
		}
		for _, c := range changes {
			var err error
			if c.Delete {
				err = idx.Delete(ctx, tenant, c.Entry.Contact.Source, c.Entry.Contact.ID)
			} else {
				err = idx.Upsert(ctx, tenant, c.Entry)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// retry writes n events of tenant with write until it succeeds, ctx ends
// or the attempts run out, waiting longer after each failure.
func (a applier) retry(ctx context.Context, tenant string, n int, write func(context.Context) error) error {
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := write(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if a.attempts > 0 && attempt >= a.attempts {
			return fmt.Errorf("index write of %d events of %s: %w", n, tenant, err)
		}
		a.log.Warn("projector: index write failed, retrying", "tenant", tenant, "events", n, "err", err, "in", backoff)
		sleep(ctx, backoff)
		backoff = min(backoff*2, 5*time.Second)
	}
}
