package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// wrkDone prints the run's figures in one line (latencies in µs), read by
// parseWrk; every error wrk counts (socket errors, status ≥ 400) is summed.
const wrkDone = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("HTTPLOAD requests=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect + e.read + e.write + e.status + e.timeout))
end
`

type scripts struct{ lookup, health string }

// writeScripts writes the wrk scripts: the lookup one cycles the bodies of
// lookupCases, built once per thread.
func writeScripts(dir string, contacts int) (scripts, error) {
	var b strings.Builder
	b.WriteString("local bodies = {\n")
	for _, c := range lookupCases(contacts) {
		fmt.Fprintf(&b, "  %q,\n", lookupBody(c.number))
	}
	fmt.Fprintf(&b, `}
local reqs = {}
local n = 0
init = function(args)
  for k, body in ipairs(bodies) do
    reqs[k] = wrk.format("POST", "/peoplefone/Lookup", {["X-Execution-Token"] = %q, ["Content-Type"] = "application/json"}, body)
  end
end
request = function()
  n = n %% #reqs + 1
  return reqs[n]
end
`, demoToken)
	b.WriteString(wrkDone)
	s := scripts{lookup: filepath.Join(dir, "lookup.lua"), health: filepath.Join(dir, "healthz.lua")}
	if err := os.WriteFile(s.lookup, []byte(b.String()), 0o644); err != nil {
		return s, err
	}
	return s, os.WriteFile(s.health, []byte(wrkDone), 0o644)
}

type wrkResult struct {
	rps           float64
	p50, p99, max time.Duration
	requests      int64
	errors        int64
	// cpu is the server's CPU time per request over the round, wrkCPU
	// the load generator's and redisCPU Redis's: on a shared machine all
	// draw on the same cores.
	cpu, wrkCPU, redisCPU time.Duration
}

// runWrk runs one wrk round against srv: one thread, conns connections,
// for d.
func runWrk(ctx context.Context, srv *server, wrk, script, path string, conns int, d time.Duration) (wrkResult, error) {
	url := srv.base + path
	cpu0, err := srv.cpuTime()
	if err != nil {
		return wrkResult{}, err
	}
	redis0, err := srv.redisCPU(ctx)
	if err != nil {
		return wrkResult{}, err
	}
	cmd := exec.CommandContext(ctx, wrk, "-t1", "-c"+strconv.Itoa(conns), "-d"+strconv.Itoa(int(d.Seconds()))+"s",
		"--latency", "--timeout", "5s", "-s", script, url)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %w\n%s", url, err, out)
	}
	cpu1, err := srv.cpuTime()
	if err != nil {
		return wrkResult{}, err
	}
	redis1, err := srv.redisCPU(ctx)
	if err != nil {
		return wrkResult{}, err
	}
	r, err := parseWrk(string(out))
	if err != nil {
		return r, fmt.Errorf("wrk %s: %w\n%s", url, err, out)
	}
	r.cpu = (cpu1 - cpu0) / time.Duration(r.requests)
	r.wrkCPU = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()) / time.Duration(r.requests)
	r.redisCPU = (redis1 - redis0) / time.Duration(r.requests)
	return r, nil
}

func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	i := strings.Index(out, "HTTPLOAD ")
	if i < 0 {
		return r, fmt.Errorf("no HTTPLOAD line in wrk's output")
	}
	line, _, _ := strings.Cut(out[i+len("HTTPLOAD "):], "\n")
	v := map[string]int64{}
	for _, f := range strings.Fields(line) {
		k, s, _ := strings.Cut(f, "=")
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return r, fmt.Errorf("wrk figure %q: %w", f, err)
		}
		v[k] = n
	}
	if v["duration_us"] <= 0 || v["requests"] <= 0 {
		return r, fmt.Errorf("wrk made no requests")
	}
	r.requests, r.errors = v["requests"], v["errors"]
	r.rps = float64(v["requests"]) / (float64(v["duration_us"]) / 1e6)
	r.p50 = time.Duration(v["p50_us"]) * time.Microsecond
	r.p99 = time.Duration(v["p99_us"]) * time.Microsecond
	r.max = time.Duration(v["max_us"]) * time.Microsecond
	return r, nil
}
