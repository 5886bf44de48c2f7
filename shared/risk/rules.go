package risk

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"time"
)

// Reason is one rule that added to a score.
type Reason uint8

// The reasons, in the order answers list them.
const (
	ManyTenants Reason = iota
	ShortCalls
	Unanswered
	Burst
	AfterHours
	PremiumRate
	SharedCost
	VoIP
	InvalidNumber
	numReasons
)

// Rule is a documented scoring rule: the reason code answers carry, the
// points it adds and when it applies (with the default thresholds).
type Rule struct {
	Reason Reason `json:"-"`
	Code   string `json:"code"`
	Points int    `json:"points"`
	When   string `json:"when"`
}

// Rules lists every rule, in Reason order; Score applies exactly these.
var Rules = [numReasons]Rule{
	{ManyTenants, "many_tenants", 40, "called at least minTenants (5) distinct tenants in the last hour"},
	{ShortCalls, "short_calls", 25, "of at least minCalls (5) finished calls, a share of shortRatio (0.6) or more lasted under 5 s"},
	{Unanswered, "unanswered", 20, "of at least minCalls (5) finished calls, a share of unansweredRatio (0.8) or more was not answered"},
	{Burst, "burst", 15, "at least burstCalls (30) calls looked up in the last hour, all tenants together"},
	{AfterHours, "after_hours", 10, "of at least minCalls (5) calls, a share of afterHoursRatio (0.5) or more rang outside the called tenant's business hours"},
	{PremiumRate, "premium_rate", 70, "the number is a premium-rate number"},
	{SharedCost, "shared_cost", 30, "the number is a shared-cost number"},
	{VoIP, "voip", 15, "the number is a VoIP number"},
	{InvalidNumber, "invalid_number", 25, "the number has a possible length but is no valid number of any region (spoofed or unassigned)"},
}

// Code is the reason's code in answers (many_tenants, premium_rate, …).
func (r Reason) Code() string { return Rules[r].Code }

// Reasons is a set of reasons.
type Reasons uint16

// Has tells whether r is in the set.
func (rs Reasons) Has(r Reason) bool { return rs&(1<<r) != 0 }

func (rs Reasons) with(r Reason) Reasons { return rs | 1<<r }

// Codes lists the codes of the set, in Reason order.
func (rs Reasons) Codes() []string {
	out := make([]string, 0, bits.OnesCount16(uint16(rs)))
	for r := range numReasons {
		if rs.Has(r) {
			out = append(out, r.Code())
		}
	}
	return out
}

// AppendCodes appends the codes of the set separated by commas, without
// allocating (the lookup answers write it).
func (rs Reasons) AppendCodes(b []byte) []byte {
	first := true
	for r := range numReasons {
		if !rs.Has(r) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, r.Code()...)
	}
	return b
}

// MarshalJSON writes the set as an array of codes.
func (rs Reasons) MarshalJSON() ([]byte, error) {
	b := []byte{'['}
	for i, c := range rs.Codes() {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(append(append(b, '"'), c...), '"')
	}
	return append(b, ']'), nil
}

// UnmarshalJSON reads an array of codes; unknown codes are ignored (a
// newer server's rules).
func (rs *Reasons) UnmarshalJSON(b []byte) error {
	var codes []string
	if err := json.Unmarshal(b, &codes); err != nil {
		return fmt.Errorf("risk reasons: %w", err)
	}
	*rs = 0
	for _, c := range codes {
		for r := range numReasons {
			if Rules[r].Code == c {
				*rs = rs.with(r)
			}
		}
	}
	return nil
}

// Defaults of Thresholds.
const (
	DefaultHigh            = 70
	DefaultMinTenants      = 5
	DefaultMinCalls        = 5
	DefaultShortRatio      = 0.6
	DefaultUnansweredRatio = 0.8
	DefaultAfterHoursRatio = 0.5
	DefaultBurstCalls      = 30
)

// ShortCall is the duration under which a finished call counts as short:
// one-ring and hang-up-at-once calls.
const ShortCall = 5 * time.Second

