package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/calldex/calldex/events"
)

// DefaultPublishTimeout bounds how long Submit waits for the JetStream ack
// when the caller's context allows longer: a PBX waits for our answer, and a
// quick 503 it can retry beats a slow one.
const DefaultPublishTimeout = 2 * time.Second

// CorrelationHeader carries the correlation id of a request; the worker logs
// it and copies it onto dead letters.
const CorrelationHeader = "Calldex-Correlation-Id"

// Dispatcher submits workflow requests and reads their results. It is safe
// for concurrent use; Close stops its result watcher.
type Dispatcher struct {
	js             jetstream.JetStream
	results        jetstream.KeyValue
	topo           events.Topology
	publishTimeout time.Duration
	now            func() time.Time

	mu       sync.Mutex
	watch    *watcher
	starting bool
	closed   bool
	waiters  map[string]map[chan events.WorkflowResult]struct{}
}

// Option changes a Dispatcher default.
type Option func(*Dispatcher)

// WithPublishTimeout sets how long Submit waits for the JetStream ack at
// most (DefaultPublishTimeout).
func WithPublishTimeout(d time.Duration) Option {
	return func(x *Dispatcher) {
		if d > 0 {
			x.publishTimeout = d
		}
	}
}

// New builds a Dispatcher on a ready JetStream client and the
// workflow_results bucket (natsx.Setup creates both).
func New(js jetstream.JetStream, results jetstream.KeyValue, topo events.Topology, opts ...Option) *Dispatcher {
	d := &Dispatcher{
		js:             js,
		results:        results,
		topo:           topo,
		publishTimeout: DefaultPublishTimeout,
		now:            time.Now,
		waiters:        map[string]map[chan events.WorkflowResult]struct{}{},
	}
	for _, o := range opts {
		o(d)
	}
	return d
}

// Key is the package function Key, as a method for callers that hold a
// Dispatcher behind an interface.
func (d *Dispatcher) Key(tenant, workflow string, in events.CallInput) string {
	return Key(tenant, workflow, in)
}

// Submit publishes a workflow request and returns its key once JetStream has
// stored it. Any failure to get the ack is an error wrapping ErrUnavailable:
// the request may or may not have been stored, and the caller must not
// answer 2xx; sending the same request again is safe (same key, deduplicated
// by the stream and by the worker).
//
// force gives the request a fresh key, so that a workflow already done runs
// again (an explicit replay).
//
// After the ack, Submit records status accepted unless a record exists, so a
// request sent again keeps the outcome of the first one. Failing to write
// that record does not fail Submit: the request is stored and the worker
// writes the record as it runs.
func (d *Dispatcher) Submit(ctx context.Context, tenant, workflow string, in events.CallInput, force bool) (string, error) {
	if err := events.ValidID(tenant); err != nil {
		return "", fmt.Errorf("submit workflow: %w: %w", ErrInvalid, err)
	}
	if workflow == "" || len(workflow) > 128 {
		return "", fmt.Errorf("submit workflow: %w: %w: workflow name must have 1 to 128 characters", ErrInvalid, events.ErrInvalid)
	}
	key := Key(tenant, workflow, in)
	if force {
		key = forcedKey(key)
	}
	now := d.now().UTC()
	env, err := events.New(key, events.TypeWorkflowRequested, tenant, "", now, events.WorkflowRequested{
		Key: key, Workflow: workflow, Inputs: in, Forced: force, RequestedAt: now,
	})
	if err != nil {
		return "", fmt.Errorf("submit workflow %s/%s: %w", tenant, workflow, err)
	}
	body, err := json.Marshal(env)
	if err != nil {
		return "", fmt.Errorf("submit workflow %s/%s: marshal: %w", tenant, workflow, err)
	}

	// A disconnected client buffers publishes and would only fail at the
	// ack timeout; answer at once instead, the PBX is waiting.
	if nc := d.js.Conn(); nc != nil && nc.Status() != nats.CONNECTED {
		return "", fmt.Errorf("submit workflow %s/%s: %w: nats connection is %s", tenant, workflow, ErrUnavailable, nc.Status())
	}
	msg := nats.NewMsg(d.topo.WorkflowSubject(tenant, workflow))
	msg.Data = body
	msg.Header.Set(nats.MsgIdHdr, key)
	msg.Header.Set(CorrelationHeader, key)
	pctx, cancel := context.WithTimeout(ctx, d.publishTimeout)
	defer cancel()
	if _, err := d.js.PublishMsg(pctx, msg, jetstream.WithExpectStream(d.topo.Stream(events.StreamWorkflows))); err != nil {
		return "", fmt.Errorf("submit workflow %s/%s: %w: %w", tenant, workflow, ErrUnavailable, err)
	}

	rec, _ := json.Marshal(events.WorkflowResult{
		Key: key, Tenant: tenant, Workflow: workflow, Status: events.StatusAccepted, UpdatedAt: now,
	})
	// Create, not Put: the worker may already have written running or done
	// (it can be faster than this line), and a request sent again must not
	// reset a finished result.
	_, _ = d.results.Create(ctx, key, rec)
	return key, nil
}

