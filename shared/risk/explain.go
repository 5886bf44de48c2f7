package risk

import (
	"cmp"
	"context"
	"slices"
)

// Explanation is why a number has its score: its counts, its facts, the
// thresholds applied and every rule with whether it fired.
type Explanation struct {
	Number     string     `json:"number"`
	Stats      Stats      `json:"stats"`
	Facts      Facts      `json:"facts"`
	Thresholds Thresholds `json:"thresholds"`
	Assessment
	Rules []RuleOutcome `json:"rules"`
}

// RuleOutcome is a rule and whether it fired.
type RuleOutcome struct {
	Rule
	Fired bool `json:"fired"`
}

// Explain scores number (E.164) from the store's current counts with
// thresholds t (zero fields are defaults).
func Explain(ctx context.Context, s Store, number string, t Thresholds) (Explanation, error) {
	st, err := s.Stats(ctx, number)
	if err != nil {
		return Explanation{}, err
	}
	ex := Explanation{Number: number, Stats: st, Facts: FactsOf(number, ""), Thresholds: t.WithDefaults()}
	ex.Assessment = Score(st, ex.Facts, t)
	for _, r := range Rules {
		ex.Rules = append(ex.Rules, RuleOutcome{r, ex.Reasons.Has(r.Reason)})
	}
	return ex, nil
}

// Ranked is a number's counts and score.
type Ranked struct {
	NumberStats
	Assessment
}

// Riskiest scores the store's busiest numbers (at most scan of them) with
// thresholds t and returns the n with the highest scores, the busiest first
// among equals; numbers without a signal are left out.
func Riskiest(ctx context.Context, s Store, scan, n int, t Thresholds) ([]Ranked, error) {
	top, err := s.Top(ctx, scan)
	if err != nil {
		return nil, err
	}
	out := make([]Ranked, 0, len(top))
	for i, ns := range top {
		a := Score(ns.Stats, FactsOf(ns.Number, ""), t)
		if a.IsZero() {
			continue
		}
		out = append(out, Ranked{top[i], a})
	}
	// Stable: Top's order (busiest first) breaks ties.
	slices.SortStableFunc(out, func(a, b Ranked) int { return cmp.Compare(b.Score, a.Score) })
	return out[:min(n, len(out))], nil
}
