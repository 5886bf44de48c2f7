package crmsync_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/natstest"
	"github.com/calldex/calldex/shared/testwait"
	"github.com/calldex/calldex/workflows/crm"
	"github.com/calldex/calldex/workflows/crmsync"
)

func TestSyncPublishesChangesAndStoresCursor(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.crm.put("c1", "c2", "c3", "c4", "c5", "c.6/x")
	h.crm.remove("c4")
	in := h.start(fastConfig(h, "r1"), nil)

	h.waitSynced("c1", "c2", "c3", "c4", "c5", "c.6/x")
	typ, c := h.contactState(srcName, "c.6/x")
	if typ != events.TypeContactUpserted || c.Source != srcName || c.Name != "Contact c.6/x" || c.Type != "contact" {
		t.Fatalf("c.6/x: %s %+v; want an upsert with the source name %q", typ, c, srcName)
	}
	if typ, _ := h.contactState(srcName, "c4"); typ != events.TypeContactDeleted {
		t.Fatalf("c4: %s, want a tombstone", typ)
	}
	// The connector never sees the sync options.
	opts, _ := in.b.built()
	for _, o := range opts {
		if _, ok := o["syncInterval"]; ok {
			t.Fatalf("connector options %v carry syncInterval", o)
		}
	}
	if n := testutil.ToFloat64(in.m.SyncContacts.WithLabelValues(tenantID, srcName, "upsert")); n != 5 {
		t.Errorf("upserts counted %v, want 5", n)
	}
	// c4 is reported deleted by two pages (the fake answers with the
	// current state of each changed contact).
	if n := testutil.ToFloat64(in.m.SyncContacts.WithLabelValues(tenantID, srcName, "delete")); n != 2 {
		t.Errorf("deletes counted %v, want 2", n)
	}
	testwait.Until(t, wait, "gauges of the led source", func() bool {
		return testutil.ToFloat64(in.m.SyncLeader.WithLabelValues(tenantID, srcName)) == 1 &&
			testutil.ToFloat64(in.m.SyncLagSeconds.WithLabelValues(tenantID, srcName)) >= 90 && // newest change ~94s ago
			testutil.CollectAndCount(in.m.SyncSinceSuccessSeconds) == 1
	})
	// A connector that lists no changes is not a source: no state for it.
	if _, err := h.env.Buckets.SyncCursors.Get(context.Background(), tenantID+".calls"); err == nil {
		t.Fatal("the plain connector has a sync state")
	}

	// A later change arrives with the next poll.
	h.crm.put("c7")
	h.waitSynced("c7")
}

func TestCursorIsStoredOnlyAfterTheAcks(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.crm.put("a", "b", "c", "d", "e") // pages: a b c | d e
	inPage2 := make(chan struct{})
	release := make(chan error)
	in := h.start(fastConfig(h, "r1"), nil, func(p *pub) {
		p.hook = func(n int) error {
			if n != 2 {
				return nil
			}
			close(inPage2)
			return <-release
		}
	})

	select {
	case <-inPage2:
	case <-time.After(wait):
		t.Fatal("page 2 never published")
	}
	// Page 2 is being published: the cursor is page 1's.
	if got := h.storedCursor(); got != "3" {
		t.Fatalf("cursor while page 2 is unacked = %q, want page 1's %q", got, "3")
	}
	release <- errors.New("nats: no response from stream")
	h.waitSynced("a", "b", "c", "d", "e")

	// Page 2 was asked for again from page 1's cursor, and published.
	var cursors []string
	for _, c := range h.crm.callsBy("") {
		cursors = append(cursors, c.cursor)
	}
	if len(cursors) < 3 || !slices.Equal(cursors[:3], []string{"", "3", "3"}) {
		t.Fatalf("cursors asked = %v, want [ 3 3 …]: page 2 sent again after the failure", cursors)
	}
	if in.pub.upsertCount("d") != 1 || in.pub.upsertCount("a") != 1 {
		t.Fatalf("published a×%d d×%d, want each once", in.pub.upsertCount("a"), in.pub.upsertCount("d"))
	}
	if n := testutil.ToFloat64(in.m.SyncErrors.WithLabelValues(tenantID, srcName, "publish")); n != 1 {
		t.Errorf("publish errors counted %v, want 1", n)
	}
}

