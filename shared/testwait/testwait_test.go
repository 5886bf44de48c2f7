package testwait_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/calldex/calldex/shared/testwait"
)

func TestUntilReturnsOnceTheConditionHolds(t *testing.T) {
	var n atomic.Int32
	testwait.Until(t, 10*time.Second, "the third check", func() bool { return n.Add(1) == 3 })
	if got := n.Load(); got != 3 {
		t.Fatalf("checked %d times, want 3", got)
	}
}

// recorder catches the Fatalf of a failing Until.
type recorder struct {
	testing.TB
	failed bool
	msg    string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = true
	r.msg = format
	panic(r)
}

func TestUntilFailsAfterTheTimeout(t *testing.T) {
	r := &recorder{TB: t}
	func() {
		defer func() {
			if p := recover(); p != nil && p != r {
				panic(p)
			}
		}()
		testwait.Until(r, 30*time.Millisecond, "never", func() bool { return false })
	}()
	if !r.failed {
		t.Fatal("Until returned without the condition holding")
	}
}
