package crmsync

import (
	"container/heap"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// scheduler runs the sources of the shards this replica holds: a heap of
// sources by due time, one dispatcher, and a bounded pool of workers, so
// that 20,000 sources cost no goroutine each, and a slow source holds one
// worker, not the others' turns.
type scheduler struct {
	sy      *Syncer
	byShard [][]*source

	mu     sync.Mutex
	due    sourceHeap
	shards []shardRun // by shard; ctx nil when not held
	kick   chan struct{}
	work   chan *source
}

// shardRun is a held shard: its sources run under ctx, cancelled when the
// shard is lost.
type shardRun struct {
	ctx    context.Context
	cancel context.CancelFunc
}

func newScheduler(sy *Syncer) *scheduler {
	sc := &scheduler{
		sy:      sy,
		byShard: make([][]*source, sy.cfg.Shards),
		shards:  make([]shardRun, sy.cfg.Shards),
		kick:    make(chan struct{}, 1),
		work:    make(chan *source),
	}
	for _, src := range sy.sources {
		sc.byShard[src.shard] = append(sc.byShard[src.shard], src)
	}
	return sc
}

// run dispatches due sources to the workers until ctx ends.
func (sc *scheduler) run(ctx context.Context) {
	var wg sync.WaitGroup
	for range sc.sy.cfg.Workers {
		wg.Go(sc.worker)
	}
	defer wg.Wait()
	defer close(sc.work)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		sc.mu.Lock()
		wait := time.Hour
		if len(sc.due) > 0 {
			wait = sc.due[0].due.Sub(sc.sy.now())
		}
		if wait <= 0 {
			src := heap.Pop(&sc.due).(*source)
			src.running = true
			sc.mu.Unlock()
			select {
			case sc.work <- src:
				continue
			case <-ctx.Done():
				return
			}
		}
		sc.mu.Unlock()
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-sc.kick:
		case <-timer.C:
		}
	}
}

func (sc *scheduler) wakeDispatcher() {
	select {
	case sc.kick <- struct{}{}:
	default:
	}
}

func (sc *scheduler) worker() {
	for src := range sc.work {
		sc.mu.Lock()
		run := sc.shards[src.shard]
		sc.mu.Unlock()
		wait := time.Duration(-1)
		if run.ctx != nil && run.ctx.Err() == nil {
			wait = sc.runSource(run.ctx, src)
		}
		sc.finished(src, wait)
	}
}

// runSource runs one poll of a source and returns when to run it again;
// negative: never (not a source).
func (sc *scheduler) runSource(ctx context.Context, src *source) time.Duration {
	if src.lister == nil {
		ok, err := src.build(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			src.buildFailures++
			return src.buildWait(err)
		case err != nil:
			return 0
		case !ok:
			return -1
		}
	}
	src.listen(ctx)
	if src.account != nil {
		// Waiting for the CRM account would hold a worker: come back when
		// the account has room.
		r := src.account.Reserve()
		if d := r.Delay(); d > 0 {
			r.Cancel()
			return d
		}
	}
	err := src.runOnce(ctx)
	switch {
	case ctx.Err() != nil:
		return 0
	case errors.Is(err, errLeaseLost):
		src.countError("lease")
		src.log.Warn("crm sync: another replica writes this source's cursor", "err", err)
		src.failures = 0
		return src.opts.Interval
	case err != nil:
		src.failures++
		src.recordFailure(ctx, err)
		return src.failureWait(err, src.failures)
	}
	src.failures = 0
	return src.opts.Interval
}

// finished puts a source back in the heap after a run, unless its shard
// was lost meanwhile. A wake during the run makes the next run start at
// once, except after a failure.
func (sc *scheduler) finished(src *source, wait time.Duration) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	src.running = false
	woken := src.woken
	src.woken = false
	if src.removed {
		src.retire()
		return
	}
	if wait < 0 || sc.shards[src.shard].ctx == nil {
		return
	}
	src.failing = src.failures > 0 || src.buildFailures > 0 && src.lister == nil
	if woken && !src.failing {
		wait = 0
	}
	src.due = sc.sy.now().Add(wait)
	heap.Push(&sc.due, src)
	sc.wakeDispatcher()
}