func TestNATSDownBetweenPublishAndCursorWrite(t *testing.T) {
	srv := natstest.Embedded(t)
	h := newHarness(t, srv.Connect(), nil)
	h.crm.put("a", "b", "c", "d")
	// The syncer's connection does not buffer while NATS is away, so that
	// the cursor write fails instead of being sent after the restart.
	own := h.ownConn(srv.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond), nats.ReconnectBufSize(-1))
	cfg := fastConfig(h, "r1")
	cfg.PageTimeout = 500 * time.Millisecond
	stopped := make(chan struct{})
	in := h.start(cfg, &own, func(p *pub) {
		p.after = func(n int) {
			if n == 1 {
				// Page 1 is acked; NATS goes away before its cursor is stored.
				srv.Stop()
				close(stopped)
			}
		}
	})

	select {
	case <-stopped:
	case <-time.After(wait):
		t.Fatal("page 1 never published")
	}
	// The cursor write fails, or the lease renewal does first and the run
	// stops before it: either way the cursor is not stored.
	testwait.Until(t, wait, "a failed cursor write or lease renewal", func() bool {
		return testutil.ToFloat64(in.m.SyncErrors.WithLabelValues(tenantID, srcName, "cursor"))+
			testutil.ToFloat64(in.m.SyncErrors.WithLabelValues(tenantID, srcName, "lease")) >= 1
	})
	srv.Start()
	h.waitSynced("a", "b", "c", "d")

	// Page 2 may be listed while page 1 is published; it is not published.
	calls := h.crm.callsBy("")
	fromStart := 0
	for _, c := range calls {
		if c.cursor == "" {
			fromStart++
		}
	}
	if len(calls) < 2 || calls[0].cursor != "" || fromStart != 2 {
		t.Fatalf("cursors %v: want page 1 asked for again from the start", calls)
	}
	if in.pub.upsertCount("a") != 2 || in.pub.upsertCount("d") != 1 {
		t.Fatalf("published a×%d d×%d, want page 1 twice and page 2 once", in.pub.upsertCount("a"), in.pub.upsertCount("d"))
	}
}

func TestResumesFromTheStoredCursorAfterARestart(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.crm.put("a", "b", "c", "d", "e", "f", "g")
	first := h.start(fastConfig(h, "r1"), nil)
	h.waitSynced("a", "b", "c", "d", "e", "f", "g")
	first.stop()
	if got := first.pub.totalUpserts(); got != 7 {
		t.Fatalf("first run published %d, want 7", got)
	}
	if _, made := first.b.built(); !made[0].closed.Load() {
		t.Fatal("the connector was not closed when Run returned")
	}

	h.crm.put("h")
	h.crm.remove("a")
	second := h.start(fastConfig(h, "r2"), nil)
	h.waitSynced("a", "h")
	calls := h.crm.callsBy("r2")
	if len(calls) == 0 || calls[0].cursor != "7" {
		t.Fatalf("after the restart the first cursor is %v, want the stored %q", calls, "7")
	}
	if got := second.pub.totalUpserts(); got != 1 {
		t.Fatalf("after the restart %d contacts were published again, want only the new one", got)
	}
}

