package index_test

import (
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/index/indextest"
	"github.com/calldex/calldex/shared/redistest"
)

// TestRedisCluster runs the conformance suite on a Redis Cluster of three
// masters with a replica each, started for the test: every script and
// multi-key command must keep to one slot (CROSSSLOT otherwise).
func TestRedisCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a six-node Redis Cluster")
	}
	cluster := redistest.StartCluster(t, 3, 1)
	rdb := cluster.Client(t)
	indextest.Run(t, func(t *testing.T) index.Index {
		return index.NewRedis(rdb, "cdxtest:"+randomPrefix(t))
	})
}

func randomPrefix(t *testing.T) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
