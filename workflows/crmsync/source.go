package crmsync

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/workflows/crm"
)

// maxIDLen bounds a contact id, as contact.Validate does.
const maxIDLen = 256

// source is one (tenant, connector) sync: its lease, its loop, its state.
type source struct {
	sy      *Syncer
	tenant  string
	name    string
	key     string
	conn    tenant.Connector
	opts    SourceOptions
	limiter *rate.Limiter
	// account, when set, is shared with the sources of the same CRM
	// account.
	account *rate.Limiter
	shard   int
	log     *slog.Logger

	// Scheduling, guarded by the scheduler's mutex: due and heapIndex
	// while waiting in its heap (heapIndex -1 otherwise), running while a
	// worker has it, woken by a wake during the run, failing while the
	// wait is a failure's.
	due       time.Time
	heapIndex int
	running   bool
	woken     bool
	failing   bool
	removed   bool
	// Owned by the worker running the source.
	failures      int
	buildFailures int

	lister crm.ChangeLister
	closer io.Closer
	// notifier, when the connector has one, is listened to while the
	// shard run listenCtx lasts; stopListen ends it.
	notifier   crm.ChangeNotifier
	listenCtx  context.Context
	stopListen context.CancelFunc

	// term identifies the current leadership of this replica; seen holds
	// the subject tokens of the contacts a full resync of this term has
	// listed so far (nil when none runs).
	term string
	seen map[string]struct{}

	mu          sync.Mutex
	leading     bool
	newest      time.Time
	lastSuccess time.Time
}

// stepError says which step of a run failed, for logs and metrics.
type stepError struct {
	kind string
	err  error
}

