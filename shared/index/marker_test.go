package index_test

import (
	"slices"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/redistest"
)

func TestRedisMarks(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	testMarks(t, rdb, prefix)
}

// TestRedisClusterMarks checks markers of tenants spread over the nodes of
// a Redis Cluster in one call.
func TestRedisClusterMarks(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster")
	}
	testMarks(t, redistest.StartCluster(t, 3, 0).Client(t), "cdxtest")
}

func testMarks(t *testing.T, rdb redis.UniversalClient, prefix string) {
	ctx := t.Context()
	ix := index.NewRedis(rdb, prefix)
	tenants := []string{"acme", "beta", "gamma", "delta", "eps"}
	check := func(want, next uint64) []uint64 {
		t.Helper()
		marks := make([]index.Mark, len(tenants))
		for i, tn := range tenants {
			marks[i] = index.Mark{Tenant: tn, Gen: "g" + tn, Want: want, Next: next}
		}
		found, err := ix.CheckMarks(ctx, marks)
		if err != nil {
			t.Fatal(err)
		}
		return found
	}
	all := func(v uint64) []uint64 { return slices.Repeat([]uint64{v}, len(tenants)) }
	if got := check(0, 10); !slices.Equal(got, all(0)) {
		t.Fatalf("first check found %v, want none", got)
	}
	if got := check(10, 20); !slices.Equal(got, all(10)) {
		t.Fatalf("second check found %v, want 10 each", got)
	}
	// Found below what is wanted: reported, and left alone.
	if got := check(30, 40); !slices.Equal(got, all(20)) {
		t.Fatalf("check expecting more found %v, want 20 each", got)
	}
	if got := check(20, 20); !slices.Equal(got, all(20)) {
		t.Fatalf("a lost marker must not be advanced: found %v", got)
	}
	// Never moved back.
	check(0, 5)
	if got := check(0, 0); !slices.Equal(got, all(20)) {
		t.Fatalf("marker moved back: %v", got)
	}
}
