package risk

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Observation is what one event tells of a number: a call ringing at a
// tenant (a lookup) or a call that finished there. It holds no contact data.
type Observation struct {
	// Number is the caller in E.164 form.
	Number string
	// Tenant is the tenant called; stores keep only how many distinct
	// tenants a number called.
	Tenant string
	At     time.Time
	// Call: a call rang (a lookup); AfterHours tells whether it rang
	// outside the tenant's business hours.
	Call       bool
	AfterHours bool
	// Finished: a call ended or was missed; Answered and Short (under
	// ShortCall) describe it.
	Finished bool
	Answered bool
	Short    bool
}

// Rang is what a lookup tells: a call from number rang at tenant at at,
// inside its business hours or not.
func Rang(number, tenant string, at time.Time, hours BusinessHours) Observation {
	return Observation{Number: number, Tenant: tenant, At: at, Call: true, AfterHours: hours.Outside(at)}
}

// Stats are a number's counts over the window, all tenants together.
type Stats struct {
	Tenants    int `json:"tenants"`
	Calls      int `json:"calls"`
	AfterHours int `json:"afterHours"`
	Finished   int `json:"finished"`
	Answered   int `json:"answered"`
	Short      int `json:"short"`
}

// NumberStats are a number's Stats.
type NumberStats struct {
	Number string `json:"number"`
	Stats
}

// Store keeps counts per number over a sliding window. Implementations:
// Redis (shared by every process) and Memory (the embedded mode); one
// conformance suite (risktest) runs against both.
type Store interface {
	// Record adds observations; those older than the window are ignored.
	Record(ctx context.Context, obs []Observation) error
	// Stats returns a number's counts over the window ending now.
	Stats(ctx context.Context, number string) (Stats, error)
	// Top returns up to n numbers with the most observations in the
	// window, busiest first.
	Top(ctx context.Context, n int) ([]NumberStats, error)
	// Forget drops every count of a number (an erasure); it reports
	// whether there were any.
	Forget(ctx context.Context, number string) (bool, error)
}

// Defaults of Window.
const (
	DefaultWindow     = time.Hour
	DefaultBucket     = 5 * time.Minute
	DefaultMaxNumbers = 200_000
	DefaultMaxTop     = 10_000
)

// Window says how counts are kept: in buckets of Bucket, summed over the
// last Length. Counts older than that expire.
type Window struct {
	Length time.Duration
	Bucket time.Duration
	// MaxNumbers bounds the numbers a Memory store counts at once
	// (default 200,000); past it, new numbers are not counted until old
	// ones expire.
	MaxNumbers int
	// MaxTop bounds the busiest numbers the Redis store keeps per bucket
	// for Top (default 10,000): the heavy hitters; quieter numbers keep
	// their counts but Top does not list them. (Memory ranks them all.)
	MaxTop int
	// Now is the clock (default time.Now); tests move it.
	Now func() time.Time
}

// ErrInvalidWindow: a Window whose bucket does not divide its length.
var ErrInvalidWindow = errors.New("risk: invalid window")

func (w Window) withDefaults() (Window, error) {
	if w.Length == 0 {
		w.Length = DefaultWindow
	}
	if w.Bucket == 0 {
		w.Bucket = DefaultBucket
	}
	if w.MaxNumbers == 0 {
		w.MaxNumbers = DefaultMaxNumbers
	}
	if w.MaxTop == 0 {
		w.MaxTop = DefaultMaxTop
	}
	if w.Now == nil {
		w.Now = time.Now
	}
	if w.Bucket <= 0 || w.Length < w.Bucket || w.Length%w.Bucket != 0 {
		return w, fmt.Errorf("%w: bucket %s must divide length %s", ErrInvalidWindow, w.Bucket, w.Length)
	}
	return w, nil
}

// buckets is how many buckets the window spans.
func (w Window) buckets() int64 { return int64(w.Length / w.Bucket) }

// bucket is the bucket of t.
func (w Window) bucket(t time.Time) int64 { return t.UnixNano() / int64(w.Bucket) }

// live tells whether bucket b is in the window ending in bucket cur.
func (w Window) live(b, cur int64) bool { return b <= cur && b > cur-w.buckets() }

// counts are one bucket's counts of a number.
type counts struct{ calls, afterHours, finished, answered, short int }

func (c *counts) add(o Observation) {
	if o.Call {
		c.calls++
		if o.AfterHours {
			c.afterHours++
		}
	}
	if o.Finished {
		c.finished++
		if o.Answered {
			c.answered++
		}
		if o.Short {
			c.short++
		}
	}
}

func (s *Stats) add(c counts) {
	s.Calls += c.calls
	s.AfterHours += c.afterHours
	s.Finished += c.finished
	s.Answered += c.answered
	s.Short += c.short
}

// activity is what Top ranks by.
func (c counts) activity() int { return c.calls + c.finished }
