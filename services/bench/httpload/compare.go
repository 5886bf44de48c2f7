package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// compare measures the build of o.against (another checkout, or this one
// with other settings: -env-b) as B against this one (A) on one index
// target (-targets memory, the default here, or redis: then both use the
// same Redis under their own prefixes): both servers run at once with the
// same contacts, and their lookup rounds alternate, so a change is judged
// under the same load on the machine. It reports each build's median
// server CPU per lookup and B's median lookups/s relative to A's.
func compare(ctx context.Context, o options, wrk, work, repoA string) error {
	repoB, err := filepath.Abs(o.against)
	if err != nil {
		return err
	}
	target := o.targets
	switch target {
	case "memory,redis": // the flag's default: the in-process index
		target = "memory"
	case "memory", "redis":
	default:
		return fmt.Errorf("-against compares on one target: -targets memory or redis, not %q", o.targets)
	}
	builds := []struct{ name, repo, env string }{{"A", repoA, o.env}, {"B", repoB, o.envB}}
	var servers []*server
	defer func() {
		for _, s := range servers {
			s.stop()
		}
	}()
	var script scripts
	for _, b := range builds {
		bin := filepath.Join(work, "calldex-"+b.name)
		if err := build(ctx, b.repo, bin); err != nil {
			return fmt.Errorf("build %s (%s): %w", b.name, b.repo, err)
		}
		dir := filepath.Join(work, b.name)
		srv, err := startServer(ctx, serverConfig{bin: bin, repo: repoA, dir: dir, target: target, redisURL: o.redisURL,
			env: splitEnv(b.env), name: b.name})
		if err != nil {
			return fmt.Errorf("%s: %w", b.name, err)
		}
		servers = append(servers, srv)
		if err := importContacts(ctx, srv.base, o.contacts); err != nil {
			return fmt.Errorf("%s: %w", b.name, err)
		}
		if err := srv.waitReady(ctx, 5*time.Minute); err != nil {
			return fmt.Errorf("%s after the import: %w", b.name, err)
		}
		if err := checkAnswers(ctx, srv.base, o.contacts); err != nil {
			return fmt.Errorf("%s: %w", b.name, err)
		}
		if script, err = writeScripts(dir, o.contacts); err != nil {
			return err
		}
	}
	cpu := make([][]float64, len(servers))
	var speed []float64
	for i := range o.rounds {
		var rps [2]float64
		// The order alternates: whichever server goes second in a round
		// measured faster, by some 8 % between two of the same build.
		order := []int{0, 1}
		if i%2 == 1 {
			order = []int{1, 0}
		}
		for _, j := range order {
			srv := servers[j]
			r, err := runWrk(ctx, srv, wrk, script.lookup, "/peoplefone/Lookup", o.connections, o.round)
			if err != nil {
				return err
			}
			rps[j] = r.rps
			cpu[j] = append(cpu[j], float64(r.cpu))
		}
		speed = append(speed, rps[1]/rps[0])
		fmt.Fprintf(os.Stderr, "compare round %d: A %.0f lookups/s (%s CPU/lookup), B %.0f lookups/s (%s CPU/lookup)\n",
			i+1, rps[0], time.Duration(cpu[0][i]), rps[1], time.Duration(cpu[1][i]))
	}
	fmt.Printf("A = %s %s\nB = %s %s\nindex %s; server CPU per lookup, median of %d rounds: A %s, B %s; B's lookups/s ÷ A's: %.3f\n",
		repoA, o.env, repoB, o.envB, target, o.rounds, time.Duration(median(cpu[0])).Round(100*time.Nanosecond),
		time.Duration(median(cpu[1])).Round(100*time.Nanosecond), median(speed))
	return nil
}
