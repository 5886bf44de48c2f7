package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// fixedResult is what the open-loop child reports on stdout (JSON).
type fixedResult struct {
	Rate     float64       `json:"rate"` // achieved, requests/s
	Requests int           `json:"requests"`
	Errors   int64         `json:"errors"`
	P50      time.Duration `json:"p50"`
	P99      time.Duration `json:"p99"`
	Max      time.Duration `json:"max"`
}

// runOpenLoop runs this binary in -mode=openloop against url, so that the
// generator is a process of its own, and returns what it measured.
func runOpenLoop(ctx context.Context, url string, contacts, rate int, d time.Duration) (fixedResult, error) {
	self, err := os.Executable()
	if err != nil {
		return fixedResult{}, err
	}
	cmd := exec.CommandContext(ctx, self, "-mode=openloop", "-url="+url, "-contacts="+strconv.Itoa(contacts), "-rate="+strconv.Itoa(rate), "-fixed-duration="+d.String())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fixedResult{}, fmt.Errorf("open loop: %w\n%s", err, stderr.String())
	}
	var r fixedResult
	if err := json.Unmarshal(out, &r); err != nil {
		return r, fmt.Errorf("open loop answer %q: %w", out, err)
	}
	return r, nil
}

// openLoopClients is enough connections that requests never wait for one
// below a 16 ms answer at 2,000 req/s.
const openLoopClients = 32

// openLoop sends rate requests/s to url for a warm-up second and then d,
// cycling the lookup bodies. Request n is due at start + n/rate, whether or
// not earlier answers came back (open loop), and its latency runs from
// that due time, so a server stall counts for every request it delays
// (no coordinated omission). Only requests due after the warm-up count.
func openLoop(ctx context.Context, url string, contacts, rate int, d time.Duration) error {
	if url == "" || rate <= 0 {
		return fmt.Errorf("openloop needs -url and -rate > 0")
	}
	var bodies [][]byte
	for _, c := range lookupCases(contacts) {
		bodies = append(bodies, []byte(lookupBody(c.number)))
	}
	runtime.GOMAXPROCS(1) // one core for the generator, as wrk -t1
	tr := &http.Transport{MaxIdleConnsPerHost: openLoopClients, MaxConnsPerHost: openLoopClients, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	const warmup = time.Second
	total := uint64((warmup + d).Seconds() * float64(rate))
	interval := time.Second / time.Duration(rate)
	start := time.Now().Add(10 * time.Millisecond)
	var (
		next   atomic.Uint64
		errs   atomic.Int64
		mu     sync.Mutex
		lat    []time.Duration
		wg     sync.WaitGroup
		firstE sync.Once
	)
	for range openLoopClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, int(total)/openLoopClients+1)
			for ctx.Err() == nil {
				n := next.Add(1) - 1
				if n >= total {
					break
				}
				due := start.Add(time.Duration(n) * interval)
				if wait := time.Until(due); wait > 0 {
					time.Sleep(wait)
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(bodies[n%uint64(len(bodies))]))
				req.Header.Set("X-Execution-Token", demoToken)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %s", resp.Status)
					}
				}
				took := time.Since(due)
				if err != nil {
					errs.Add(1)
					firstE.Do(func() { fmt.Fprintln(os.Stderr, "openloop: first failed request:", err) })
					continue
				}
				if due.Sub(start) >= warmup {
					local = append(local, took)
				}
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start.Add(warmup))
	if len(lat) == 0 {
		return fmt.Errorf("no answers")
	}
	slices.Sort(lat)
	r := fixedResult{Rate: float64(len(lat)) / elapsed.Seconds(), Requests: len(lat), Errors: errs.Load(),
		P50: lat[len(lat)/2], P99: lat[len(lat)*99/100], Max: lat[len(lat)-1]}
	return json.NewEncoder(os.Stdout).Encode(r)
}
