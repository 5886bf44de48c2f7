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
}

func newCoordinator(sy *Syncer, gained, lost, failed func(int)) *coordinator {
	cfg := sy.cfg
	ttl := cfg.LeasePeriod * 4 / 5
	c := &coordinator{sy: sy, gained: gained, lost: lost, failed: failed, start: shardOf(cfg.Owner, cfg.Shards)}
	c.member = lease{kv: sy.deps.Cursors, key: memberKeyPrefix + hex.EncodeToString([]byte(cfg.Owner)), owner: cfg.Owner, ttl: ttl, now: sy.now}
	c.shards = make([]lease, cfg.Shards)
	for i := range c.shards {
		c.shards[i] = lease{kv: sy.deps.Cursors, key: shardKeyPrefix + strconv.Itoa(i), owner: cfg.Owner, ttl: ttl, now: sy.now}
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
	live, err := c.liveMembers(ctx)
	if err != nil {
		if ctx.Err() == nil {
			c.sy.log.Warn("crm sync: cannot count replicas; keeping the shards held", "err", err)
		}
		live = 0
	}
	n := len(c.shards)
	share := n
	if live > 0 {
		share = (n + live - 1) / live
	}
	held := 0
	for i := range c.shards {
		if !c.shards[i].held() {
			continue
		}
		if c.renew(ctx, i) {
			held++
		}
	}
	if live == 0 {
		return // renew only: no claim nor release on a guess
	}
	for k := 0; k < n && held > share; k++ {
		i := (c.start + n - 1 - k) % n
		if c.shards[i].held() {
			c.release(i)
			held--
		}
	}
	for k := 0; k < n && held < share && ctx.Err() == nil; k++ {
		i := (c.start + k) % n
		if c.shards[i].held() {
			continue
		}
		octx, cancel := c.opCtx(ctx)
		ok, err := c.shards[i].acquire(octx)
		cancel()
		if err != nil && ctx.Err() == nil {
			c.sy.log.Warn("crm sync: claim shard", "shard", i, "err", err)
		}
		if ok {
			held++
			c.sy.log.Debug("crm sync: shard acquired", "shard", i)
			c.gained(i)
		}
	}
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

// liveMembers counts the replicas whose heartbeat is recent.
func (c *coordinator) liveMembers(ctx context.Context) (int, error) {
	octx, cancel := c.opCtx(ctx)
	defer cancel()
	kl, err := c.sy.deps.Cursors.ListKeysFiltered(octx, memberKeyPrefix+"*")
	if err != nil {
		return 0, fmt.Errorf("list replicas: %w", err)
	}
	var keys []string
	for k := range kl.Keys() {
		keys = append(keys, k)
	}
	now := c.sy.now()
	live := 0
	for _, k := range keys {
		if !strings.HasPrefix(k, memberKeyPrefix) {
			continue
		}
		e, err := c.sy.deps.Cursors.Get(octx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("read replica %s: %w", k, err)
		}
		var r leaseRecord
		if json.Unmarshal(e.Value(), &r) == nil && now.Sub(r.RenewedAt) < c.member.ttl {
			live++
		}
	}
	return max(live, 1), nil
}
