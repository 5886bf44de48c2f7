package crmsync

import (
	"testing"
	"time"

	"github.com/calldex/calldex/events"
)

func TestUnescapeTokenReversesSubjectToken(t *testing.T) {
	for _, id := range []string{"c-1", "12345", "a.b", "x/y z", "ünï", "%", "a%41", "50%"} {
		tok := events.SubjectToken(id)
		got, ok := unescapeToken(tok)
		if !ok || got != id {
			t.Errorf("unescapeToken(%q) = %q, %v; want %q", tok, got, ok, id)
		}
	}
	for _, tok := range []string{"", "%", "%4", "%zz", "%41"} { // %41 is what no id makes ("A" stays "A")
		if got, ok := unescapeToken(tok); ok {
			t.Errorf("unescapeToken(%q) = %q, true; want false", tok, got)
		}
	}
}

func TestBackoffDoublesWithinBounds(t *testing.T) {
	minD, maxD := 100*time.Millisecond, time.Second
	for n, want := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		want *= time.Millisecond
		for range 20 {
			got := backoff(minD, maxD, n+1)
			if got < want*8/10 || got > want*12/10 {
				t.Fatalf("backoff(%d) = %s, want %s ±20%%", n+1, got, want)
			}
		}
	}
}

func TestParseRequestKey(t *testing.T) {
	if tn, src, ok := parseRequestKey("acme.crm.wake"); !ok || tn != "acme" || src != "crm" {
		t.Fatalf("got %q %q %v", tn, src, ok)
	}
	if _, _, ok := parseRequestKey("acme.crm"); ok {
		t.Fatal("a state key parsed as a request")
	}
}
