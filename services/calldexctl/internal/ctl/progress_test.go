package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/natstest"
)

func TestProgressBar(t *testing.T) {
	var out bytes.Buffer
	now := time.Unix(1000, 0)
	p := &progressBar{w: &out, label: "rebuild acme", unit: "events", on: true, start: now, now: func() time.Time { return now }}
	now = now.Add(2 * time.Second)
	p.Update(500, 1000)
	line := out.String()
	for _, want := range []string{"\r", "rebuild acme [", " 50%", "500/1,000 events", "250/s", "ETA 2s"} {
		if !strings.Contains(line, want) {
			t.Errorf("line %q lacks %q", line, want)
		}
	}
	p.Update(600, 1000) // within 100ms: not drawn
	if out.String() != line {
		t.Errorf("redrawn too soon: %q", out.String())
	}
	p.Finish()
	if !strings.HasSuffix(out.String(), "\n") || !strings.Contains(out.String(), "600/1,000") {
		t.Errorf("finish: %q", out.String())
	}
	var off bytes.Buffer
	q := &progressBar{w: &off, on: false, now: time.Now}
	q.Update(1, 2)
	q.Finish()
	if off.Len() != 0 {
		t.Errorf("a bar off a terminal drew %q", off.String())
	}
	if got := count(1234567); got != "1,234,567" {
		t.Errorf("count = %s", got)
	}
	if got := bytesHuman(1536); got != "1.5 KiB" {
		t.Errorf("bytesHuman = %s", got)
	}
}

// TestReplayInterruptedResumes: Ctrl-C stops a replay between two messages
// and says where to resume; resuming with the same run completes the range
// with every message delivered once, in order.
func TestReplayInterruptedResumes(t *testing.T) {
	env := natstest.Connect(t)
	publishCalls(t, env, 10)
	sink := durable(t, env, events.StreamCalls, "calls-sink", env.Topology.Prefix+".calls.>")
	c := newCLI(t, env)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(350*time.Millisecond, cancel) // Ctrl-C
	r := c.runCtx(ctx, "events", "replay", "--stream", "CALLS", "--until", "10", "--to-consumer", "calls-sink", "--rate", "10/s", "--json")
	if r.code != exitInterrupted || !strings.Contains(r.stderr, "interrupted") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var rep replayReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	if !rep.Interrupted || rep.Replayed == 0 || rep.Replayed >= 10 || rep.ResumeFromSeq != uint64(rep.Replayed+1) {
		t.Fatalf("interrupted report %+v", rep)
	}
	c.json(&rep, "events", "replay", "--stream", "CALLS", "--until", "10", "--to-consumer", "calls-sink",
		"--from-seq", fmt.Sprint(rep.ResumeFromSeq), "--run-id", rep.RunID)
	if got := replayed(t, sink, env.Topology.Stream(events.StreamCalls)); fmt.Sprint(got) != "[1 2 3 4 5 6 7 8 9 10]" {
		t.Fatalf("after resuming: %v", got)
	}
}
