package crm

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/calldex/calldex/events"
)

// callTimeLayouts are the ISO 8601 forms ParseCallTime reads: with or
// without zone (no zone means UTC, what peoplefone sends), "T" or space.
var callTimeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
}

// ParseCallTime reads one of a workflow's call times (events.CallInput's
// StartedTime, AnsweredTime, EndedTime, DeclinedTime): ISO 8601 as in
// callTimeLayouts, or Unix seconds, or Unix milliseconds when the number is
// past 1e12 (no seconds value gets there before the year 33658). The result
// is UTC; false means empty or unreadable, which connectors treat as
// unknown rather than as a failure: a call is worth logging without it.
func ParseCallTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	for _, layout := range callTimeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
		if n > 1e12 {
			return time.UnixMilli(n).UTC(), true
		}
		return time.Unix(n, 0).UTC(), true
	}
	return time.Time{}, false
}

// CallTime is when the call started (began ringing), else the first of its
// other times that can be read, else Now: a CRM entry needs a time, and the
// moment the workflow runs is the nearest one known.
func CallTime(in events.CallInput) time.Time {
	for _, s := range []string{in.StartedTime, in.AnsweredTime, in.EndedTime, in.DeclinedTime} {
		if t, ok := ParseCallTime(s); ok {
			return t
		}
	}
	return Now().UTC()
}

// CallDuration is the talk time: DurationSeconds when the source states it
// (negative counts as 0), else answered→ended. Ringing does not count.
// false means unknown: not answered, a time unreadable, or ended before
// answered (clocks of two systems), which is better left out than logged
// as 0.
func CallDuration(in events.CallInput) (time.Duration, bool) {
	if in.DurationSeconds != nil {
		return time.Duration(max(*in.DurationSeconds, 0)) * time.Second, true
	}
	a, okA := ParseCallTime(in.AnsweredTime)
	e, okE := ParseCallTime(in.EndedTime)
	if okA && okE && !e.Before(a) {
		return e.Sub(a), true
	}
	return 0, false
}

// Answered reports whether someone took the call: an answer time is given
// (readable or not: the source says it was answered), or a talk time.
func Answered(in events.CallInput) bool {
	return in.AnsweredTime != "" || (in.DurationSeconds != nil && *in.DurationSeconds > 0)
}

// Outgoing reports whether the call was placed by the tenant's side.
// "outbound" is accepted because App Connect says so where peoplefone says
// "outgoing"; anything else counts as incoming.
func Outgoing(in events.CallInput) bool {
	return strings.EqualFold(in.Direction, "outgoing") || strings.EqualFold(in.Direction, "outbound")
}

// Party names the other side of the call as a CRM user reads it:
// "from Name (number)" for an incoming call, "to Name (number)" for an
// outgoing one, with whichever of name and number is known.
func Party(in events.CallInput) string {
	name, num, prep := in.OriginatorName, in.OriginatorNumber, "from "
	if Outgoing(in) {
		name, num, prep = in.DestinationName, in.DestinationNumber, "to "
	}
	switch {
	case name != "" && num != "":
		return prep + name + " (" + num + ")"
	case name != "":
		return prep + name
	default:
		return prep + num
	}
}

// CallTitle is the title of a logged call: the workflow's Subject, else
// what happened ("Missed call from …", "Outbound call to …"), so that a
// CRM's activity list shows missed calls at a glance.
func CallTitle(in events.CallInput) string {
	switch {
	case in.Subject != "":
		return in.Subject
	case Outgoing(in) && Answered(in):
		return "Outbound call " + Party(in)
	case Outgoing(in):
		return "Unanswered call " + Party(in)
	case Answered(in):
		return "Inbound call " + Party(in)
	default:
		return "Missed call " + Party(in)
	}
}

// DispositionLines are a call's dispositions as a CRM user reads them,
// one "field: value" per line in field order, for CRMs that keep them as
// text (a note).
func DispositionLines(in events.CallInput) string {
	lines := make([]string, 0, len(in.Dispositions))
	for _, k := range slices.Sorted(maps.Keys(in.Dispositions)) {
		lines = append(lines, k+": "+in.Dispositions[k])
	}
	return strings.Join(lines, "\n")
}
