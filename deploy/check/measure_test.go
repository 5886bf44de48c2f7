package check

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// measureRoles drives lookups and workflows through the topology at fixed
// rates and logs each role's CPU and resident memory: the figures behind
// the chart's resource requests. Run with DEPLOY_MEASURE=1:
//
//	DEPLOY_MEASURE=1 go test -run 'TestComposeTopology/measure' -v ./check/
func measureRoles(t *testing.T, tp *topology, lookupsPerSec, flowsPerSec int, d time.Duration) {
	before := map[string]float64{}
	for _, role := range roleOrder {
		before[role] = processMetric(t, tp.bases[role], "process_cpu_seconds_total")
	}
	var sent, failed atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	drive := func(rate int, req func(i int64) (int, error)) {
		defer wg.Done()
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		sem := make(chan struct{}, 64)
		for i := int64(0); time.Now().Before(stop); i++ {
			<-tick.C
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				code, err := req(i)
				sent.Add(1)
				if err != nil || code >= 300 {
					failed.Add(1)
				}
			}()
		}
	}
	post := func(url, body string) (int, error) {
		req, _ := http.NewRequest("POST", url, strings.NewReader(body))
		req.Header.Set("X-Execution-Token", "demo-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	wg.Add(2)
	go drive(lookupsPerSec, func(i int64) (int, error) {
		n := "41215522000"
		if i%2 == 1 {
			n = fmt.Sprintf("4121%07d", i%10_000_000)
		}
		return post(tp.ingress+"/peoplefone/Lookup", `{"inputs":{"phoneNumber":"`+n+`"}}`)
	})
	go drive(flowsPerSec, func(i int64) (int, error) {
		return post(tp.ingress+"/peoplefone/CallFlow", fmt.Sprintf(`{"inputs":{"contactCrmId":"c-1001","originatorNumber":"41215522000","destinationNumber":"41215550000","direction":"incoming","startedTime":"2026-01-05T10:00:00Z","answeredTime":"2026-01-05T10:00:05Z","endedTime":"2026-01-05T10:%02d:%02dZ"}}`, (i/60)%60, i%60))
	})
	start := time.Now()
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	t.Logf("asked %d lookups/s and %d CallFlows/s for %s: %d requests answered (%.0f/s), %d failed", lookupsPerSec, flowsPerSec, d, sent.Load(), float64(sent.Load())/elapsed, failed.Load())
	for _, role := range roleOrder {
		cpu := (processMetric(t, tp.bases[role], "process_cpu_seconds_total") - before[role]) / elapsed
		rss := processMetric(t, tp.bases[role], "process_resident_memory_bytes") / (1 << 20)
		t.Logf("%-9s CPU %.2f cores, RSS %.0f MiB", role, cpu, rss)
	}
}

// processMetric reads one unlabelled sample from base+/metrics.
func processMetric(t *testing.T, base, name string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("%s/metrics: no %s", base, name)
	return 0
}

func measureEnabled() bool { return os.Getenv("DEPLOY_MEASURE") != "" }