// Status returns the recorded result of a key, or ErrNotFound. The record
// names its tenant: callers serving a tenant use StatusFor.
func (d *Dispatcher) Status(ctx context.Context, key string) (events.WorkflowResult, error) {
	if !ValidKey(key) {
		return events.WorkflowResult{}, fmt.Errorf("workflow status %q: %w", key, ErrNotFound)
	}
	e, err := d.results.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return events.WorkflowResult{}, fmt.Errorf("workflow status %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return events.WorkflowResult{}, fmt.Errorf("workflow status %s: %w: %w", key, ErrUnavailable, err)
	}
	return decode(key, e.Value())
}

// StatusFor is Status for one tenant: another tenant's key is ErrNotFound,
// indistinguishable from a key that does not exist.
func (d *Dispatcher) StatusFor(ctx context.Context, tenant, key string) (events.WorkflowResult, error) {
	r, err := d.Status(ctx, key)
	if err != nil {
		return r, err
	}
	if r.Tenant != tenant {
		return events.WorkflowResult{}, fmt.Errorf("workflow status %s: %w", key, ErrNotFound)
	}
	return r, nil
}

// Wait waits up to d for the key's result to be done or failed and returns
// the latest record either way (status accepted or running when time ran
// out); the caller answers {id,url} or {} from it. It follows the bucket
// through one shared KV watch, not by polling. ErrNotFound when no record
// exists even at the end.
func (d *Dispatcher) Wait(ctx context.Context, key string, wait time.Duration) (events.WorkflowResult, error) {
	if !ValidKey(key) {
		return events.WorkflowResult{}, fmt.Errorf("workflow wait %q: %w", key, ErrNotFound)
	}
	// Register before reading, so an update landing between the read and
	// the wait is not missed.
	ch, watching := d.register(ctx, key)
	defer d.unregister(key, ch)

	last, err := d.Status(ctx, key)
	found := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return last, fmt.Errorf("workflow wait: %w", err)
	}
	if found && terminal(last.Status) {
		return last, nil
	}
	if !watching {
		// No watch (NATS trouble): nothing better to do than answer with
		// what we have; the client asks again with the key.
		return d.finish(ctx, key, last, found)
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case r := <-ch:
			last, found = r, true
			if terminal(r.Status) {
				return r, nil
			}
		case <-timer.C:
			return d.finish(ctx, key, last, found)
		case <-ctx.Done():
			if found {
				return last, nil
			}
			return last, fmt.Errorf("workflow wait %s: %w", key, ctx.Err())
		}
	}
}

// finish reads the record once more at the end of a wait, so the answer is
// the latest even if the watch lagged.
func (d *Dispatcher) finish(ctx context.Context, key string, last events.WorkflowResult, found bool) (events.WorkflowResult, error) {
	r, err := d.Status(ctx, key)
	switch {
	case err == nil:
		return r, nil
	case found:
		return last, nil
	default:
		return r, fmt.Errorf("workflow wait: %w", err)
	}
}

func terminal(status string) bool {
	return status == events.StatusDone || status == events.StatusFailed
}

func decode(key string, b []byte) (events.WorkflowResult, error) {
	var r events.WorkflowResult
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("workflow result %s: decode: %w", key, err)
	}
	return r, nil
}
