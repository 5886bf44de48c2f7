package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

func TestParseWrk(t *testing.T) {
	out := "Running 4s test @ http://127.0.0.1:1/healthz\n  1 threads and 32 connections\n" +
		"HTTPLOAD requests=80000 duration_us=4000000 p50_us=350 p99_us=2100 max_us=9000 errors=3\n"
	r, err := parseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.rps != 20000 || r.p50 != 350*time.Microsecond || r.p99 != 2100*time.Microsecond || r.max != 9*time.Millisecond || r.errors != 3 {
		t.Fatalf("got %+v", r)
	}
	for _, bad := range []string{"no line", "HTTPLOAD requests=0 duration_us=0", "HTTPLOAD requests=x"} {
		if _, err := parseWrk(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestScrapeSumsOverLabels(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "# HELP calldex_lookups_total x\n# TYPE calldex_lookups_total counter\n"+
			`calldex_lookups_total{dialect="peoplefone",result="hit"} 10`+"\n"+
			`calldex_lookups_total{dialect="peoplefone",result="error"} 2`+"\n"+
			`calldex_lookups_total{dialect="pbx",result="miss"} 5`+"\n"+
			"calldex_events_dropped_total 1\n")
	}))
	defer srv.Close()
	m, err := scrape(t.Context(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if m["calldex_lookups_total"] != 17 || m[`calldex_lookups_total{result="error"}`] != 2 || m["calldex_events_dropped_total"] != 1 {
		t.Fatalf("got %v", m)
	}
}

func TestMedian(t *testing.T) {
	if m := median([]float64{0.5, 0.1, 0.9}); m != 0.5 {
		t.Errorf("odd: %v", m)
	}
	if m := median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Errorf("even: %v", m)
	}
}

// The pacer hands out every request number once, in order, then closes;
// a cancelled run stops it.
func TestPace(t *testing.T) {
	var got []uint64
	for n := range pace(t.Context(), time.Now(), time.Microsecond, 500) {
		got = append(got, n)
	}
	if len(got) != 500 || !slices.IsSorted(got) || got[0] != 0 || got[499] != 499 {
		t.Fatalf("paced %d numbers, first %v", len(got), got[:min(len(got), 5)])
	}
	ctx, cancel := context.WithCancel(t.Context())
	due := pace(ctx, time.Now(), time.Millisecond, 1_000_000)
	<-due
	cancel()
	n := 0
	for range due {
		n++
	}
	if n > openLoopClients+1 {
		t.Errorf("%d numbers after the cancel, want at most what the channel held", n)
	}
}
