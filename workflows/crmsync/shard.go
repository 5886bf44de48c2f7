package crmsync

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Keys of the coordination in the sync_cursors bucket. Upper case: never a
// tenant id, so never a source's key.
//
//	SHARD.<n>             lease of shard n (leaseRecord)
//	MEMBER.<hex(owner)>   heartbeat of a running replica (leaseRecord)
const (
	shardKeyPrefix  = "SHARD."
	memberKeyPrefix = "MEMBER."
)

// shardOf places a source in one of n shards.
func shardOf(key string, n int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

// ShardKey is the key of the lease of the shard a source belongs to, for
// tools and tests reading who syncs a source.
func ShardKey(cfg Config, tenantID, source string) string {
	n := cfg.Shards
	if n == 0 {
		n = DefaultShards
	}
	return shardKeyPrefix + strconv.Itoa(shardOf(stateKey(tenantID, source), n))
}

// held reports whether the last acquire of a lease succeeded.
func (l *lease) held() bool { return l.rev != 0 }

// coordinator keeps this replica's heartbeat and its share of the shard
// leases: up to ceil(shards / live replicas), taking expired or free ones
// and giving back the ones beyond its share, so that shards spread again
// when a replica comes or goes.
type coordinator struct {
	sy     *Syncer
	member lease
	shards []lease
	// gained, lost and failed report changes of the held set to the
	// scheduler: failed is a lost renewal, lost a lease given back.
	gained, lost, failed func(shard int)
	// start rotates the order shards are tried in, so that replicas
	// starting together try different ones first.
	start int
	// live holds the owners whose heartbeat was recent at the last step:
	// the shards of the others are taken without waiting for their
	// leases to expire.
	live map[string]bool
}

func newCoordinator(sy *Syncer, gained, lost, failed func(int)) *coordinator {
	cfg := sy.cfg
	ttl := cfg.LeasePeriod * 4 / 5
	c := &coordinator{sy: sy, gained: gained, lost: lost, failed: failed, start: shardOf(cfg.Owner, cfg.Shards)}
	c.member = lease{kv: sy.deps.Cursors, key: memberKeyPrefix + hex.EncodeToString([]byte(cfg.Owner)), owner: cfg.Owner, ttl: ttl, now: sy.now}
	c.shards = make([]lease, cfg.Shards)
	for i := range c.shards {
		c.shards[i] = lease{kv: sy.deps.Cursors, key: shardKeyPrefix + strconv.Itoa(i), owner: cfg.Owner, ttl: ttl, now: sy.now,
			alive: func(owner string) bool { return c.live[owner] }}
	}
	return c
}

// run ticks every LeasePeriod/5 until ctx ends, then gives every lease
// back. A lease not renewed for 4/5 of the period counts as expired, so a
// dead replica's shards are taken within one LeasePeriod.
func (c *coordinator) run(ctx context.Context) {
	tick := c.sy.cfg.LeasePeriod / 5
	// One heartbeat, then one tick before claiming: replicas starting
	// together see each other and claim their share, not everything.
	c.heartbeat(ctx)
	if !sleep(ctx, tick, nil) {
		c.releaseAll()
		return
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		c.step(ctx)
		select {
		case <-ctx.Done():
			c.releaseAll()
			return
		case <-t.C:
		}
	}
}

func (c *coordinator) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, max(c.sy.cfg.LeasePeriod/5, 10*time.Millisecond))
}

func (c *coordinator) heartbeat(ctx context.Context) {
	octx, cancel := c.opCtx(ctx)
	defer cancel()
	if _, err := c.member.acquire(octx); err != nil && ctx.Err() == nil {
		c.sy.log.Warn("crm sync: heartbeat", "err", err)
	}
}

