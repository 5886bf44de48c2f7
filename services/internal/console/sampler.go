package console

import (
	"context"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// sample is what the overview needs of one gathering of the registry.
// Counters and histograms are cumulative; rates come from two samples.
type sample struct {
	at      time.Time
	lookups float64
	hits    float64
	// buckets are the lookup duration histogram's cumulative counts by
	// dialect, upper bound in seconds.
	buckets map[string][]bucket
	// workflows counts attempts by tenant and outcome (done, retry,
	// failed).
	workflows map[string]map[string]float64
	// syncLag is seconds by "tenant/source", as this process's sync sets
	// it.
	syncLag map[string]float64
	dropped float64
	// dlq is the DLQ's depth (NaN without the worker role here).
	dlq float64
}

type bucket struct {
	le    float64
	count float64
}

// sampler keeps the last hour or so of samples in a ring, taken off the
// lookup path from the registry /metrics serves.
type sampler struct {
	g        prometheus.Gatherer
	interval time.Duration
	mu       sync.Mutex
	ring     []sample
	next     int
	full     bool
}

func newSampler(g prometheus.Gatherer, interval time.Duration, size int) *sampler {
	return &sampler{g: g, interval: interval, ring: make([]sample, size)}
}

// run samples every interval until ctx ends.
func (s *sampler) run(ctx context.Context) error {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	s.take()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			s.take()
		}
	}
}

func (s *sampler) take() {
	families, err := s.g.Gather()
	if err != nil && len(families) == 0 {
		return
	}
	sm := readSample(families, time.Now())
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ring[s.next] = sm
	s.next = (s.next + 1) % len(s.ring)
	s.full = s.full || s.next == 0
}

// samples returns the ring oldest first.
func (s *sampler) samples() []sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.full {
		return append([]sample(nil), s.ring[:s.next]...)
	}
	return append(append([]sample(nil), s.ring[s.next:]...), s.ring[:s.next]...)
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func readSample(families []*dto.MetricFamily, at time.Time) sample {
	sm := sample{at: at, buckets: map[string][]bucket{}, workflows: map[string]map[string]float64{},
		syncLag: map[string]float64{}, dlq: math.NaN()}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch f.GetName() {
			case "calldex_lookups_total":
				v := m.GetCounter().GetValue()
				sm.lookups += v
				if label(m, "result") == "hit" {
					sm.hits += v
				}
			case "calldex_lookup_duration_seconds":
				d := label(m, "dialect")
				for _, b := range m.GetHistogram().GetBucket() {
					sm.buckets[d] = append(sm.buckets[d], bucket{b.GetUpperBound(), float64(b.GetCumulativeCount())})
				}
				sm.buckets[d] = append(sm.buckets[d], bucket{math.Inf(1), float64(m.GetHistogram().GetSampleCount())})
			case "calldex_workflows_total":
				t := label(m, "tenant")
				if sm.workflows[t] == nil {
					sm.workflows[t] = map[string]float64{}
				}
				sm.workflows[t][label(m, "outcome")] += m.GetCounter().GetValue()
			case "calldex_sync_lag_seconds":
				sm.syncLag[label(m, "tenant")+"/"+label(m, "source")] = m.GetGauge().GetValue()
			case "calldex_events_dropped_total":
				sm.dropped += m.GetCounter().GetValue()
			case "calldex_dlq_messages":
				sm.dlq = m.GetGauge().GetValue()
			}
		}
	}
	return sm
}

// quantile estimates the q-quantile of the observations between two
// cumulative histograms (as PromQL's histogram_quantile: linear within a
// bucket); NaN when none fell in between.
func quantile(q float64, from, to []bucket) float64 {
	if len(to) == 0 {
		return math.NaN()
	}
	delta := make([]bucket, len(to))
	for i, b := range to {
		delta[i] = b
		if i < len(from) {
			delta[i].count -= from[i].count
		}
	}
	total := delta[len(delta)-1].count
	if total <= 0 {
		return math.NaN()
	}
	rank := q * total
	i := sort.Search(len(delta), func(i int) bool { return delta[i].count >= rank })
	if i == len(delta)-1 && math.IsInf(delta[i].le, 1) {
		// Beyond the last finite bucket: its bound is the best estimate.
		if i == 0 {
			return math.NaN()
		}
		return delta[i-1].le
	}
	lo, below := 0.0, 0.0
	if i > 0 {
		lo, below = delta[i-1].le, delta[i-1].count
	}
	in := delta[i].count - below
	if in <= 0 {
		return delta[i].le
	}
	return lo + (delta[i].le-lo)*(rank-below)/in
}

// workflowCount sums a tenant's ("" for all) counts of an outcome.
func (s sample) workflowCount(tenant, outcome string) float64 {
	var n float64
	for t, byOutcome := range s.workflows {
		if tenant == "" || t == tenant {
			n += byOutcome[outcome]
		}
	}
	return n
}

// mergedBuckets is every dialect's histogram together ("" ) or one's.
func (s sample) mergedBuckets(dialect string) []bucket {
	if dialect != "" {
		return s.buckets[dialect]
	}
	var out []bucket
	for _, bs := range s.buckets {
		if out == nil {
			out = append([]bucket(nil), bs...)
			continue
		}
		for i := range out {
			if i < len(bs) {
				out[i].count += bs[i].count
			}
		}
	}
	return out
}
