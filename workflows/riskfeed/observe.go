package riskfeed

import (
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/phone"
	"github.com/calldex/calldex/shared/risk"
)

// Observe turns CALLS events into observations of callers' numbers in
// E.164 form: a call.lookup is a call ringing at its tenant; an incoming
// call.event that ended or was missed is a finished call, short when it
// lasted (talking if answered, else ringing) under risk.ShortCall. Events
// of unknown tenants, outgoing calls and numbers with no valid reading
// tell nothing.
func Observe(envs []events.Envelope, tenants Tenants) []risk.Observation {
	var out []risk.Observation
	for _, env := range envs {
		t, ok := tenants.Tenant(env.Tenant)
		if !ok {
			continue
		}
		switch env.Type {
		case events.TypeCallLookup:
			var p events.CallLookup
			if env.Payload(&p) != nil {
				continue
			}
			if n, err := phone.Normalize(p.Number, t.PhoneOptions()); err == nil {
				out = append(out, risk.Observation{Number: n, Tenant: t.ID, At: env.Time, Call: true,
					AfterHours: t.BusinessHours().Outside(env.Time)})
			}
		case events.TypeCallEvent:
			var p events.CallEvent
			if env.Payload(&p) != nil || p.Direction != "incoming" || (p.Event != events.CallEnded && p.Event != events.CallMissed) {
				continue
			}
			n, err := phone.Normalize(p.OriginatorNumber, t.PhoneOptions())
			if err != nil {
				continue
			}
			o := risk.Observation{Number: n, Tenant: t.ID, At: env.Time, Finished: true,
				Answered: p.Event == events.CallEnded && p.AnsweredTime != ""}
			from := p.StartedTime
			if o.Answered {
				from = p.AnsweredTime
			}
			if d, ok := between(from, p.EndedTime); ok {
				o.Short = d < risk.ShortCall
			}
			out = append(out, o)
		}
	}
	return out
}

// timeLayouts are the ISO 8601 forms the ingress accepts.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05"}

// between is the time from one ISO 8601 time to another.
func between(from, to string) (time.Duration, bool) {
	var a, b time.Time
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, from); err == nil {
			a = t
		}
		if t, err := time.Parse(l, to); err == nil {
			b = t
		}
	}
	if a.IsZero() || b.IsZero() {
		return 0, false
	}
	return b.Sub(a), true
}