// step renews, claims and gives back shard leases once.
func (c *coordinator) step(ctx context.Context) {
	c.heartbeat(ctx)
	members, err := c.liveMembers(ctx)
	if err != nil {
		if ctx.Err() == nil {
			c.sy.log.Warn("crm sync: cannot count replicas; keeping the shards held", "err", err)
		}
		members = nil
	}
	c.live = members
	live := len(members)
	share := len(c.shards)
	if live > 0 {
		share = (share + live - 1) / live
	}
	var held atomic.Int32
	c.each(c.heldShards(), func(i int) {
		if c.renew(ctx, i) {
			held.Add(1)
		}
	})
	if live == 0 {
		return // renew only: no claim nor release on a guess
	}
	n := len(c.shards)
	for k := 0; k < n && int(held.Load()) > share; k++ {
		i := (c.start + n - 1 - k) % n
		if c.shards[i].held() {
			c.release(i)
			held.Add(-1)
		}
	}
	// Claim free or expired shards, as many at once as are missing.
	next := 0
	for need := share - int(held.Load()); need > 0 && next < n && ctx.Err() == nil; need = share - int(held.Load()) {
		var try []int
		for ; next < n && len(try) < need; next++ {
			if i := (c.start + next) % n; !c.shards[i].held() {
				try = append(try, i)
			}
		}
		c.each(try, func(i int) {
			octx, cancel := c.opCtx(ctx)
			ok, err := c.shards[i].acquire(octx)
			cancel()
			if err != nil && ctx.Err() == nil {
				c.sy.log.Warn("crm sync: claim shard", "shard", i, "err", err)
			}
			if ok {
				held.Add(1)
				c.sy.log.Debug("crm sync: shard acquired", "shard", i)
				c.gained(i)
			}
		})
	}
}

// claimParallelism bounds the lease operations of one step in flight.
const claimParallelism = 16

// each runs f for every shard of is, up to claimParallelism at once;
// each lease is touched by one goroutine only.
func (c *coordinator) each(is []int, f func(int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, claimParallelism)
	for _, i := range is {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			f(i)
		})
	}
	wg.Wait()
}

func (c *coordinator) heldShards() []int {
	var out []int
	for i := range c.shards {
		if c.shards[i].held() {
			out = append(out, i)
		}
	}
	return out
}

func (c *coordinator) renew(ctx context.Context, i int) bool {
	octx, cancel := c.opCtx(ctx)
	ok, err := c.shards[i].acquire(octx)
	cancel()
	if ok {
		return true
	}
	if ctx.Err() != nil {
		return c.shards[i].held()
	}
	c.shards[i].rev = 0
	c.sy.log.Warn("crm sync: shard lease lost; its sources stop here", "shard", i, "err", err)
	c.failed(i)
	return false
}

// release gives a shard back after its sources stopped here.
func (c *coordinator) release(i int) {
	c.lost(i)
	ctx, cancel := context.WithTimeout(context.Background(), max(c.sy.cfg.LeasePeriod/5, time.Second))
	defer cancel()
	if err := c.shards[i].release(ctx); err != nil {
		c.sy.log.Warn("crm sync: shard lease not released; it expires", "shard", i, "err", err)
	}
}

func (c *coordinator) releaseAll() {
	for i := range c.shards {
		if c.shards[i].held() {
			c.release(i)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), max(c.sy.cfg.LeasePeriod/5, time.Second))
	defer cancel()
	_ = c.member.release(ctx)
}

// liveMembers returns the owners whose heartbeat is recent, this one
// included.
func (c *coordinator) liveMembers(ctx context.Context) (map[string]bool, error) {
	octx, cancel := c.opCtx(ctx)
	defer cancel()
	kl, err := c.sy.deps.Cursors.ListKeysFiltered(octx, memberKeyPrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("list replicas: %w", err)
	}
	var keys []string
	for k := range kl.Keys() {
		keys = append(keys, k)
	}
	now := c.sy.now()
	live := map[string]bool{c.member.owner: true}
	for _, k := range keys {
		if !strings.HasPrefix(k, memberKeyPrefix) {
			continue
		}
		e, err := c.sy.deps.Cursors.Get(octx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read replica %s: %w", k, err)
		}
		var r leaseRecord
		if json.Unmarshal(e.Value(), &r) == nil && now.Sub(r.RenewedAt) < c.member.ttl {
			live[r.Owner] = true
		}
	}
	return live, nil
}
