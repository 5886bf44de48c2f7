package index_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/index/indextest"
	"github.com/calldex/calldex/shared/phone"
	"github.com/calldex/calldex/shared/redistest"
	"github.com/calldex/calldex/shared/redisx"
)

// TestRedisCluster runs the conformance suite on a Redis Cluster of three
// masters with a replica each, started for the test: every script and
// multi-key command must keep to one slot (CROSSSLOT otherwise).
func TestRedisCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a six-node Redis Cluster")
	}
	cluster := redistest.StartCluster(t, 3, 1)
	cluster.Client(t) // waits until every slot is served
	rdb := open(t, cluster.URL(), redisx.Cluster)
	indextest.Run(t, func(t *testing.T) index.Index {
		return index.NewRedis(rdb, "cdxtest:"+randomPrefix(t))
	})
}

// open opens url as Calldex does and checks it names a deployment of kind.
func open(t *testing.T, url string, kind redisx.Kind) redis.UniversalClient {
	t.Helper()
	rdb, got, err := redisx.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	if got != kind {
		t.Fatalf("%s opened as %s, want %s", url, got, kind)
	}
	return rdb
}

func randomPrefix(t *testing.T) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// TestRedisSentinel runs the conformance suite through Sentinel, on a
// master with one replica watched by one sentinel, started for the test.
func TestRedisSentinel(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Redis with Sentinel")
	}
	rdb := open(t, redistest.StartSentinel(t, 1, 1).URL(), redisx.Sentinel)
	indextest.Run(t, func(t *testing.T) index.Index {
		return index.NewRedis(rdb, "cdxtest:"+randomPrefix(t))
	})
}

// TestRedisClusterStalledMaster pauses the master of one tenant: its
// lookups fail at their deadline, while those of a tenant on another
// master still answer.
func TestRedisClusterStalledMaster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster")
	}
	cluster := redistest.StartCluster(t, 3, 0)
	rdb := cluster.Client(t)
	ix := index.NewRedis(rdb, "cdx")
	const k phone.Key = "e:+41215522000"
	master := func(tenant string) *redistest.Server {
		node, err := rdb.MasterForKey(t.Context(), "cdx:{"+tenant+"}:recs")
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range cluster.Nodes {
			if n.Addr == node.Options().Addr {
				return n
			}
		}
		t.Fatalf("no node %s", node.Options().Addr)
		return nil
	}
	stalled, healthy := "t0", ""
	for i := 1; healthy == ""; i++ {
		if tn := fmt.Sprint("t", i); master(tn) != master(stalled) {
			healthy = tn
		}
	}
	for _, tn := range []string{stalled, healthy} {
		if err := ix.Upsert(t.Context(), tn, contactEntry("c", "C", k)); err != nil {
			t.Fatal(err)
		}
	}
	lookupWithin := func(tenant string) error {
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		ms, err := ix.Lookup(ctx, tenant, []phone.Key{k}, 5)
		if err == nil && len(ms) != 1 {
			err = fmt.Errorf("found %d contacts", len(ms))
		}
		return err
	}
	master(stalled).Pause()
	defer master(stalled).Resume()
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if err := lookupWithin(stalled); err == nil {
				t.Error("lookup on the stalled master answered")
			}
		})
		wg.Go(func() {
			if err := lookupWithin(healthy); err != nil {
				t.Errorf("lookup on a healthy master: %v", err)
			}
		})
	}
	wg.Wait()
}