// Thresholds are a tenant's settings of the rules (tenant config "risk:");
// zero fields take the defaults.
type Thresholds struct {
	// High is the score from which a caller is high risk (default 70).
	High int `yaml:"high" json:"high"`
	// MinTenants is how many distinct tenants make many_tenants (5).
	MinTenants int `yaml:"minTenants" json:"minTenants"`
	// MinCalls is how many calls the ratio rules need (5).
	MinCalls int `yaml:"minCalls" json:"minCalls"`
	// ShortRatio is the share of short calls of short_calls (0.6).
	ShortRatio float64 `yaml:"shortRatio" json:"shortRatio"`
	// UnansweredRatio is the share of unanswered calls of unanswered (0.8).
	UnansweredRatio float64 `yaml:"unansweredRatio" json:"unansweredRatio"`
	// AfterHoursRatio is the share of calls outside business hours of
	// after_hours (0.5).
	AfterHoursRatio float64 `yaml:"afterHoursRatio" json:"afterHoursRatio"`
	// BurstCalls is how many calls in the hour make burst (30).
	BurstCalls int `yaml:"burstCalls" json:"burstCalls"`
}

// WithDefaults fills the zero fields with the defaults.
func (t Thresholds) WithDefaults() Thresholds {
	orInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	orFloat := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	orInt(&t.High, DefaultHigh)
	orInt(&t.MinTenants, DefaultMinTenants)
	orInt(&t.MinCalls, DefaultMinCalls)
	orInt(&t.BurstCalls, DefaultBurstCalls)
	orFloat(&t.ShortRatio, DefaultShortRatio)
	orFloat(&t.UnansweredRatio, DefaultUnansweredRatio)
	orFloat(&t.AfterHoursRatio, DefaultAfterHoursRatio)
	return t
}

// FieldError is a problem of one setting (its YAML name).
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + " " + e.Message }

// Validate reports every out-of-range field at once (zero means default),
// each a *FieldError.
func (t Thresholds) Validate() error {
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, &FieldError{field, fmt.Sprintf(format, a...)})
	}
	if t.High < 0 || t.High > 100 {
		bad("high", "%d must be between 1 and 100", t.High)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"minTenants", t.MinTenants}, {"minCalls", t.MinCalls}, {"burstCalls", t.BurstCalls}} {
		if f.v < 0 || f.v == 1 {
			bad(f.name, "%d must be at least 2", f.v)
		}
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"shortRatio", t.ShortRatio}, {"unansweredRatio", t.UnansweredRatio}, {"afterHoursRatio", t.AfterHoursRatio}} {
		if f.v < 0 || f.v > 1 {
			bad(f.name, "%g must be between 0 and 1", f.v)
		}
	}
	return errors.Join(errs...)
}

// Assessment is a caller's score and the reasons for it.
type Assessment struct {
	// Score is 0 (no signal) to 100.
	Score int `json:"score"`
	// Reasons are the rules that added to it.
	Reasons Reasons `json:"reasons"`
	// High is set when Score reaches the tenant's High threshold.
	High bool `json:"high"`
}

// IsZero tells that there is no signal: answers then stay as without risk.
func (a Assessment) IsZero() bool { return a.Score == 0 }

// Score applies Rules to a number's behaviour and facts with thresholds t
// (zero fields are defaults).
func Score(s Stats, f Facts, t Thresholds) Assessment {
	t = t.WithDefaults()
	var rs Reasons
	ratio := func(n, of int, min float64) bool { return of > 0 && float64(n) >= min*float64(of) }
	if s.Tenants >= t.MinTenants {
		rs = rs.with(ManyTenants)
	}
	if s.Finished >= t.MinCalls {
		if ratio(s.Short, s.Finished, t.ShortRatio) {
			rs = rs.with(ShortCalls)
		}
		if ratio(s.Finished-s.Answered, s.Finished, t.UnansweredRatio) {
			rs = rs.with(Unanswered)
		}
	}
	if s.Calls >= t.BurstCalls {
		rs = rs.with(Burst)
	}
	if s.Calls >= t.MinCalls && ratio(s.AfterHours, s.Calls, t.AfterHoursRatio) {
		rs = rs.with(AfterHours)
	}
	switch f.Type {
	case TypePremiumRate:
		rs = rs.with(PremiumRate)
	case TypeSharedCost:
		rs = rs.with(SharedCost)
	case TypeVoIP:
		rs = rs.with(VoIP)
	}
	if f.Known && !f.Valid && f.Possible {
		rs = rs.with(InvalidNumber)
	}
	score := 0
	for r := range numReasons {
		if rs.Has(r) {
			score += Rules[r].Points
		}
	}
	score = min(score, 100)
	return Assessment{Score: score, Reasons: rs, High: score > 0 && score >= t.High}
}
