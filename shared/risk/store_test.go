package risk_test

import (
	"strconv"
	"testing"

	"github.com/calldex/calldex/shared/redistest"
	"github.com/calldex/calldex/shared/risk"
	"github.com/calldex/calldex/shared/risk/risktest"
)

func TestMemoryStore(t *testing.T) {
	risktest.Run(t, func(t *testing.T, w risk.Window) risk.Store {
		s, err := risk.NewMemory(w)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestRedisStore(t *testing.T) {
	// One client and prefix for the suite (its clean-up scans the whole
	// keyspace once), a key prefix below it per subtest.
	rdb, prefix := redistest.Client(t)
	n := 0
	risktest.Run(t, func(t *testing.T, w risk.Window) risk.Store {
		n++
		s, err := risk.NewRedis(rdb, prefix+":"+strconv.Itoa(n), w)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
