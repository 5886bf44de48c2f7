// Package metrics holds Calldex's Prometheus collectors, registered on one
// registry per process so tests can build as many as they like.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the collectors shared by the components of one process.
type Metrics struct {
	Registry *prometheus.Registry

	LookupSeconds *prometheus.HistogramVec // by dialect
	Lookups       *prometheus.CounterVec   // by dialect, result (hit, miss, error)
	// LookupTimeouts counts, by dialect, lookups whose index did not answer
	// within the tenant's lookupTimeout (lookup.ErrTimeout); each is also
	// an error in Lookups.
	LookupTimeouts *prometheus.CounterVec
	// LookupRisk counts, by dialect and level (signal, high), answers that
	// carried a caller risk signal.
	LookupRisk    *prometheus.CounterVec
	EventsDropped *prometheus.CounterVec // by stream: buffer full
	EventsFailed  *prometheus.CounterVec // by stream: NATS refused
	HTTPRequests  *prometheus.CounterVec // by route, code

	// CRM sync (workflows/crmsync), by tenant and source. The gauges are
	// set by the replica that holds a source's lease, and removed by a
	// replica that loses it, so that each source has one series.
	SyncLagSeconds          *prometheus.GaugeVec   // now − newest change time seen
	SyncSinceSuccessSeconds *prometheus.GaugeVec   // now − end of the last successful sync run
	SyncLeader              *prometheus.GaugeVec   // 1 while this replica holds the lease
	SyncContacts            *prometheus.CounterVec // by tenant, source, op (upsert, delete)
	SyncErrors              *prometheus.CounterVec // by tenant, source, kind
	// CRMWebhooks counts CRM change notifications by crm (hubspot,
	// pipedrive) and result (accepted, unauthorized, replayed, throttled,
	// malformed, unknown, failed).
	CRMWebhooks *prometheus.CounterVec
	// AuthFailures counts refused credentials by kind (tenant_credential,
	// admin_token, appconnect_api_key, webhook_signature, webhook_replay).
	AuthFailures *prometheus.CounterVec

	// Workflows counts workflow attempts' outcomes by tenant, workflow and
	// outcome: done, retry (a transient failure, tried again) or failed
	// (dead-lettered).
	Workflows *prometheus.CounterVec
	// WorkflowAttempts is, by workflow, how many attempts a workflow took
	// until done or dead-lettered.
	WorkflowAttempts *prometheus.HistogramVec
}

// Gauge registers a gauge read at each scrape (a stream's depth, a
// breaker's state); read must answer quickly.
func (m *Metrics) Gauge(name, help string, read func() float64) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, read))
}

// New registers every collector on a fresh registry.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		LookupSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "calldex_lookup_duration_seconds",
			Help: "Time to answer a lookup, from request to response, by dialect.",
			// The ringing path: sub-millisecond buckets matter, a second is failure.
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}, []string{"dialect"}),
		Lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "calldex_lookups_total",
			Help: "Lookups by dialect and result (hit, miss, error).",
		}, []string{"dialect", "result"}),
		LookupTimeouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "calldex_lookup_timeouts_total",
			Help: "Lookups answered with an error because the index did not answer within the tenant's lookupTimeout, by dialect.",
		}, []string{"dialect"}),
		LookupRisk: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "calldex_lookup_risk_total",
			Help: "Lookup answers that carried a caller risk signal, by dialect and level (signal: a score below the tenant's high threshold; high).",
		}, []string{"dialect", "level"}),
		EventsDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "calldex_events_dropped_total",
			Help: "Events not published because the buffer was full.",
		}, []string{"stream"}),
		EventsFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "calldex_events_failed_total",
			Help: "Events NATS did not acknowledge.",
		}, []string{"stream"}),
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "calldex_http_requests_total",
			Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		SyncLagSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "calldex_sync_lag_seconds",
			Help: "Seconds between now and the newest CRM change a source's sync has seen, by tenant and source.",
		}, []string{"tenant", "source"}),
		SyncSinceSuccessSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "calldex_sync_since_success_seconds",
			Help: "Seconds since a source's last successful sync run (all pages read, published and acked, cursor stored).",
		}, []string{"tenant", "source"}),
		SyncLeader: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "calldex_sync_leader",
			Help: "1 while this replica holds the sync lease of a source.",
		}, []string{"tenant", "source"}),
		SyncContacts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "calldex_sync_contacts_total",
			Help: "Contact events published by the CRM sync, by tenant, source and op (upsert, delete).",
		}, []string{"tenant", "source", "op"}),
		SyncErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "calldex_sync_errors_total",
			Help: "CRM sync failures by tenant, source and kind (transient, rate_limited, permanent, publish, cursor, lease, build, invalid_contact).",
		}, []string{"tenant", "source", "kind"}),
		CRMWebhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "calldex_crm_webhooks_total",
			Help: "CRM change notifications received, by crm and result.",
		}, []string{"crm", "result"}),
		AuthFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "calldex_auth_failures_total",
			Help: "Refused credentials by kind (tenant_credential, admin_token, appconnect_api_key, webhook_signature, webhook_replay).",
		}, []string{"kind"}),
	}
	m.Workflows = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "calldex_workflows_total",
		Help: "Workflow attempts by outcome: done, retry (transient failure), failed (dead-lettered).",
	}, []string{"tenant", "workflow", "outcome"})
	m.WorkflowAttempts = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "calldex_workflow_attempts",
		Help:    "Attempts a workflow took until done or dead-lettered.",
		Buckets: []float64{1, 2, 3, 5, 8, 13, 21},
	}, []string{"workflow"})
	m.Registry.MustRegister(m.Workflows, m.WorkflowAttempts)
	m.Registry.MustRegister(m.LookupSeconds, m.Lookups, m.LookupTimeouts, m.LookupRisk, m.EventsDropped, m.EventsFailed, m.HTTPRequests,
		m.SyncLagSeconds, m.SyncSinceSuccessSeconds, m.SyncLeader, m.SyncContacts, m.SyncErrors, m.CRMWebhooks, m.AuthFailures,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// GaugesFunc registers a gauge family with labels whose members are all
// read at each scrape: read calls set once per member.
func (m *Metrics) GaugesFunc(name, help string, labels []string, read func(set func(v float64, labelValues ...string))) {
	m.Registry.MustRegister(&gaugesFunc{desc: prometheus.NewDesc(name, help, labels, nil), read: read})
}

type gaugesFunc struct {
	desc *prometheus.Desc
	read func(set func(v float64, labelValues ...string))
}

func (g *gaugesFunc) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g *gaugesFunc) Collect(ch chan<- prometheus.Metric) {
	g.read(func(v float64, labelValues ...string) {
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, v, labelValues...)
	})
}