func TestOneReplicaSyncsAndAnotherTakesOverWhenItStops(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.crm.put("a", "b")
	cfg1, cfg2 := fastConfig(h, "r1"), fastConfig(h, "r2")
	// Long enough that a machine busy with other tests does not delay a
	// renewal past it: this test is about a stable leader, then a handover.
	cfg1.LeasePeriod, cfg2.LeasePeriod = 3*time.Second, 3*time.Second
	r1 := h.start(cfg1, nil)
	r2 := h.start(cfg2, nil)
	h.waitSynced("a", "b")
	h.waitShardsSpread("r1", "r2")

	leader, other := r1, r2
	if h.leaseOwner() == "r2" {
		leader, other = r2, r1
	}
	// Over several polls and lease renewals only the leader calls the CRM.
	h.crm.put("c")
	h.waitSynced("c")
	testwait.Until(t, wait, "more polls by the leader", func() bool { return len(h.crm.callsBy(leader.s.Owner())) >= 8 })
	if n := len(h.crm.callsBy(other.s.Owner())); n != 0 {
		t.Fatalf("the replica without the lease called the CRM %d times", n)
	}
	// (Of this source: the tenant's other one may well be the other
	// replica's, in another shard.)
	if testutil.ToFloat64(other.m.SyncLeader.WithLabelValues(tenantID, srcName)) != 0 {
		t.Fatal("the replica without the lease reports itself leader")
	}

	// A clean stop hands over at once.
	stoppedAt := time.Now()
	leader.stop()
	testwait.Until(t, wait, "takeover", func() bool { return len(h.crm.callsBy(other.s.Owner())) > 0 })
	if took := time.Since(stoppedAt); took > cfg1.LeasePeriod {
		t.Fatalf("takeover after a clean stop took %s, more than the lease period %s", took, cfg1.LeasePeriod)
	}
	if h.leaseOwner() != other.s.Owner() {
		t.Fatalf("lease owner %q, want %q", h.leaseOwner(), other.s.Owner())
	}
	h.crm.put("d")
	h.waitSynced("d")
}

