package contact

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/calldex/calldex/events"
)

// Publisher writes contact changes to CONTACTS. Every writer — admin API,
// import, CRM sync, webhooks — goes through it; the projector does the rest.
type Publisher struct {
	js   jetstream.JetStream
	topo events.Topology
}

// NewPublisher builds a publisher on a ready JetStream client.
func NewPublisher(js jetstream.JetStream, topo events.Topology) *Publisher {
	return &Publisher{js: js, topo: topo}
}

// Upsert publishes the latest state of a contact and returns its stream
// sequence once JetStream has stored it.
func (p *Publisher) Upsert(ctx context.Context, tenant string, c events.Contact) (uint64, error) {
	subj, data, err := p.upsertMsg(tenant, c)
	if err != nil {
		return 0, err
	}
	ack, err := p.js.Publish(ctx, subj, data)
	if err != nil {
		return 0, fmt.Errorf("publish contact %s/%s/%s: %w", tenant, c.Source, c.ID, err)
	}
	return ack.Sequence, nil
}

// Delete publishes a tombstone.
func (p *Publisher) Delete(ctx context.Context, tenant, source, id string) (uint64, error) {
	env, err := events.New(NewID(), events.TypeContactDeleted, tenant, source, time.Now(), events.ContactDeleted{ID: id, Source: source})
	if err != nil {
		return 0, err
	}
	data, err := json.Marshal(env)
	if err != nil {
		return 0, err
	}
	ack, err := p.js.Publish(ctx, p.topo.ContactSubject(tenant, source, id), data)
	if err != nil {
		return 0, fmt.Errorf("publish tombstone %s/%s/%s: %w", tenant, source, id, err)
	}
	return ack.Sequence, nil
}

// UpsertMany publishes contacts with many acks in flight and returns once
// every one is acked, with the highest sequence. On error some contacts may
// be stored: the caller reports failure and may safely send them all again.
func (p *Publisher) UpsertMany(ctx context.Context, tenant string, cs []events.Contact) (uint64, error) {
	futures := make([]jetstream.PubAckFuture, 0, len(cs))
	for _, c := range cs {
		subj, data, err := p.upsertMsg(tenant, c)
		if err != nil {
			return 0, err
		}
		f, err := p.js.PublishAsync(subj, data)
		if err != nil {
			return 0, fmt.Errorf("publish contact %s/%s/%s: %w", tenant, c.Source, c.ID, err)
		}
		futures = append(futures, f)
	}
	var last uint64
	for _, f := range futures {
		select {
		case ack := <-f.Ok():
			last = max(last, ack.Sequence)
		case err := <-f.Err():
			return 0, fmt.Errorf("publish contacts of %s: %w", tenant, err)
		case <-ctx.Done():
			return 0, fmt.Errorf("publish contacts of %s: %w", tenant, ctx.Err())
		}
	}
	return last, nil
}

// upsertMsg encodes a contact.upserted without reflection: a sync
// publishes one per row.
func (p *Publisher) upsertMsg(tenant string, c events.Contact) (string, []byte, error) {
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = time.Now().UTC()
	}
	data, err := c.AppendJSON(make([]byte, 0, 512))
	if err != nil {
		return "", nil, fmt.Errorf("marshal %s payload: %w", events.TypeContactUpserted, err)
	}
	env := events.Envelope{ID: NewID(), Type: events.TypeContactUpserted, Tenant: tenant, Source: c.Source, Time: time.Now().UTC(),
		SchemaVersion: events.SchemaVersion, Data: data}
	return p.topo.ContactSubject(tenant, c.Source, c.ID), env.AppendJSON(make([]byte, 0, len(data)+160)), nil
}

// NewID returns a unique event id, 24 hex digits: 48 random bits drawn
// once per process, then a counter that starts at a random value. Every
// lookup records an event, and reading the system's randomness for each
// cost more than the rest of recording it.
func NewID() string {
	var b [12]byte
	copy(b[:6], idPrefix[:])
	n := idCounter.Add(1)
	for i := 11; i >= 6; i-- {
		b[i] = byte(n)
		n >>= 8
	}
	return hex.EncodeToString(b[:])
}

var (
	idPrefix  [6]byte
	idCounter atomic.Uint64
)

func init() {
	var seed [8]byte
	_, _ = rand.Read(idPrefix[:])
	_, _ = rand.Read(seed[:])
	idCounter.Store(binary.BigEndian.Uint64(seed[:]))
}