// wake makes a source due now: a webhook or SyncNow. Waits after a
// failure are not cut short: a webhook must not make the loop ignore
// Retry-After or the backoff.
func (sc *scheduler) wake(src *source) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	switch {
	case src.running:
		src.woken = true
	case src.heapIndex >= 0 && !src.failing:
		src.due = sc.sy.now()
		heap.Fix(&sc.due, src.heapIndex)
		sc.wakeDispatcher()
	}
}

// gain starts the sources of a shard this replica now holds.
func (sc *scheduler) gain(ctx context.Context, shard int) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	run := &sc.shards[shard]
	if run.ctx != nil {
		return
	}
	run.ctx, run.cancel = context.WithCancel(ctx)
	now := sc.sy.now()
	for _, src := range sc.byShard[shard] {
		src.startTerm()
		if src.running || src.heapIndex >= 0 {
			continue
		}
		src.due = now
		heap.Push(&sc.due, src)
	}
	sc.wakeDispatcher()
}

// lose stops the sources of a shard this replica no longer holds: runs in
// progress are cancelled, the others leave the heap.
func (sc *scheduler) lose(shard int) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	run := &sc.shards[shard]
	if run.ctx == nil {
		return
	}
	run.cancel()
	*run = shardRun{}
	for _, src := range sc.byShard[shard] {
		if src.heapIndex >= 0 {
			heap.Remove(&sc.due, src.heapIndex)
		}
		src.setLeading(false)
	}
}

// add starts a new source: at once if its shard is held here.
func (sc *scheduler) add(src *source) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.byShard[src.shard] = append(sc.byShard[src.shard], src)
	if sc.shards[src.shard].ctx == nil {
		return
	}
	src.startTerm()
	src.due = sc.sy.now()
	heap.Push(&sc.due, src)
	sc.wakeDispatcher()
}

// remove stops a source for good; its connector is closed once no run
// uses it.
func (sc *scheduler) remove(src *source) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.byShard[src.shard] = slices.DeleteFunc(sc.byShard[src.shard], func(s *source) bool { return s == src })
	src.removed = true
	if src.heapIndex >= 0 {
		heap.Remove(&sc.due, src.heapIndex)
	}
	if !src.running {
		src.retire()
	}
}

// leaseLost stops the sources of a shard whose lease renewal failed,
// counting it against each.
func (sc *scheduler) leaseLost(shard int) {
	sc.lose(shard)
	for _, src := range sc.byShard[shard] {
		src.countError("lease")
	}
}

// sourceHeap orders sources by due time.
type sourceHeap []*source

func (h sourceHeap) Len() int           { return len(h) }
func (h sourceHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h sourceHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIndex, h[j].heapIndex = i, j
}
func (h *sourceHeap) Push(x any) {
	src := x.(*source)
	src.heapIndex = len(*h)
	*h = append(*h, src)
}
func (h *sourceHeap) Pop() any {
	old := *h
	src := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	src.heapIndex = -1
	return src
}

// accounts shares one rate limiter between the sources that name the
// same CRM account.
type accounts struct {
	mu       sync.Mutex
	limiters map[string]*rate.Limiter
}

func (a *accounts) limiter(name string, perSecond float64) *rate.Limiter {
	a.mu.Lock()
	defer a.mu.Unlock()
	if l, ok := a.limiters[name]; ok {
		if rate.Limit(perSecond) < l.Limit() {
			l.SetLimit(rate.Limit(perSecond))
		}
		return l
	}
	l := rate.NewLimiter(rate.Limit(perSecond), max(1, int(perSecond)))
	a.limiters[name] = l
	return l
}
