package crm_test

import (
	"testing"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/workflows/crm"
)

func TestParseCallTime(t *testing.T) {
	utc := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			panic(err)
		}
		return t.UTC()
	}
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2021-03-17T01:32:44.872Z", utc("2021-03-17T01:32:44.872Z"), true},
		{" 2021-03-17T02:32:44+01:00 ", utc("2021-03-17T01:32:44Z"), true},
		{"2021-03-17T01:32:44", utc("2021-03-17T01:32:44Z"), true}, // no zone: UTC
		{"2021-03-17 01:32:44.5+00:00", utc("2021-03-17T01:32:44.5Z"), true},
		{"2021-03-17 01:32:44", utc("2021-03-17T01:32:44Z"), true},
		{"1615944764", utc("2021-03-17T01:32:44Z"), true},        // Unix seconds
		{"1615944764872", utc("2021-03-17T01:32:44.872Z"), true}, // Unix milliseconds
		{"", time.Time{}, false},
		{"0", time.Time{}, false},
		{"-5", time.Time{}, false},
		{"yesterday", time.Time{}, false},
		{"2021-03-17T01:32", time.Time{}, false}, // no seconds: not a form we read
		{"2021-03-17T01:32:44+0100", time.Time{}, false},
	}
	for _, tt := range tests {
		got, ok := crm.ParseCallTime(tt.in)
		if ok != tt.ok || !got.Equal(tt.want) || (ok && got.Location() != time.UTC) {
			t.Errorf("ParseCallTime(%q) = %s, %v; want %s, %v (UTC)", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzParseCallTime(f *testing.F) {
	for _, s := range []string{"2021-03-17T01:32:44.872Z", "2021-03-17 01:32:44", "1615944764", "1615944764872", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := crm.ParseCallTime(s)
		if ok && got.Location() != time.UTC {
			t.Errorf("ParseCallTime(%q) = %s: not UTC", s, got)
		}
		if !ok && !got.IsZero() {
			t.Errorf("ParseCallTime(%q) = %s, false: want the zero time", s, got)
		}
	})
}

func TestCallTime(t *testing.T) {
	now := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	old := crm.Now
	crm.Now = func() time.Time { return now }
	t.Cleanup(func() { crm.Now = old })

	tests := []struct {
		name string
		in   events.CallInput
		want time.Time
	}{
		{"started", events.CallInput{StartedTime: "2021-03-17T01:32:44Z", AnsweredTime: "2021-03-17T01:32:50Z"}, time.Date(2021, 3, 17, 1, 32, 44, 0, time.UTC)},
		{"first readable", events.CallInput{StartedTime: "soon", DeclinedTime: "2021-03-17T01:33:00Z"}, time.Date(2021, 3, 17, 1, 33, 0, 0, time.UTC)},
		{"none: now", events.CallInput{}, now},
	}
	for _, tt := range tests {
		if got := crm.CallTime(tt.in); !got.Equal(tt.want) {
			t.Errorf("%s: CallTime = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestCallDuration(t *testing.T) {
	secs := func(n int) *int { return &n }
	tests := []struct {
		name string
		in   events.CallInput
		want time.Duration
		ok   bool
	}{
		{"stated", events.CallInput{DurationSeconds: secs(61), AnsweredTime: "2021-03-17T01:32:44Z", EndedTime: "2021-03-17T01:32:45Z"}, 61 * time.Second, true},
		{"stated negative", events.CallInput{DurationSeconds: secs(-3)}, 0, true},
		{"answered to ended", events.CallInput{StartedTime: "2021-03-17T01:32:00Z", AnsweredTime: "2021-03-17T01:32:44Z", EndedTime: "2021-03-17T01:32:49.8Z"}, 5800 * time.Millisecond, true},
		{"ended before answered", events.CallInput{AnsweredTime: "2021-03-17T01:32:44Z", EndedTime: "2021-03-17T01:32:40Z"}, 0, false},
		{"not answered", events.CallInput{StartedTime: "2021-03-17T01:32:00Z", EndedTime: "2021-03-17T01:32:40Z"}, 0, false},
	}
	for _, tt := range tests {
		got, ok := crm.CallDuration(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: CallDuration = %s, %v; want %s, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func TestCallTitle(t *testing.T) {
	secs := 12
	tests := []struct {
		in   events.CallInput
		want string
	}{
		{events.CallInput{Subject: "Support", Direction: "incoming"}, "Support"},
		{events.CallInput{Direction: "incoming", OriginatorName: "Alexa Holiday", OriginatorNumber: "+41215522000", AnsweredTime: "x"}, "Inbound call from Alexa Holiday (+41215522000)"},
		{events.CallInput{Direction: "incoming", OriginatorNumber: "+41215522000"}, "Missed call from +41215522000"},
		{events.CallInput{Direction: "Outbound", DestinationName: "Bob", DurationSeconds: &secs}, "Outbound call to Bob"},
		{events.CallInput{Direction: "outgoing", DestinationNumber: "+41445556677", OriginatorName: "Me"}, "Unanswered call to +41445556677"},
		{events.CallInput{Direction: "", OriginatorName: "Alexa"}, "Missed call from Alexa"},
	}
	for _, tt := range tests {
		if got := crm.CallTitle(tt.in); got != tt.want {
			t.Errorf("CallTitle(%+v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
