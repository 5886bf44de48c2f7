package index_test

import (
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/index/indextest"
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
	rdb, kind, err := redisx.Open(t.Context(), cluster.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	if kind != redisx.Cluster {
		t.Fatalf("%s opened as %s", cluster.URL(), kind)
	}
	indextest.Run(t, func(t *testing.T) index.Index {
		return index.NewRedis(rdb, "cdxtest:"+randomPrefix(t))
	})
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
	s := redistest.StartSentinel(t, 1, 1)
	rdb, kind, err := redisx.Open(t.Context(), s.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	if kind != redisx.Sentinel {
		t.Fatalf("%s opened as %s", s.URL(), kind)
	}
	indextest.Run(t, func(t *testing.T) index.Index {
		return index.NewRedis(rdb, "cdxtest:"+randomPrefix(t))
	})
}
