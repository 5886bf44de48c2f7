package worker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nuid"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/workflows/crm"
)

// failure carries what the dead-letter middleware needs to record a
// permanent failure. It unwraps to the cause, so crm.IsPermanent sees the
// class.
type failure struct {
	key, tenant, workflow string
	attempts              int
	rec                   record
	rev                   uint64
	err                   error
}

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

// kvKey is what a KV key may be (nats.go refuses anything else).
var kvKey = regexp.MustCompile(`^[-/_=a-zA-Z0-9]+(\.[-/_=a-zA-Z0-9]+)*$`)

// claimMargin is how long a claim outlasts the attempt's own deadline: the
// time to record the outcome.
const claimMargin = 5 * time.Second

// handle runs one attempt of a workflow request.
func (w *Worker) handle(msg *message.Message) error {
	ctx := msg.Context()
	info := infoOf(msg)
	env, err := events.Decode(msg.Payload)
	if err != nil {
		return crm.Permanent(fmt.Errorf("%w: %w", ErrInvalidMessage, err))
	}
	if env.Type != events.TypeWorkflowRequested {
		return crm.Permanent(fmt.Errorf("%w: type %q is not %s", ErrInvalidMessage, env.Type, events.TypeWorkflowRequested))
	}
	var req events.WorkflowRequested
	if err := env.Payload(&req); err != nil {
		return crm.Permanent(fmt.Errorf("%w: %w", ErrInvalidMessage, err))
	}
	if !kvKey.MatchString(req.Key) || len(req.Key) > 256 {
		return crm.Permanent(fmt.Errorf("%w: key %q is not a valid result key", ErrInvalidMessage, req.Key))
	}

	rec, rev, err := w.results.get(ctx, req.Key)
	if err != nil {
		return crm.Transient(err)
	}
	switch {
	case rec.Status == events.StatusDone:
		// Done by an earlier delivery whose ack was lost: ack, do not
		// repeat the effect.
		return nil
	case rec.Status == events.StatusFailed && rec.Seq == info.seq:
		// This very message was dead-lettered already; only its ack
		// was lost.
		return nil
	case rec.Status == events.StatusFailed:
		// An earlier request under this key failed; this one is sent
		// again (the user clicked once more): a new run.
		rec.Attempts, rec.LastError, rec.RetryAt = 0, "", time.Time{}
	}
	fail := func(attempts int, err error) error {
		return &failure{key: req.Key, tenant: env.Tenant, workflow: req.Workflow, attempts: attempts, rec: rec, rev: rev, err: err}
	}

	t, ok := w.tenants.Tenant(env.Tenant)
	if !ok {
		return fail(rec.Attempts+1, crm.Permanent(fmt.Errorf("%w: tenant %q", ErrUnknownTarget, env.Tenant)))
	}
	wf, ok := t.Workflows[req.Workflow]
	if !ok {
		return fail(rec.Attempts+1, crm.Permanent(fmt.Errorf("%w: workflow %q of tenant %s", ErrUnknownTarget, req.Workflow, t.ID)))
	}
	cc, ok := t.Connectors[wf.Connector]
	if !ok {
		return fail(rec.Attempts+1, crm.Permanent(fmt.Errorf("%w: connector %q of tenant %s", ErrUnknownTarget, wf.Connector, t.ID)))
	}

	now := w.now()
	if now.Before(rec.RetryAt) {
		left := rec.RetryAt.Sub(now)
		return &crm.RetryAfterError{After: left, Err: fmt.Errorf("%w (%s left)", errNotYet, left.Round(time.Millisecond))}
	}
	r := w.cfg.Retry
	if rec.Attempts > 0 && (r.MaxAttempts > 0 && rec.Attempts >= r.MaxAttempts ||
		!info.published.IsZero() && now.Sub(info.published) >= r.MaxAge) {
		return fail(rec.Attempts, crm.Permanent(fmt.Errorf("%w after %d attempts: %s", ErrGaveUp, rec.Attempts, rec.LastError)))
	}

	// Claim the run, so that a second delivery of this request (one the
	// consumer sent again after its leader moved, while this one still
	// runs) waits rather than calling the CRM beside it. A claim lasts
	// one attempt: a worker that died holding it delays the next
	// delivery, it does not block it.
	claim := nuid.Next()
	until := now.Add(w.cfg.AttemptTimeout + claimMargin)
	rec, rev, err = w.results.update(ctx, req.Key, rec, rev, func(x *record) bool {
		if x.Status == events.StatusDone {
			return false
		}
		if _, other := x.claimedByOther(claim, now); other {
			return false
		}
		x.Tenant, x.Workflow, x.Seq = t.ID, req.Workflow, info.seq
		x.Status, x.ClaimedBy, x.ClaimedUntil = events.StatusRunning, claim, until
		return true
	})
	if err != nil {
		return crm.Transient(err)
	}
	if rec.Status == events.StatusDone {
		return nil
	}
	if left, other := rec.claimedByOther(claim, now); other {
		return &crm.RetryAfterError{After: left, Err: fmt.Errorf("%w (%s left)", errClaimed, left.Round(time.Millisecond))}
	}
	attempt := rec.Attempts + 1
	call := crm.Call{Key: req.Key, Tenant: t.ID, Workflow: req.Workflow, Input: req.Inputs}
	res, err := crm.Result{}, w.resolveLog(ctx, &call.Input)
	if err == nil {
		res, err = w.run(ctx, t.ID, wf.Action, wf.Connector, cc, call)
	}
	// Outcomes are recorded even when the worker is stopping: an effect
	// that happened must be known, or its redelivery would repeat it. The
	// bound covers a JetStream leader election.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	if err == nil {
		_, _, werr := w.results.update(wctx, req.Key, rec, rev, func(x *record) bool {
			if x.Status == events.StatusDone {
				return false
			}
			x.Tenant, x.Workflow, x.Seq = t.ID, req.Workflow, info.seq
			x.Status, x.Attempts, x.ID, x.URL, x.LastError, x.RetryAt = events.StatusDone, attempt, res.ID, res.URL, "", time.Time{}
			x.ClaimedBy, x.ClaimedUntil = "", time.Time{}
			return true
		})
		if werr != nil {
			// Not acked: the redelivery calls the CRM again with the same
			// key, which returns the same effect.
			return crm.Transient(werr)
		}
		w.outcome(t.ID, req.Workflow, outcomeDone, attempt)
		return nil
	}
	if crm.IsPermanent(err) {
		return fail(attempt, err)
	}
	var retryAt time.Time
	if after, ok := crm.RetryAfter(err); ok {
		retryAt = w.now().Add(after)
	}
	w.outcome(t.ID, req.Workflow, outcomeRetry, attempt)
	w.logger(ctx).Warn("workflow attempt failed", "key", req.Key, "tenant", t.ID, "workflow", req.Workflow, "attempt", attempt, "err", err)
	if _, _, werr := w.results.update(wctx, req.Key, rec, rev, func(x *record) bool {
		if x.Status == events.StatusDone {
			return false
		}
		x.Tenant, x.Workflow, x.Seq = t.ID, req.Workflow, info.seq
		x.Status, x.Attempts, x.LastError, x.RetryAt = events.StatusRunning, attempt, truncate(err.Error(), 2000), retryAt
		x.ClaimedBy, x.ClaimedUntil = "", time.Time{}
		return true
	}); werr != nil {
		return errors.Join(err, werr)
	}
	return err
}

