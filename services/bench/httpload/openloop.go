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
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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
// cycling the lookup bodies (a /healthz URL is fetched with GET instead: the
// floor of the generator and HTTP). Request n is due at start + n/rate,
// whether or not earlier answers came back (open loop), and its latency
// runs from that due time, so a server stall counts for every request it
// delays (no coordinated omission). Only requests due after the warm-up
// count.
func openLoop(ctx context.Context, url string, contacts, rate int, d time.Duration) error {
	if url == "" || rate <= 0 {
		return fmt.Errorf("openloop needs -url and -rate > 0")
	}
	method, bodies := http.MethodPost, [][]byte{}
	if strings.HasSuffix(url, "/healthz") {
		method, bodies = http.MethodGet, [][]byte{nil}
	} else {
		for _, c := range lookupCases(contacts) {
			bodies = append(bodies, []byte(lookupBody(c.number)))
		}
	}
	// The pacer's thread sleeps in the kernel, holding one P; the other
	// serves the connections.
	runtime.GOMAXPROCS(2)
	tr := &http.Transport{MaxIdleConnsPerHost: openLoopClients, MaxConnsPerHost: openLoopClients, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	const warmup = time.Second
	total := uint64((warmup + d).Seconds() * float64(rate))
	interval := time.Second / time.Duration(rate)
	start := time.Now().Add(10 * time.Millisecond)
	due := pace(ctx, start, interval, total)
	var (
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
			for n := range due {
				at := start.Add(time.Duration(n) * interval)
				var body io.Reader
				if b := bodies[n%uint64(len(bodies))]; b != nil {
					body = bytes.NewReader(b)
				}
				req, _ := http.NewRequestWithContext(ctx, method, url, body)
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
				took := time.Since(at)
				if err != nil {
					errs.Add(1)
					firstE.Do(func() { fmt.Fprintln(os.Stderr, "openloop: first failed request:", err) })
					continue
				}
				if at.Sub(start) >= warmup {
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

// pace sends 0, 1, … total-1 on the channel it returns, n at start +
// n·interval, then closes it. It sleeps in nanosleep on a thread of its
// own: the runtime's timers wake a sleeper on epoll's millisecond grid,
// which turned every sub-millisecond wait into ~1.1 ms here and so added
// up to a millisecond to each request's latency.
func pace(ctx context.Context, start time.Time, interval time.Duration, total uint64) <-chan uint64 {
	due := make(chan uint64, openLoopClients)
	go func() {
		runtime.LockOSThread()
		defer close(due)
		for n := uint64(0); n < total && ctx.Err() == nil; n++ {
			if wait := time.Until(start.Add(time.Duration(n) * interval)); wait > 0 {
				ts := syscall.NsecToTimespec(int64(wait))
				_ = syscall.Nanosleep(&ts, nil) // interrupted: a little early
			}
			due <- n
		}
	}()
	return due
}
