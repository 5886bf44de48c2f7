package index_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/index/indextest"
	"github.com/calldex/calldex/shared/phone"
	"github.com/calldex/calldex/shared/redistest"
	"github.com/calldex/calldex/shared/redisx"
)

func TestRedis(t *testing.T) {
	indextest.Run(t, func(t *testing.T) index.Index {
		rdb, prefix := redistest.Client(t)
		return index.NewRedis(rdb, prefix)
	})
}

// roundTrips counts what go-redis sends: each command and each pipeline is
// one round trip.
// roundTrips counts the commands and pipelines the index sends; the
// handshake go-redis runs on a new connection (HELLO, CLIENT SETINFO) is
// not the index's and is not counted.
type roundTrips struct{ n atomic.Int64 }

func handshake(cmd redis.Cmder) bool {
	switch strings.ToLower(cmd.Name()) {
	case "hello", "client", "auth", "select":
		return true
	}
	return false
}

func (c *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !handshake(cmd) {
			c.n.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (c *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && !handshake(cmds[0]) {
			c.n.Add(1)
		}
		return next(ctx, cmds)
	}
}

func TestRedisLookupIsOneRoundTrip(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	var rt roundTrips
	rdb.AddHook(&rt)
	ix := index.NewRedis(rdb, prefix)
	ctx := t.Context()
	for i, k := range []phone.Key{"e:+41215522000", "e:+41215522000", "t:15522000", "d:0215522"} {
		c := events.Contact{ID: string(rune('a' + i)), Source: "hubspot", Name: "Alexa Holiday"}
		if err := ix.Upsert(ctx, "acme", index.Entry{Contact: c, Keys: []phone.Key{k}}); err != nil {
			t.Fatal(err)
		}
	}
	keys := []phone.Key{"e:+41215522000", "t:15522000", "d:0215522"}
	// The first run may add an EVAL if the server's script cache is empty.
	if _, err := ix.Lookup(ctx, "acme", keys, 5); err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{1, 5} {
		rt.n.Store(0)
		ms, err := ix.Lookup(ctx, "acme", keys, limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != min(limit, 4) {
			t.Errorf("limit %d: %d matches", limit, len(ms))
		}
		if n := rt.n.Load(); n != 1 {
			t.Errorf("limit %d: lookup took %d round trips, want 1", limit, n)
		}
	}
	rt.n.Store(0)
	if _, err := ix.SearchName(ctx, "acme", "alexa hol", 5); err != nil {
		t.Fatal(err)
	}
	if n := rt.n.Load(); n != 1 {
		t.Errorf("search took %d round trips, want 1", n)
	}
}

// TestRedisKeysHashTagged: every key of a tenant carries {tenant}, so a
// tenant lives in one Cluster slot; deleting every contact leaves only the
// stats counter behind.
func TestRedisKeysHashTagged(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	ix := index.NewRedis(rdb, prefix)
	ctx := t.Context()
	tenants := []string{"acme", "beta-2"}
	for _, tn := range tenants {
		for i, k := range []phone.Key{"e:+41215522000", "t:15522000", "d:0215522"} {
			c := events.Contact{ID: string(rune('a' + i)), Source: "hubspot", Name: "Zoë Müller"}
			if err := ix.Upsert(ctx, tn, index.Entry{Contact: c, Keys: []phone.Key{k, "e:+41791234567"}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	keys := scanKeys(t, rdb, prefix)
	for _, tn := range tenants {
		own := prefix + ":{" + tn + "}:"
		n, slot := 0, -1
		for _, k := range keys {
			if !strings.HasPrefix(k, own) {
				continue
			}
			n++
			if s := clusterSlot(k); slot == -1 {
				slot = s
			} else if s != slot {
				t.Errorf("%s in slot %d, other keys of %s in %d", k, s, tn, slot)
			}
		}
		// recs, names, one page of names, tally and the buckets of four phone keys.
		if n != 8 {
			t.Errorf("tenant %s has %d keys, want 8", tn, n)
		}
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, prefix+":{acme}:") && !strings.HasPrefix(k, prefix+":{beta-2}:") {
			t.Errorf("key %q belongs to no tenant", k)
		}
	}
	for _, tn := range tenants {
		for _, id := range []string{"a", "b", "c"} {
			if err := ix.Delete(ctx, tn, "hubspot", id); err != nil {
				t.Fatal(err)
			}
		}
	}
	left := scanKeys(t, rdb, prefix)
	slices.Sort(left)
	want := []string{prefix + ":{acme}:tally", prefix + ":{beta-2}:tally"}
	if !slices.Equal(left, want) {
		t.Errorf("after deleting everything: %q, want only %q", left, want)
	}
}

func scanKeys(t *testing.T, rdb redis.UniversalClient, prefix string) []string {
	t.Helper()
	var keys []string
	if err := redisx.Scan(t.Context(), rdb, prefix+"*", func(k string) { keys = append(keys, k) }); err != nil {
		t.Fatal(err)
	}
	return keys
}

// clusterSlot is Redis Cluster's HASH_SLOT: CRC16 (XMODEM) of the hash tag,
// or of the whole key when it has none, modulo 16384.
func clusterSlot(key string) int {
	if s := strings.IndexByte(key, '{'); s >= 0 {
		if e := strings.IndexByte(key[s+1:], '}'); e > 0 {
			key = key[s+1 : s+1+e]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}

// BenchmarkRedisLookup also reports what the 100k contacts cost in Redis,
// per contact: MEMORY USAGE of the document hash, the meta hash, the name
// index, all phone-key sets together, and their total; and the average
// JSON document. (MEMORY USAGE, not an INFO delta: the test server is
// shared, and lazy frees of earlier runs move used_memory.)
func BenchmarkRedisLookup(b *testing.B) {
	rdb, prefix := redistest.Client(b)
	ix := index.NewRedis(rdb, prefix)
	fillBench(b, ix)
	usage := memoryUsage(b, rdb, prefix+":{"+benchTenant+"}:")
	metrics := map[string]float64{}
	var total int64
	for part, n := range usage {
		total += n
		metrics[part+"B/contact"] = float64(n) / benchContacts
	}
	metrics["redisB/contact"] = float64(total) / benchContacts
	var doc int
	for i := range 1000 {
		raw, err := json.Marshal(benchEntry(i * 97).Contact)
		if err != nil {
			b.Fatal(err)
		}
		doc += len(raw)
	}
	metrics["jsonB/contact"] = float64(doc) / 1000
	benchLookup(b, ix)
	// After the loop: b.Loop's timer reset drops metrics reported before it.
	for unit, v := range metrics {
		b.ReportMetric(v, unit)
	}
}

// memoryUsage sums MEMORY USAGE (all elements sampled) of every key under
// tenantPrefix, by part: "recs", "names", "nm" (name pages), "tally" or "ph" (phone key buckets).
func memoryUsage(b *testing.B, rdb *redis.Client, tenantPrefix string) map[string]int64 {
	b.Helper()
	ctx := b.Context()
	usage := map[string]int64{}
	iter := rdb.Scan(ctx, 0, tenantPrefix+"*", 1000).Iterator()
	var batch []string
	flush := func() {
		cmds := make([]*redis.IntCmd, len(batch))
		_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range batch {
				cmds[i] = p.MemoryUsage(ctx, k, 0)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		for i, k := range batch {
			part, _, _ := strings.Cut(strings.TrimPrefix(k, tenantPrefix), ":")
			usage[part] += cmds[i].Val()
		}
		batch = batch[:0]
	}
	for iter.Next(ctx) {
		if batch = append(batch, iter.Val()); len(batch) == 1000 {
			flush()
		}
	}
	if err := iter.Err(); err != nil {
		b.Fatal(err)
	}
	flush()
	return usage
}