func (e *stepError) Error() string { return e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

// poke asks for a run now.
func (s *source) poke() { s.sy.sched.wake(s) }

// build makes the connector instance: false when it is not a source (no
// ChangeLister, or a name that cannot be a source id).
func (s *source) build(ctx context.Context) (bool, error) {
	inst, err := s.sy.deps.Connectors.Build(ctx, s.name, s.conn)
	if err != nil {
		s.countError("build")
		return false, err
	}
	lister, ok := inst.ChangeLister()
	if !ok {
		_ = inst.Close()
		s.log.Debug("crm sync: connector lists no changes; not synced", "type", s.conn.Type)
		return false, nil
	}
	if err := events.ValidID(s.name); err != nil {
		_ = inst.Close()
		s.countError("build")
		s.log.Error("crm sync: connector name cannot be a source id; not synced (rename it or set sync: false)", "err", err)
		return false, nil
	}
	s.lister, s.closer = lister, inst
	if n, ok := inst.(Notifying); ok {
		s.notifier, _ = n.ChangeNotifier()
	}
	s.buildFailures = 0
	return true, nil
}

// listen keeps listening to the source's change notifications for as long
// as the shard run ctx lasts, each making the source due at once. A lost
// listener is set up again after a backoff; meanwhile the interval polls.
func (s *source) listen(ctx context.Context) {
	if s.notifier == nil || s.listenCtx == ctx {
		return
	}
	if s.stopListen != nil {
		s.stopListen()
	}
	lctx, cancel := context.WithCancel(ctx)
	s.listenCtx, s.stopListen = ctx, cancel
	n, cfg := s.notifier, s.sy.cfg
	go func() {
		for failures := 1; ; failures++ {
			err := n.NotifyChanges(lctx, s.poke)
			if lctx.Err() != nil {
				return
			}
			s.countError("notify")
			s.log.Warn("crm sync: change notifications lost; polling at the interval until they are back", "err", err)
			if !sleep(lctx, backoff(cfg.MinBackoff, cfg.MaxBackoff, failures), nil) {
				return
			}
		}
	}()
}

// buildWait is the wait after a failed build.
func (s *source) buildWait(err error) time.Duration {
	cfg := s.sy.cfg
	if crm.IsPermanent(err) {
		s.log.Error("crm sync: cannot build connector; retrying later", "err", err, "retryIn", cfg.PermanentRetry)
		return cfg.PermanentRetry
	}
	wait := backoff(cfg.MinBackoff, cfg.MaxBackoff, s.buildFailures)
	s.log.Warn("crm sync: cannot build connector yet", "err", err, "retryIn", wait)
	return wait
}

// retire ends a source removed from the configuration: no longer
// reported, its connector closed.
func (s *source) retire() {
	s.setLeading(false)
	s.closeConnector()
}

func (s *source) closeConnector() {
	if s.stopListen != nil {
		s.stopListen()
		s.notifier, s.listenCtx, s.stopListen = nil, nil, nil
	}
	if s.closer != nil {
		if err := s.closer.Close(); err != nil {
			s.log.Warn("crm sync: close connector", "err", err)
		}
		s.closer = nil
	}
}

// startTerm begins a leadership term of the source on this replica.
func (s *source) startTerm() {
	s.term = newTerm()
	s.seen = nil
	s.setLeading(true)
}

func newTerm() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// failureWait classifies a failed run, logs and counts it, and returns
// how long to wait before the next one.
func (s *source) failureWait(err error, failures int) time.Duration {
	cfg := s.sy.cfg
	wait := backoff(cfg.MinBackoff, cfg.MaxBackoff, failures)
	kind := "transient"
	var se *stepError
	if errors.As(err, &se) {
		kind = se.kind
	}
	level := slog.LevelWarn
	switch ra, ok := crm.RetryAfter(err); {
	case ok && ra > 0:
		// Never before the CRM said; longer if it keeps refusing.
		kind, wait = "rate_limited", max(ra, wait)
	case crm.IsPermanent(err):
		kind, wait, level = "permanent", cfg.PermanentRetry, slog.LevelError
	}
	s.countError(kind)
	s.log.Log(context.Background(), level, "crm sync failed", "kind", kind, "err", err, "retryIn", wait.Round(time.Millisecond), "failures", failures)
	return wait
}

// backoff is the wait after the n-th consecutive failure: min doubling up
// to max, spread by ±20% so that sources failing together retry apart.
func backoff(minD, maxD time.Duration, n int) time.Duration {
	d := float64(minD) * math.Pow(2, float64(max(n, 1)-1))
	d = math.Min(d, float64(maxD))
	d *= 0.8 + 0.4*mrand.Float64()
	return time.Duration(d)
}

// runOnce pages from the stored cursor until the connector has no more
// changes ready. Each page: list, publish its events and wait for the
// acks, then store the page's cursor (compare-and-set). The next page is
// listed meanwhile, from the cursor the page returned: reading a page
// changes nothing, and its events are published once the page before is
// stored. A failure at any step leaves the stored cursor at the last page
// whose events were all acked, so the next run sends the failed page again.
func (s *source) runOnce(ctx context.Context) error {
	kv := s.sy.deps.Cursors
	st, rev, err := loadState(ctx, kv, s.key)
	if err != nil {
		return &stepError{"cursor", err}
	}
	if rev, err = s.startResync(ctx, &st, rev); err != nil {
		return err
	}
	s.mu.Lock()
	if s.lastSuccess.IsZero() {
		s.lastSuccess = st.SyncedAt
	}
	if st.NewestChange.After(s.newest) {
		s.newest = st.NewestChange
	}
	s.mu.Unlock()

	var (
		listed, pages, upserts, deletes int
		// stored, when a page is in flight, reports its publish and
		// cursor store; st and rev are the flight's until then.
		stored chan error
	)
	land := func() error {
		if stored == nil {
			return nil
		}
		err := <-stored
		stored = nil
		return err
	}
	cursor := st.Cursor
	for {
		if err := s.limiter.Wait(ctx); err != nil {
			return errors.Join(err, land())
		}
		if s.account != nil && listed > 0 { // the first page's token is taken by the scheduler
			if err := s.account.Wait(ctx); err != nil {
				return errors.Join(err, land())
			}
		}
		listCtx, cancel := context.WithTimeout(ctx, s.sy.cfg.PageTimeout)
		page, err := s.lister.ListChanges(listCtx, cursor)
		cancel()
		listed++
		if err := land(); err != nil {
			return err
		}
		if err != nil {
			return fmt.Errorf("list changes of %s/%s: %w", s.tenant, s.name, err)
		}
		stored = make(chan error, 1)
		go func() {
			pageCtx, cancel := context.WithTimeout(ctx, s.sy.cfg.PageTimeout)
			defer cancel()
			u, d, newest, err := s.publish(pageCtx, page)
			if err != nil {
				stored <- &stepError{"publish", err}
				return
			}
			st.Cursor, st.SyncedAt = page.Next, s.sy.now().UTC()
			if newest.After(st.NewestChange) {
				st.NewestChange = newest
			}
			if rev, err = storeState(pageCtx, kv, s.key, st, rev); err != nil {
				stored <- &stepError{"cursor", err}
				return
			}
			pages, upserts, deletes = pages+1, upserts+u, deletes+d
			s.mu.Lock()
			if newest.After(s.newest) {
				s.newest = newest
			}
			s.mu.Unlock()
			stored <- nil
		}()
		if !page.More {
			break
		}
		if page.Next == cursor {
			s.log.Warn("crm sync: connector reports more changes but its cursor did not move; continuing next poll")
			break
		}
		cursor = page.Next
	}
	if err := land(); err != nil {
		return err
	}

	if st.Resync != nil {
		n, err := s.reconcile(ctx)
		if err != nil {
			return &stepError{"publish", fmt.Errorf("reconcile resync of %s/%s: %w", s.tenant, s.name, err)}
		}
		st.Resync, s.seen = nil, nil
		if _, err = storeState(ctx, kv, s.key, st, rev); err != nil {
			return &stepError{"cursor", err}
		}
		deletes += n
		s.log.Info("crm sync: resync done", "deletedUnseen", n)
	}
	s.mu.Lock()
	s.lastSuccess = s.sy.now()
	s.mu.Unlock()
	s.updateGauges()
	s.log.Debug("crm sync run", "pages", pages, "upserts", upserts, "deletes", deletes)
	return nil
}

// startResync begins a resync that was asked for, or begins again one
// that another term began (its seen set is lost with it).
func (s *source) startResync(ctx context.Context, st *state, rev uint64) (uint64, error) {
	kv := s.sy.deps.Cursors
	req, err := kv.Get(ctx, s.key+suffixResync)
	switch {
	case err == nil && req.Revision() > st.ResyncHandled:
		st.ResyncHandled = req.Revision()
		s.log.Info("crm sync: resync requested; reading everything again")
	case err == nil || isNotFound(err):
		if st.Resync == nil || (st.Resync.Term == s.term && s.seen != nil) {
			return rev, nil
		}
		s.log.Info("crm sync: resync began in another term; starting its pass again")
	default:
		return rev, &stepError{"cursor", fmt.Errorf("read resync request %s: %w", s.key, err)}
	}
	st.Cursor = ""
	st.Resync = &resyncMark{Term: s.term, StartedAt: s.sy.now().UTC()}
	s.seen = map[string]struct{}{}
	rev, err = storeState(ctx, kv, s.key, *st, rev)
	if err != nil {
		return rev, &stepError{"cursor", err}
	}
	return rev, nil
}

// publish sends a page's events and waits for their acks. Contacts get
// this source's name as Source; contacts and deletes without a usable id
// are skipped (counted as invalid_contact). It returns the counts and the
// newest update time of the page.
func (s *source) publish(ctx context.Context, page crm.Page) (upserts, deletes int, newest time.Time, err error) {
	valid := make([]events.Contact, 0, len(page.Upserts))
	for _, c := range page.Upserts {
		c.ID = strings.TrimSpace(c.ID)
		if c.ID == "" || len(c.ID) > maxIDLen {
			s.countError("invalid_contact")
			s.log.Warn("crm sync: contact without a usable id skipped", "id", c.ID, "name", c.Name)
			continue
		}
		c.Source = s.name
		if c.Type == "" {
			c.Type = "contact"
		}
		if c.UpdatedAt.After(newest) {
			newest = c.UpdatedAt
		}
		valid = append(valid, c)
	}
	if len(valid) > 0 {
		if _, err := s.sy.deps.Contacts.UpsertMany(ctx, s.tenant, valid); err != nil {
			return 0, 0, newest, err
		}
		s.sy.deps.Metrics.SyncContacts.WithLabelValues(s.tenant, s.name, "upsert").Add(float64(len(valid)))
	}
	for _, id := range page.Deletes {
		id = strings.TrimSpace(id)
		if id == "" || len(id) > maxIDLen {
			s.countError("invalid_contact")
			continue
		}
		if _, err := s.sy.deps.Contacts.Delete(ctx, s.tenant, s.name, id); err != nil {
			return len(valid), deletes, newest, err
		}
		deletes++
		s.sy.deps.Metrics.SyncContacts.WithLabelValues(s.tenant, s.name, "delete").Inc()
		if s.seen != nil {
			delete(s.seen, events.SubjectToken(id))
		}
	}
	if s.seen != nil {
		for _, c := range valid {
			s.seen[events.SubjectToken(c.ID)] = struct{}{}
		}
	}
	return len(valid), deletes, newest, nil
}

func (s *source) countError(kind string) {
	s.sy.deps.Metrics.SyncErrors.WithLabelValues(s.tenant, s.name, kind).Inc()
}

func (s *source) setLeading(on bool) {
	m := s.sy.deps.Metrics
	s.mu.Lock()
	s.leading = on
	if !on {
		s.newest, s.lastSuccess = time.Time{}, time.Time{}
	}
	s.mu.Unlock()
	if on {
		m.SyncLeader.WithLabelValues(s.tenant, s.name).Set(1)
		return
	}
	// Only the leader reports a source.
	m.SyncLeader.DeleteLabelValues(s.tenant, s.name)
	m.SyncLagSeconds.DeleteLabelValues(s.tenant, s.name)
	m.SyncSinceSuccessSeconds.DeleteLabelValues(s.tenant, s.name)
}

func (s *source) updateGauges() {
	m := s.sy.deps.Metrics
	now := s.sy.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.leading {
		return
	}
	if !s.newest.IsZero() {
		m.SyncLagSeconds.WithLabelValues(s.tenant, s.name).Set(max(now.Sub(s.newest).Seconds(), 0))
	}
	if !s.lastSuccess.IsZero() {
		m.SyncSinceSuccessSeconds.WithLabelValues(s.tenant, s.name).Set(max(now.Sub(s.lastSuccess).Seconds(), 0))
	}
}