func TestAnotherReplicaTakesOverWithinALeasePeriodWhenOneDies(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.crm.put("a")
	cfg := fastConfig(h, "r1")
	conns := map[string]conns{"r1": h.ownConn(h.env.URL), "r2": h.ownConn(h.env.URL)}
	c1, c2 := conns["r1"], conns["r2"]
	replicas := map[string]*instance{"r1": h.start(cfg, &c1), "r2": h.start(fastConfig(h, "r2"), &c2)}
	h.waitSynced("a")
	h.waitShardsSpread("r1", "r2")
	holder := h.leaseOwner()
	other := map[string]string{"r1": "r2", "r2": "r1"}[holder]
	if replicas[holder] == nil {
		t.Fatalf("lease owner %q", holder)
	}

	// Let the holder renew a few times, then cut it off from NATS without
	// any chance to release its lease.
	testwait.Until(t, wait, "renewals", func() bool { return len(h.crm.callsBy(holder)) >= 3 })
	diedAt := time.Now()
	conns[holder].nc.Close()
	testwait.Until(t, wait, "takeover", func() bool { return len(h.crm.callsBy(other)) > 0 })
	took := time.Since(diedAt)
	// One lease period, plus a little for the first call itself.
	if limit := cfg.LeasePeriod + 250*time.Millisecond; took > limit {
		t.Fatalf("takeover took %s after the holder died, want within the lease period %s", took, cfg.LeasePeriod)
	}
	t.Logf("takeover %s after the holder died (lease period %s)", took.Round(time.Millisecond), cfg.LeasePeriod)
	replicas[holder].stop()
	h.crm.put("b")
	h.waitSynced("b")
	if h.leaseOwner() != other {
		t.Fatalf("lease owner %q, want %q", h.leaseOwner(), other)
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.crm.put("a")
	const after = 600 * time.Millisecond
	h.crm.fail(&crm.RetryAfterError{After: after, Err: errors.New("CRM answered 429")})
	in := h.start(fastConfig(h, "r1"), nil)
	testwait.Until(t, wait, "the refused call", func() bool { return len(h.crm.callsBy("")) >= 1 })
	// Wakes (webhooks) during the wait must not make it call earlier.
	for range 5 {
		if err := in.s.SyncNow(context.Background(), tenantID, srcName); err != nil {
			t.Fatal(err)
		}
	}
	h.waitSynced("a")
	calls := h.crm.callsBy("")
	if gap := calls[1].at.Sub(calls[0].at); gap < after {
		t.Fatalf("second call %s after a Retry-After of %s", gap, after)
	}
	if n := testutil.ToFloat64(in.m.SyncErrors.WithLabelValues(tenantID, srcName, "rate_limited")); n != 1 {
		t.Errorf("rate_limited errors %v, want 1", n)
	}
}

func TestTransientFailuresBackOff(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.crm.put("a")
	down := crm.Transient(errors.New("CRM answered 503"))
	h.crm.fail(down, down, down, down)
	cfg := fastConfig(h, "r1")
	cfg.MinBackoff, cfg.MaxBackoff = 40*time.Millisecond, time.Second
	h.start(cfg, nil)
	h.waitSynced("a")
	calls := h.crm.callsBy("")
	// Waits double from 40ms (±20%): ≥32, 64, 128, 256ms.
	for i, least := range []time.Duration{32, 64, 128, 256} {
		if gap := calls[i+1].at.Sub(calls[i].at); gap < least*time.Millisecond {
			t.Errorf("wait %d was %s, want at least %dms", i+1, gap, least)
		}
	}
}

func TestPermanentFailuresDoNotStopTheLoop(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.crm.put("a")
	unauthorized := crm.Permanent(errors.New("CRM answered 401: invalid token"))
	h.crm.fail(unauthorized, unauthorized)
	in := h.start(fastConfig(h, "r1"), nil)
	h.waitSynced("a")
	calls := h.crm.callsBy("")
	if gap := calls[1].at.Sub(calls[0].at); gap < 150*time.Millisecond {
		t.Fatalf("retried a permanent failure after %s, want the slow PermanentRetry (150ms)", gap)
	}
	if n := testutil.ToFloat64(in.m.SyncErrors.WithLabelValues(tenantID, srcName, "permanent")); n != 2 {
		t.Errorf("permanent errors %v, want 2", n)
	}
	select {
	case err := <-in.done:
		t.Fatalf("Run returned %v", err)
	default:
	}
	h.crm.put("b")
	h.waitSynced("b")

	// Operators see the leader, the cursor and the last failure.
	cfg := fastConfig(h, "r1")
	var st crmsync.Status
	testwait.Until(t, wait, "source status", func() bool {
		var err error
		st, err = crmsync.SourceStatus(context.Background(), h.env.Buckets.SyncCursors, cfg, tenantID, srcName)
		return err == nil && st.Cursor == h.storedCursor() && st.Leader == "r1"
	})
	if !strings.HasSuffix(st.LastError, unauthorized.Error()) || st.LastErrorAt.IsZero() || st.SyncedAt.IsZero() {
		t.Fatalf("status %+v: want the last failure %q and a sync time", st, unauthorized)
	}
}

func TestResyncDeletesWhatTheCRMNoLongerHas(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.crm.put("a", "b", "c", "d", "e")
	in := h.start(fastConfig(h, "r1"), nil)
	h.waitSynced("a", "b", "c", "d", "e")

	// Deletes the sync missed, a contact of this source from long ago and
	// one of another source.
	h.crm.forget("b")
	h.crm.forget("d")
	ctx := context.Background()
	if _, err := in.pub.Publisher.Upsert(ctx, tenantID, events.Contact{ID: "gone/1", Source: srcName, Name: "Gone"}); err != nil {
		t.Fatal(err)
	}
	if _, err := in.pub.Publisher.Upsert(ctx, tenantID, events.Contact{ID: "b", Source: "admin", Name: "Admin B"}); err != nil {
		t.Fatal(err)
	}
	before := in.pub.totalUpserts()

	if err := in.s.Resync(ctx, tenantID, srcName); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, wait, "the resync's tombstones", func() bool {
		for _, id := range []string{"b", "d", "gone/1"} {
			if typ, _ := h.contactState(srcName, id); typ != events.TypeContactDeleted {
				return false
			}
		}
		return true
	})
	h.waitSynced("a", "b", "c", "d", "e")
	for _, id := range []string{"a", "c", "e"} {
		if typ, _ := h.contactState(srcName, id); typ != events.TypeContactUpserted {
			t.Errorf("%s: %s after the resync, want it kept", id, typ)
		}
	}
	if typ, _ := h.contactState("admin", "b"); typ != events.TypeContactUpserted {
		t.Errorf("another source's contact: %s, want it untouched", typ)
	}
	if got := in.pub.totalUpserts() - before; got != 3 {
		t.Errorf("the resync published %d contacts, want the CRM's 3 again", got)
	}
	// Done: a later poll deletes nothing more.
	deletes := testutil.ToFloat64(in.m.SyncContacts.WithLabelValues(tenantID, srcName, "delete"))
	h.crm.put("f")
	h.waitSynced("f")
	if again := testutil.ToFloat64(in.m.SyncContacts.WithLabelValues(tenantID, srcName, "delete")); again != deletes {
		t.Fatalf("deletes went from %v to %v after the resync ended", deletes, again)
	}
}

