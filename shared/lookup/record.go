package lookup

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/contact"
	"github.com/calldex/calldex/shared/metrics"
	"github.com/calldex/calldex/shared/risk"
	"github.com/calldex/calldex/shared/tenant"
)

// EventPublisher queues fire-and-forget events (eventpub.Async).
type EventPublisher interface {
	Publish(subject string, env events.Envelope, ev events.CallLookup) bool
}

// Recorder runs lookups for the dialects and records each one the same
// way: its duration and outcome in metrics, and a call.lookup event queued
// without waiting.
type Recorder struct {
	lookups  *Service
	metrics  *metrics.Metrics
	events   EventPublisher
	topology events.Topology
	log      *slog.Logger
	// risk counts each answered lookup's caller (CountRisk); nil: the
	// risk feed counts them from CALLS.
	risk RiskCounter
}

// RiskCounter counts callers (a risk.Store that answers from memory: it
// runs on the ringing path).
type RiskCounter interface {
	Record(ctx context.Context, obs []risk.Observation) error
}

// CountRisk counts the caller of every answered lookup in c, as a call
// ringing at its tenant. It is for a store in this process (the
// all-in-one's risk.Memory), whose feed then consumes only finished calls
// (riskfeed.Config.CallsOnly): counting here spares the feed reading
// every call.lookup back from CALLS beside the lookups.
func (r *Recorder) CountRisk(c RiskCounter) *Recorder {
	r.risk = c
	return r
}

// NewRecorder records lookups of svc; events may be nil (no call.lookup
// events, as in tests of one dialect).
func NewRecorder(svc *Service, m *metrics.Metrics, pub EventPublisher, topo events.Topology, log *slog.Logger) *Recorder {
	if log == nil {
		log = slog.Default()
	}
	return &Recorder{lookups: svc, metrics: m, events: pub, topology: topo, log: log}
}

// Service is the lookup core the recorder runs.
func (r *Recorder) Service() *Service { return r.lookups }

// Lookup looks number up for a dialect; dnid is the number called, when the
// dialect tells it. The error is the lookup core's.
func (r *Recorder) Lookup(ctx context.Context, t *tenant.Tenant, dialect, number, dnid string) (Result, error) {
	start := time.Now()
	res, err := r.lookups.Lookup(ctx, t, number)
	took := time.Since(start)
	result := "miss"
	switch {
	case err != nil:
		result = "error"
		r.log.Error("lookup failed", "tenant", t.ID, "dialect", dialect, "err", err)
	case len(res.Matches) > 0:
		result = "hit"
	}
	r.metrics.LookupSeconds.WithLabelValues(dialect).Observe(took.Seconds())
	r.metrics.Lookups.WithLabelValues(dialect, result).Inc()
	if errors.Is(err, ErrTimeout) {
		r.metrics.LookupTimeouts.WithLabelValues(dialect).Inc()
	}
	e164 := res.E164()
	if err == nil && r.risk != nil && e164 != "" {
		// Counted for every tenant: one that turns risk off for its own
		// answers still tells everyone else.
		if rerr := r.risk.Record(ctx, []risk.Observation{risk.Rang(e164, t.ID, start, t.BusinessHours())}); rerr != nil {
			r.log.Warn("risk count failed", "tenant", t.ID, "err", rerr)
		}
	}
	if err == nil && r.events != nil {
		ev := events.CallLookup{Dialect: dialect, Number: number, E164: e164, DNID: dnid, Hits: len(res.Matches), Latency: took}
		if len(res.Matches) > 0 {
			ev.ContactID = res.Matches[0].Contact.ID
		}
		r.events.Publish(r.topology.CallSubject(t.ID, "lookup"),
			events.Envelope{ID: contact.NewID(), Type: events.TypeCallLookup, Tenant: t.ID, Time: start.UTC(), SchemaVersion: events.SchemaVersion}, ev)
	}
	return res, err
}
