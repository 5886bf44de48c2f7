package appconnect_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/calldex/calldex/services/internal/appconnect"
	"github.com/calldex/calldex/shared/natstest"
	"github.com/calldex/calldex/shared/testwait"
)

// callLogStoreContract is what the routes rely on from a CallLogStore.
func callLogStoreContract(t *testing.T, s appconnect.CallLogStore) {
	ctx := context.Background()
	if _, err := s.Get(ctx, "acme", "nope"); !errors.Is(err, appconnect.ErrNoCallLog) {
		t.Fatalf("get missing: %v", err)
	}
	// fn's error aborts and is returned as is.
	if _, err := s.Update(ctx, "acme", "s1", func(_ *appconnect.CallLog, exists bool) error {
		if exists {
			t.Error("exists before any write")
		}
		return appconnect.ErrNoCallLog
	}); !errors.Is(err, appconnect.ErrNoCallLog) {
		t.Fatalf("aborted update: %v", err)
	}
	if _, err := s.Get(ctx, "acme", "s1"); !errors.Is(err, appconnect.ErrNoCallLog) {
		t.Fatal("an aborted update stored something")
	}
	// Session ids of any shape; tenants isolated.
	for _, sid := range []string{"s1", "Y3NhbXBsZQ==/.*>", "öäü 1"} {
		if _, err := s.Update(ctx, "acme", sid, func(cl *appconnect.CallLog, _ bool) error {
			cl.Key, cl.Note = "k-"+sid, "note"
			return nil
		}); err != nil {
			t.Fatalf("create %q: %v", sid, err)
		}
		cl, err := s.Get(ctx, "acme", sid)
		if err != nil || cl.SessionID != sid || cl.Key != "k-"+sid {
			t.Errorf("get %q: %+v %v", sid, cl, err)
		}
	}
	if _, err := s.Get(ctx, "globex", "s1"); !errors.Is(err, appconnect.ErrNoCallLog) {
		t.Error("another tenant sees the call log")
	}
	// Concurrent updates lose nothing.
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			_, err := s.Update(ctx, "acme", "s1", func(cl *appconnect.CallLog, exists bool) error {
				if !exists {
					return errors.New("vanished")
				}
				if cl.Dispositions == nil {
					cl.Dispositions = map[string]any{}
				}
				cl.Dispositions[fmt.Sprint("k", i)] = i
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	cl, err := s.Get(ctx, "acme", "s1")
	if err != nil || len(cl.Dispositions) != 12 || cl.Note != "note" {
		t.Errorf("after concurrent updates: %d dispositions, %+v, %v", len(cl.Dispositions), cl, err)
	}
}

func TestMemoryCallLogs(t *testing.T) {
	callLogStoreContract(t, appconnect.NewMemoryCallLogs())
}

func TestKVCallLogs(t *testing.T) {
	env := natstest.Connect(t)
	ctx := context.Background()
	_, kv, err := appconnect.EnsureBuckets(ctx, env.JS, env.Topology, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.JS.DeleteKeyValue(context.Background(), env.Topology.Stream(appconnect.BucketRevoked))
		_ = env.JS.DeleteKeyValue(context.Background(), env.Topology.Stream(appconnect.BucketCallLogs))
	})
	callLogStoreContract(t, appconnect.NewKVCallLogs(kv))
}

func revocationsContract(t *testing.T, r appconnect.Revocations) {
	ctx := context.Background()
	if revoked, err := r.Revoked(ctx, "abc"); err != nil || revoked {
		t.Fatalf("fresh store: %v %v", revoked, err)
	}
	if err := r.Revoke(ctx, "abc", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := r.Revoke(ctx, "old", time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if revoked, _ := r.Revoked(ctx, "abc"); !revoked {
		t.Error("revoked id not refused")
	}
	if revoked, _ := r.Revoked(ctx, "old"); revoked {
		t.Error("a revocation outlived its token")
	}
	if revoked, _ := r.Revoked(ctx, "abd"); revoked {
		t.Error("another id refused")
	}
}

func TestMemoryRevocations(t *testing.T) {
	revocationsContract(t, appconnect.NewMemoryRevocations())
}

func TestKVRevocations(t *testing.T) {
	env := natstest.Connect(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kv, _, err := appconnect.EnsureBuckets(ctx, env.JS, env.Topology, time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.JS.DeleteKeyValue(context.Background(), env.Topology.Stream(appconnect.BucketRevoked))
		_ = env.JS.DeleteKeyValue(context.Background(), env.Topology.Stream(appconnect.BucketCallLogs))
	})
	a, err := appconnect.NewKVRevocations(ctx, kv)
	if err != nil {
		t.Fatal(err)
	}
	revocationsContract(t, a)
	if err := a.Revoke(ctx, "not a key!", time.Now().Add(time.Hour)); !errors.Is(err, appconnect.ErrStore) {
		t.Errorf("invalid id: %v", err)
	}

	// A replica started later loads it; one running sees new ones.
	b, err := appconnect.NewKVRevocations(ctx, kv)
	if err != nil {
		t.Fatal(err)
	}
	if revoked, _ := b.Revoked(ctx, "abc"); !revoked {
		t.Error("replica did not load the revocation")
	}
	if err := a.Revoke(ctx, "later", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 5*time.Second, "the replica to see the new revocation", func() bool {
		revoked, _ := b.Revoked(ctx, "later")
		return revoked
	})
}