// logWait is how long a disposition waits for the workflow logging its
// call before its next attempt.
const logWait = 5 * time.Second

// resolveLog fills in.LogID, when the request does not know it, from the
// result of the workflow that logs the call (in.LogKey): a disposition
// may be sent while its call is still being logged.
func (w *Worker) resolveLog(ctx context.Context, in *events.CallInput) error {
	if in.LogID != "" || in.LogKey == "" {
		return nil
	}
	if !kvKey.MatchString(in.LogKey) {
		return crm.Permanent(fmt.Errorf("%w: logKey %q is not a valid result key", ErrInvalidMessage, in.LogKey))
	}
	rec, _, err := w.results.get(ctx, in.LogKey)
	if err != nil {
		return crm.Transient(err)
	}
	switch rec.Status {
	case events.StatusDone:
		if rec.ID == "" {
			return crm.Permanent(fmt.Errorf("%w: %s is done without a CRM id", ErrLogNotDone, in.LogKey))
		}
		in.LogID = rec.ID
		return nil
	case events.StatusFailed:
		return crm.Permanent(fmt.Errorf("%w: %s failed: %s", ErrLogNotDone, in.LogKey, rec.LastError))
	}
	return &crm.RetryAfterError{After: logWait, Err: fmt.Errorf("%w: %s is %s", ErrLogNotDone, in.LogKey, cmp.Or(rec.Status, "not recorded"))}
}

// run calls the connector. The call is detached from the message's
// cancellation (but keeps the attempt deadline): stopping the worker must
// not abort a CRM request half-way, leaving us unsure whether it happened.
func (w *Worker) run(ctx context.Context, tenantID, action, name string, cc tenantConnector, call crm.Call) (crm.Result, error) {
	cctx, cancel := detach(ctx)
	defer cancel()
	conn, err := w.connectors.Connector(cctx, tenantID, name, cc)
	if err != nil {
		return crm.Result{}, err
	}
	return conn.Do(cctx, action, call)
}

func detach(ctx context.Context) (context.Context, context.CancelFunc) {
	base := context.WithoutCancel(ctx)
	if d, ok := ctx.Deadline(); ok {
		return context.WithDeadline(base, d)
	}
	return context.WithCancel(base)
}
