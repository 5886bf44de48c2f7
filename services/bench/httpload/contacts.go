package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
)

// Synthetic contact i is stored as the Lausanne number 021 5xx xx xx and
// looked up in peoplefone form (international, no "+"); eight more contacts
// share one Bern number, so that a lookup finds more than the demo tenant's
// maxResults (5).
func stored(i int) string { return fmt.Sprintf("021 %03d %02d %02d", 500+i/10000, i/100%100, i%100) }
func called(i int) string { return fmt.Sprintf("4121%07d", 5000000+i) }

const (
	sharedStored = "031 555 88 00"
	sharedCalled = "41315558800"
	// unknownCalled is a Zurich number nobody has.
	unknownCalled  = "41449990000"
	demoMaxResults = 5
)

var sharedNumberIDs = []string{"s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7"}

// lookupCase is one of the bodies the load cycles through, with its
// expected answer.
type lookupCase struct {
	number string
	hits   int
	id     string // of the first hit, when one is expected
}

// lookupCases: four single matches, one number with eight (answer capped
// at five), one unknown.
func lookupCases(contacts int) []lookupCase {
	var cs []lookupCase
	for _, i := range []int{17, contacts / 8, contacts / 2, contacts - 1} {
		cs = append(cs, lookupCase{number: called(i), hits: 1, id: "c" + strconv.Itoa(i)})
	}
	return append(cs, lookupCase{number: sharedCalled, hits: demoMaxResults}, lookupCase{number: unknownCalled})
}

func lookupBody(number string) string { return `{"inputs":{"phoneNumber":"` + number + `"}}` }

// importChunk contacts go in one admin import request, importParallel
// requests at once (each waits for its batches' acks: in parallel they
// keep JetStream and the projector busy).
const (
	importChunk    = 10_000
	importParallel = 4
)

// importContacts imports the synthetic contacts through the admin API in
// chunks of NDJSON, then waits until the index holds them all: a sentinel
// contact written last is indexed (the projector applies CONTACTS in order).
func importContacts(ctx context.Context, base string, n int) error {
	if n < 8 {
		return fmt.Errorf("-contacts %d: at least 8", n)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(importParallel)
	for from := 0; from < n; from += importChunk {
		g.Go(func() error { return importChunkOf(gctx, base, from, min(from+importChunk, n)) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		var ans struct{ Indexed bool }
		body := strings.NewReader(`{"name":"Sentinel","phones":[{"raw":"031 555 99 99"}]}`)
		if err := adminCall(ctx, http.MethodPut, base+"/admin/v1/tenants/"+demoTenant+"/contacts/sentinel", "application/json", body, &ans); err != nil {
			return fmt.Errorf("sentinel contact: %w", err)
		}
		if ans.Indexed {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("contacts not indexed within 5 minutes")
		}
	}
	return nil
}

func importChunkOf(ctx context.Context, base string, from, to int) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeContacts(pw, from, to, from == 0)) }()
	var ans struct{ Accepted, Rejected int }
	if err := adminCall(ctx, http.MethodPost, base+"/admin/v1/tenants/"+demoTenant+"/contacts", "application/x-ndjson", pr, &ans); err != nil {
		return fmt.Errorf("import contacts %d–%d: %w", from, to, err)
	}
	want := to - from
	if from == 0 {
		want += len(sharedNumberIDs)
	}
	if ans.Accepted != want || ans.Rejected != 0 {
		return fmt.Errorf("import contacts %d–%d: %d accepted, %d rejected", from, to, ans.Accepted, ans.Rejected)
	}
	return nil
}

func writeContacts(w io.Writer, from, to int, shared bool) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	if shared {
		for _, id := range sharedNumberIDs {
			fmt.Fprintf(bw, `{"id":%q,"name":"Shared %s","company":"Bench AG","phones":[{"raw":%q}],"contactUri":"https://crm.example.com/contacts/%s","crmName":"Bench CRM"}`+"\n",
				id, id, sharedStored, id)
		}
	}
	for i := from; i < to; i++ {
		fmt.Fprintf(bw, `{"id":"c%d","name":"Contact %d","company":"Bench AG","phones":[{"raw":%q}],"contactUri":"https://crm.example.com/contacts/c%d","crmName":"Bench CRM","customData":{"Segment":"bench"}}`+"\n",
			i, i, stored(i), i)
	}
	return bw.Flush()
}

func adminCall(ctx context.Context, method, url, contentType string, body io.Reader, into any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+demoAdminToken)
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, b)
	}
	return json.Unmarshal(b, into)
}

// checkAnswers asks every lookup case once and checks the answer.
func checkAnswers(ctx context.Context, base string, contacts int) error {
	for _, c := range lookupCases(contacts) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/peoplefone/Lookup", strings.NewReader(lookupBody(c.number)))
		req.Header.Set("X-Execution-Token", demoToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		var got []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		}
		err = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return fmt.Errorf("lookup %s: %s, %v", c.number, resp.Status, err)
		}
		if len(got) != c.hits || (c.id != "" && got[0].ID != c.id) {
			return fmt.Errorf("lookup %s: %d hits %v, want %d (first %q)", c.number, len(got), got, c.hits, c.id)
		}
	}
	return nil
}
