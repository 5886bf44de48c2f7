package riskfeed_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/nyaruka/phonenumbers"

	"github.com/calldex/calldex/events"
)

// A synthetic hour of calls across many tenants, with the truth known:
// robocallers (many tenants, short unanswered calls, some of them
// answered, some ringing longer, some reaching few tenants), premium-rate
// numbers calling back a few tenants, ordinary callers, and the hard cases
// that must not be flagged: call centres and delivery services calling many
// tenants with real conversations, shared-cost and VoIP numbers of ordinary
// callers, callers often hung up on.

// caller is one synthetic number and whether it should be high risk.
type caller struct {
	number string // E.164
	kind   string
	risky  bool
}

// call is one incoming call of the stream.
type call struct {
	tenant   string
	from     string
	at       time.Time
	answered bool
	dur      time.Duration // talking if answered, else ringing
}

// synthetic is a generated stream.
type synthetic struct {
	tenants []string
	callers []caller
	calls   []call
}

// numbersOf draws n distinct valid numbers of a type and region from its
// example number, varying its last digits.
func numbersOf(rng *rand.Rand, region string, typ phonenumbers.PhoneNumberType, n int, seen map[string]bool) []string {
	ex := phonenumbers.GetExampleNumberForType(region, typ)
	if ex != nil && len(phonenumbers.GetNationalSignificantNumber(ex)) < 6 {
		ex = nil
	}
	if ex == nil {
		return nil // the region has no number of the type
	}
	nsn := phonenumbers.GetNationalSignificantNumber(ex)
	cc := phonenumbers.GetCountryCodeForRegion(region)
	var out []string
	for tries := 0; len(out) < n && tries < 100*n; tries++ {
		b := []byte(nsn)
		for i := len(b) - 4; i < len(b); i++ {
			b[i] = byte('0' + rng.IntN(10))
		}
		e164 := "+" + strconv.Itoa(cc) + string(b)
		pn, err := phonenumbers.Parse(e164, "")
		if err != nil || !phonenumbers.IsValidNumber(pn) || phonenumbers.GetNumberType(pn) != typ || seen[e164] {
			continue
		}
		seen[e164] = true
		out = append(out, e164)
	}
	return out
}