func TestSyncNowFromAnotherProcess(t *testing.T) {
	h := newHarness(t, nil, map[string]any{"syncInterval": "1h"})
	h.crm.put("a")
	h.start(fastConfig(h, "r1"), nil)
	h.waitSynced("a")

	h.crm.put("b")
	// The ingress has no Syncer: it writes the request to the bucket.
	other := h.ownConn(h.env.URL)
	if err := crmsync.NewRequests(other.kv).SyncNow(context.Background(), tenantID, srcName); err != nil {
		t.Fatal(err)
	}
	h.waitSynced("b")
	if err := crmsync.NewRequests(other.kv).SyncNow(context.Background(), tenantID, "No Such"); !errors.Is(err, events.ErrInvalid) {
		t.Fatalf("bad source id: %v", err)
	}
}

func TestRateLimit(t *testing.T) {
	h := newHarness(t, nil, map[string]any{"rateLimit": 10})
	for i := range 15 {
		h.crm.put(fmt.Sprint("p", i)) // 5 pages
	}
	h.start(fastConfig(h, "r1"), nil)
	h.waitSynced("p0", "p14")
	calls := h.crm.callsBy("")
	// Burst of 10 tokens: use them up with more calls to see the rate.
	if len(calls) < 5 {
		t.Fatalf("%d calls", len(calls))
	}
	h.crm.mu.Lock()
	h.crm.pageSize = 1
	h.crm.mu.Unlock()
	for i := range 20 {
		h.crm.put(fmt.Sprint("q", i))
	}
	start := time.Now()
	h.waitSynced("q0", "q19")
	// 20 pages at 10/s with at most 10 tokens saved: at least 1s.
	if took := time.Since(start); took < 900*time.Millisecond {
		t.Fatalf("20 pages took %s at 10 requests/s", took)
	}
}

func TestUnknownSources(t *testing.T) {
	h := newHarness(t, nil, nil)
	in := h.start(fastConfig(h, "r1"), nil)
	ctx := context.Background()
	if err := in.s.Resync(ctx, tenantID, "nope"); !errors.Is(err, crmsync.ErrUnknownSource) {
		t.Fatalf("Resync of an unknown source: %v", err)
	}
	if err := in.s.SyncNow(ctx, "other", srcName); !errors.Is(err, crmsync.ErrUnknownSource) {
		t.Fatalf("SyncNow of an unknown tenant: %v", err)
	}
	if got := in.s.Sources(); !slices.Equal(got, []string{"acme.calls", "acme.crm"}) {
		t.Fatalf("Sources() = %v", got)
	}
	testwait.Until(t, wait, "the first Run to hold the lease", func() bool { return h.leaseOwner() == "r1" })
	if err := in.s.Run(ctx); !errors.Is(err, crmsync.ErrRunning) {
		t.Fatalf("second Run: %v", err)
	}
}

// TestNotificationPollsAtOnce: a source whose CRM tells of changes (SQL's
// LISTEN/NOTIFY) is polled on each notification, not at its interval.
func TestNotificationPollsAtOnce(t *testing.T) {
	h := newHarness(t, nil, map[string]any{"syncInterval": "1h"})
	c := h.tenants[0].Connectors[srcName]
	c.Type = "notifying"
	h.tenants[0].Connectors[srcName] = c
	h.crm.put("1")
	in := h.start(fastConfig(h, "a"), nil)
	testwait.Until(t, wait, "the first poll", func() bool { return in.pub.upsertCount("1") == 1 })

	h.crm.put("2")
	select {
	case in.b.fire <- struct{}{}:
	case <-time.After(wait):
		t.Fatal("nobody listens to the source's notifications")
	}
	testwait.Until(t, wait, "the notified change is published, an hour before the next poll", func() bool { return in.pub.upsertCount("2") == 1 })
}
