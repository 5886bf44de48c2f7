package riskfeed

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/phone"
	"github.com/calldex/calldex/shared/risk"
)

// eventLine is what the feed reads of one envelope of a CALLS message, in
// one decoding pass: Data holds the fields of a call.lookup (number) and
// of a call.event (the embedded CallEvent) alike. Decoding envelope and
// payload apart cost twice as much, beside the ingress in one process.
type eventLine struct {
	Type          string    `json:"type"`
	Tenant        string    `json:"tenant"`
	Time          time.Time `json:"time"`
	SchemaVersion int       `json:"schemaVersion"`
	Data          struct {
		Number string `json:"number"`
		E164   string `json:"e164"`
		events.CallEvent
	} `json:"data"`
}

// Observe turns a CALLS message (a batch of envelopes, events.DecodeBatch)
// into observations of callers' numbers in E.164 form: a call.lookup is a
// call ringing at its tenant; an incoming call.event that ended or was
// missed is a finished call, short when it lasted (talking if answered,
// else ringing) under risk.ShortCall. Events of unknown tenants, outgoing
// calls and numbers with no valid reading tell nothing; a line that is not
// an event is skipped and reported in the error.
func Observe(msg []byte, tenants Tenants) ([]risk.Observation, error) {
	var out []risk.Observation
	var errs []error
	for n := 1; len(msg) > 0; n++ {
		line, rest, _ := bytes.Cut(msg, []byte{'\n'})
		msg = rest
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		ev, ok := readLookup(line)
		if !ok {
			ev = eventLine{}
			if err := json.Unmarshal(line, &ev); err != nil {
				errs = append(errs, fmt.Errorf("event %d of the message: %w", n, err))
				continue
			}
		}
		if o, ok := observe(&ev, tenants); ok {
			out = append(out, o)
		}
	}
	return out, errors.Join(errs...)
}

// readLookup reads a call.lookup line as events.Envelope.AppendJSON and
// CallLookup.AppendJSON write it (one per answered lookup, beside the
// ingress in one process), without reflection: only the fields the feed
// needs. Inside a JSON string every quote is escaped, so `,"tenant":"` and
// the others are found only as keys. Anything else — another type, an
// event written before lookups carried "e164", an escape in a value read —
// is left to encoding/json: ok is false.
func readLookup(line []byte) (ev eventLine, ok bool) {
	if !bytes.Contains(line, []byte(`,"type":"call.lookup",`)) {
		return ev, false
	}
	var at string
	var version []byte
	ev.Type = events.TypeCallLookup
	if ev.Tenant, ok = quoted(line, `,"tenant":"`); !ok {
		return ev, false
	}
	if at, ok = quoted(line, `,"time":"`); !ok {
		return ev, false
	}
	if ev.Data.E164, ok = quoted(line, `,"e164":"`); !ok || ev.Data.E164 == "" {
		return ev, false
	}
	if _, version, ok = bytes.Cut(line, []byte(`,"schemaVersion":`)); !ok {
		return ev, false
	}
	end := bytes.IndexByte(version, ',')
	var err error
	if ev.SchemaVersion, err = strconv.Atoi(string(version[:max(end, 0)])); err != nil {
		return ev, false
	}
	if ev.Time, err = time.Parse(time.RFC3339Nano, at); err != nil {
		return ev, false
	}
	return ev, true
}

// quoted is the string value after key (which ends with its opening
// quote), if it holds no escape.
func quoted(line []byte, key string) (string, bool) {
	_, v, ok := bytes.Cut(line, []byte(key))
	end := bytes.IndexByte(v, '"')
	if !ok || end < 0 || bytes.IndexByte(v[:end], '\\') >= 0 {
		return "", false
	}
	return string(v[:end]), true
}

// observe reads one event.
func observe(ev *eventLine, tenants Tenants) (risk.Observation, bool) {
	t, ok := tenants.Tenant(ev.Tenant)
	if !ok || ev.SchemaVersion > events.SchemaVersion {
		return risk.Observation{}, false
	}
	switch ev.Type {
	case events.TypeCallLookup:
		// The ingress read the number already; events written before it
		// said so are read again.
		n := ev.Data.E164
		if n == "" {
			var err error
			if n, err = phone.Normalize(ev.Data.Number, t.PhoneOptions()); err != nil {
				return risk.Observation{}, false
			}
		}
		return risk.Rang(n, t.ID, ev.Time, t.BusinessHours()), true
	case events.TypeCallEvent:
		p := &ev.Data.CallEvent
		if p.Direction != "incoming" || (p.Event != events.CallEnded && p.Event != events.CallMissed) {
			return risk.Observation{}, false
		}
		n, err := phone.Normalize(p.OriginatorNumber, t.PhoneOptions())
		if err != nil {
			return risk.Observation{}, false
		}
		o := risk.Observation{Number: n, Tenant: t.ID, At: ev.Time, Finished: true,
			Answered: p.Event == events.CallEnded && p.AnsweredTime != ""}
		from := p.StartedTime
		if o.Answered {
			from = p.AnsweredTime
		}
		if d, ok := between(from, p.EndedTime); ok {
			o.Short = d < risk.ShortCall
		}
		return o, true
	}
	return risk.Observation{}, false
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
