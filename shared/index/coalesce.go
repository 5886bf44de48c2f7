package index

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// coalescer sends concurrent lookups to Redis together. Each lookup is
// still one run of lookupScript and one round trip, but lookups that arrive
// while coalescerInFlight pipelines are under way queue and leave in the
// next one: under load the client and Redis then pay one write and one
// read per pipeline, not per lookup, which is most of what a lookup costs
// them. A lookup alone leaves at once.
type coalescer struct {
	rdb redis.UniversalClient

	mu       sync.Mutex
	queue    []*lookupCall
	inFlight int
}

// lanes keeps one coalescer per Redis Cluster master, so that a master
// that stalls holds up the lookups of its own tenants only, not the one
// pipeline every lookup queues for. On one server (or Sentinel's master)
// there is one lane.
type lanes struct {
	rdb     redis.UniversalClient
	cluster *redis.ClusterClient

	mu     sync.Mutex
	byAddr map[string]*coalescer
	// reloaded is when the slot table was last reloaded after a failure.
	reloaded atomic.Int64
}

func newLanes(rdb redis.UniversalClient) *lanes {
	l := &lanes{rdb: rdb, byAddr: map[string]*coalescer{}}
	l.cluster, _ = rdb.(*redis.ClusterClient)
	return l
}

// run is coalescer.run in the lane of the master serving keys (all in
// one slot).
func (l *lanes) run(ctx context.Context, keys []string, args []any) ([]any, error) {
	addr := ""
	if l.cluster != nil {
		// From the client's slot table; a stale table costs one MOVED,
		// which the cluster pipeline follows.
		if node, err := l.cluster.MasterForKey(ctx, keys[0]); err == nil {
			addr = node.Options().Addr
		}
	}
	l.mu.Lock()
	c := l.byAddr[addr]
	if c == nil {
		c = &coalescer{rdb: l.rdb}
		l.byAddr[addr] = c
	}
	l.mu.Unlock()
	res, err := c.lookup(ctx, keys, args)
	if err != nil && l.cluster != nil {
		l.reload()
	}
	return res, err
}

// reload refreshes the client's slot table, at most once a second, after a
// lookup failed: when a master dies its replica takes over its slots, and
// go-redis alone would keep dialling the dead master until its table ages
// out.
func (l *lanes) reload() {
	now := time.Now().UnixNano()
	last := l.reloaded.Load()
	if now-last < int64(time.Second) || !l.reloaded.CompareAndSwap(last, now) {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		l.cluster.ReloadState(ctx)
	}()
}

// lookupCall is one lookup waiting for its reply.
type lookupCall struct {
	ctx  context.Context
	keys []string
	args []any
	res  []any
	err  error
	done chan struct{}
}

// coalescerInFlight bounds the pipelines under way at once. One measured
// best (lookupload, Redis target: 48 % of the ceiling against 45 % with 2
// and 43 % with 4): lookups gather into fewer, larger pipelines, and under
// load each waits at most one round trip for the pipeline ahead of it. A
// pipeline stuck on a dead connection holds the queue until its deadline,
// the latest of its callers' lookup budgets.
const coalescerInFlight = 1

// lookup returns lookupScript's reply for keys and args, or ctx's error
// as soon as ctx ends.
func (c *coalescer) lookup(ctx context.Context, keys []string, args []any) ([]any, error) {
	call := &lookupCall{ctx: ctx, keys: keys, args: args, done: make(chan struct{})}
	c.mu.Lock()
	c.queue = append(c.queue, call)
	var batch []*lookupCall
	if c.inFlight < coalescerInFlight {
		c.inFlight++
		batch, c.queue = c.queue, nil
	}
	c.mu.Unlock()
	if batch != nil {
		go c.drain(batch)
	}
	select {
	case <-call.done:
		return call.res, call.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// drain sends batch, then whatever queued meanwhile, until the queue is empty.
func (c *coalescer) drain(batch []*lookupCall) {
	for len(batch) > 0 {
		c.send(batch)
		c.mu.Lock()
		batch, c.queue = c.queue, nil
		if len(batch) == 0 {
			c.inFlight--
		}
		c.mu.Unlock()
	}
}

// send runs one pipeline. Its deadline is the latest of the callers' (none
// if one has none), so that no caller is cut short by another's. When Redis
// lost its script cache (a restart, SCRIPT FLUSH, a new Cluster master),
// the pipeline is sent once more with the script itself (EVAL), which
// caches it again on that server alone: SCRIPT LOAD on a Cluster would wait
// for every master, a stalled one too.
func (c *coalescer) send(batch []*lookupCall) {
	ctx, cancel := latestDeadline(batch)
	defer cancel()
	cmds := make([]*redis.Cmd, len(batch))
	run := lookupScript.EvalSha
	for attempt := 0; attempt < 2; attempt++ {
		pipe := c.rdb.Pipeline()
		for i, call := range batch {
			cmds[i] = run(ctx, pipe, call.keys, call.args...)
		}
		// Exec's error is the first command's; each caller gets its own.
		_, _ = pipe.Exec(ctx)
		if !redis.HasErrorPrefix(cmds[0].Err(), "NOSCRIPT") {
			break
		}
		run = lookupScript.Eval
	}
	for i, call := range batch {
		call.res, call.err = cmds[i].Slice()
		close(call.done)
	}
}

// latestDeadline is a context without the callers' cancellation (one
// leaving must not fail the others) and with the latest of their
// deadlines, or none.
func latestDeadline(batch []*lookupCall) (context.Context, context.CancelFunc) {
	var latest time.Time
	for _, call := range batch {
		d, ok := call.ctx.Deadline()
		if !ok {
			return context.WithCancel(context.WithoutCancel(call.ctx))
		}
		if d.After(latest) {
			latest = d
		}
	}
	return context.WithDeadline(context.WithoutCancel(batch[0].ctx), latest)
}