// generate builds the stream of the hour starting at start (on a bucket
// boundary), from seed.
func generate(seed uint64, start time.Time) synthetic {
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	var s synthetic
	for i := range 300 {
		s.tenants = append(s.tenants, fmt.Sprintf("t%03d", i))
	}
	seen := map[string]bool{}
	// Calls start 5 to 50 minutes into the hour, so that the longest ends
	// before the hour is over.
	at := func() time.Time { return start.Add(5*time.Minute + time.Duration(rng.Int64N(int64(45*time.Minute)))) }
	tenant := func() string { return s.tenants[rng.IntN(len(s.tenants))] }
	secs := func(lo, hi int) time.Duration { return time.Duration(lo+rng.IntN(hi-lo+1)) * time.Second }
	add := func(kind string, risky bool, numbers []string, each func(from string)) {
		for _, n := range numbers {
			s.callers = append(s.callers, caller{n, kind, risky})
			each(n)
		}
	}
	mixed := func(n int, typ phonenumbers.PhoneNumberType) []string {
		var out []string
		for _, r := range []string{"CH", "DE", "FR", "GB"} {
			out = append(out, numbersOf(rng, r, typ, n/4, seen)...)
		}
		return out
	}

	// Robocallers: one call per tenant reached, mostly unanswered after a
	// ring or two; a fifth ring longer, some reach only a few tenants.
	add("robocaller", true, mixed(60, phonenumbers.MOBILE), func(from string) {
		reach := 3 + rng.IntN(50)
		long := rng.IntN(5) == 0
		for range reach {
			c := call{tenant: tenant(), from: from, at: at(), dur: secs(1, 4)}
			if long {
				c.dur = secs(6, 20)
			}
			if rng.IntN(100) < 15 {
				c.answered, c.dur = true, secs(1, 6)
			}
			s.calls = append(s.calls, c)
		}
	})
	// Premium-rate numbers: a callback scam or a costly line, a few calls.
	add("premium", true, mixed(20, phonenumbers.PREMIUM_RATE), func(from string) {
		for range 1 + rng.IntN(3) {
			s.calls = append(s.calls, call{tenant: tenant(), from: from, at: at(), answered: rng.IntN(2) == 0, dur: secs(3, 120)})
		}
	})
	// Ordinary callers: one or two tenants, a few calls, mostly answered
	// and long.
	ordinary := func(from string) {
		t := tenant()
		for range 1 + rng.IntN(3) {
			if rng.IntN(4) == 0 {
				t = tenant()
			}
			c := call{tenant: t, from: from, at: at(), answered: rng.IntN(100) < 80, dur: secs(30, 600)}
			if !c.answered {
				c.dur = secs(5, 30)
			}
			s.calls = append(s.calls, c)
		}
	}
	add("ordinary", false, mixed(2000, phonenumbers.FIXED_LINE), ordinary)
	add("ordinary", false, mixed(400, phonenumbers.MOBILE), ordinary)
	add("shared-cost or VoIP", false, append(mixed(40, phonenumbers.SHARED_COST), mixed(40, phonenumbers.VOIP)...), ordinary)
	// Call centres and delivery services: many tenants, real conversations,
	// some calls unanswered.
	add("call centre", false, mixed(40, phonenumbers.FIXED_LINE), func(from string) {
		for range 8 + rng.IntN(40) {
			c := call{tenant: tenant(), from: from, at: at(), answered: rng.IntN(100) < 70, dur: secs(20, 300)}
			if !c.answered {
				c.dur = secs(10, 30)
			}
			s.calls = append(s.calls, c)
		}
	})
	// Callers hung up on: few tenants, short answered calls.
	add("hung up on", false, mixed(40, phonenumbers.MOBILE), func(from string) {
		t := tenant()
		for range 5 + rng.IntN(4) {
			s.calls = append(s.calls, call{tenant: t, from: from, at: at(), answered: true, dur: secs(1, 4)})
		}
	})
	return s
}

// messages are the CALLS messages of the stream, as the ingress publishes
// them: each call's call.lookup (batched per tenant, several per message)
// and its ended or missed call.event.
func (s synthetic) messages(topo events.Topology) []message {
	var out []message
	batches := map[string]*bytes.Buffer{}
	for i, c := range s.calls {
		lookup, _ := events.New(fmt.Sprintf("l%d", i), events.TypeCallLookup, c.tenant, "", c.at,
			events.CallLookup{Dialect: "peoplefone", Number: c.from[1:]})
		line, _ := json.Marshal(lookup)
		b := batches[c.tenant]
		if b == nil {
			b = &bytes.Buffer{}
			batches[c.tenant] = b
		}
		b.Write(append(line, '\n'))
		if b.Len() > 4000 {
			out = append(out, message{topo.CallSubject(c.tenant, "lookup"), append([]byte(nil), b.Bytes()...)})
			b.Reset()
		}
		ev := events.CallEvent{Event: events.CallMissed, CallID: fmt.Sprintf("c%d", i), Direction: "incoming",
			OriginatorNumber: c.from, DestinationNumber: "+41215550000", StartedTime: c.at.Format(time.RFC3339)}
		end := c.at.Add(c.dur)
		if c.answered {
			ev.Event = events.CallEnded
			answered := c.at.Add(5 * time.Second)
			ev.AnsweredTime, end = answered.Format(time.RFC3339), answered.Add(c.dur)
		}
		ev.EndedTime = end.Format(time.RFC3339)
		env, _ := events.New(ev.CallID+"-"+ev.Event, events.TypeCallEvent, c.tenant, "", end, ev)
		data, _ := json.Marshal(env)
		out = append(out, message{topo.CallSubject(c.tenant, ev.Event), data})
	}
	for _, t := range s.tenants {
		if b := batches[t]; b != nil && b.Len() > 0 {
			out = append(out, message{topo.CallSubject(t, "lookup"), b.Bytes()})
		}
	}
	return out
}

type message struct {
	subject string
	data    []byte
}
