package lookup

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
	// series holds each dialect's *dialectSeries; subjects each tenant's
	// call.lookup subject.
	series, subjects sync.Map
}

// RiskCounter counts callers in memory (risk.Memory): it runs on the
// ringing path.
type RiskCounter interface {
	Count(o risk.Observation)
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

// lookupSubject is the tenant's CallSubject for lookups, built once.
func (r *Recorder) lookupSubject(tenant string) string {
	if s, ok := r.subjects.Load(tenant); ok {
		return s.(string)
	}
	s := r.topology.CallSubject(tenant, "lookup")
	r.subjects.Store(tenant, s)
	return s
}

// A lookup's outcome, as the lookups metric labels it.
const (
	hit = iota
	miss
	failed
)

var resultLabels = [...]string{hit: "hit", miss: "miss", failed: "error"}

// dialectSeries are a dialect's lookup metrics, resolved once: finding a
// series by its label values hashes them, on every lookup.
type dialectSeries struct {
	seconds              prometheus.Observer
	results              [len(resultLabels)]prometheus.Counter
	timeouts             prometheus.Counter
	riskSignal, riskHigh prometheus.Counter
}

func (r *Recorder) dialectMetrics(dialect string) *dialectSeries {
	if m, ok := r.series.Load(dialect); ok {
		return m.(*dialectSeries)
	}
	m := &dialectSeries{seconds: r.metrics.LookupSeconds.WithLabelValues(dialect), timeouts: r.metrics.LookupTimeouts.WithLabelValues(dialect),
		riskSignal: r.metrics.LookupRisk.WithLabelValues(dialect, "signal"), riskHigh: r.metrics.LookupRisk.WithLabelValues(dialect, "high")}
	for i, l := range resultLabels {
		m.results[i] = r.metrics.Lookups.WithLabelValues(dialect, l)
	}
	got, _ := r.series.LoadOrStore(dialect, m)
	return got.(*dialectSeries)
}

// Service is the lookup core the recorder runs.
func (r *Recorder) Service() *Service { return r.lookups }

// Lookup looks number up for a dialect; dnid is the number called, when the
// dialect tells it. The error is the lookup core's.
func (r *Recorder) Lookup(ctx context.Context, t *tenant.Tenant, dialect, number, dnid string) (Result, error) {
	start := time.Now()
	res, err := r.lookups.Lookup(ctx, t, number)
	took := time.Since(start)
	result := miss
	switch {
	case err != nil:
		result = failed
		r.log.Error("lookup failed", "tenant", t.ID, "dialect", dialect, "err", err)
	case len(res.Matches) > 0:
		result = hit
	}
	m := r.dialectMetrics(dialect)
	m.seconds.Observe(took.Seconds())
	m.results[result].Inc()
	if errors.Is(err, ErrTimeout) {
		m.timeouts.Inc()
	}
	switch {
	case res.Risk.High:
		m.riskHigh.Inc()
	case !res.Risk.IsZero():
		m.riskSignal.Inc()
	}
	e164 := res.E164()
	if err == nil && r.risk != nil && e164 != "" {
		// Counted for every tenant: one that turns risk off for its own
		// answers still tells everyone else.
		r.risk.Count(risk.Rang(e164, t.ID, start, t.BusinessHours()))
	}
	if err == nil && r.events != nil {
		ev := events.CallLookup{Dialect: dialect, Number: number, E164: e164, DNID: dnid, Hits: len(res.Matches), Latency: took}
		if len(res.Matches) > 0 {
			ev.ContactID = res.Matches[0].Contact.ID
		}
		r.events.Publish(r.lookupSubject(t.ID),
			events.Envelope{ID: contact.NewID(), Type: events.TypeCallLookup, Tenant: t.ID, Time: start.UTC(), SchemaVersion: events.SchemaVersion}, ev)
	}
	return res, err
}
