// Package dispatch is the ingress side of the durable workflow path: it
// derives a workflow request's idempotency key, publishes the request to the
// WORKFLOWS stream and waits for the JetStream ack (nothing is "accepted"
// that is not stored), then lets the caller wait a bounded time for the
// result the worker writes into the workflow_results KV bucket.
//
// The HTTP layer calls, in order:
//
//	key, err := d.Submit(ctx, tenant, workflow, inputs, force) // ErrUnavailable → 503
//	res, err := d.Wait(ctx, key, tenant.WorkflowWait)          // done/failed, or the latest record
//
// and, for a status endpoint, d.StatusFor(ctx, tenant, key) (ErrNotFound
// also for another tenant's key, so keys cannot be probed across tenants).
package dispatch
