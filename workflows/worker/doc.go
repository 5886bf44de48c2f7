// Package worker runs workflow requests from the WORKFLOWS stream against
// the tenants' CRM connectors: a watermill router on watermill-nats
// subscriptions to one durable push consumer (and deliver group) shared by
// every replica, so replicas split the work.
//
// # Each message at least once, each CRM effect once
//
// A message is acked only after its outcome is recorded in the
// workflow_results bucket (done, or failed with a dead letter written).
// The record, not the ack, is what counts: acks are sent without waiting
// for a confirmation, and a lost one only brings a redelivery.
// Before acting, the worker reads the record: a key already done is acked
// without calling the CRM (a redelivery after a crash between the CRM call
// and the ack). A crash between the CRM call and the record is covered by
// the connectors themselves: each passes the idempotency key to the CRM (a
// UNIQUE column, an Idempotency-Key header), so the repeated call returns
// the first effect.
//
// # Retries and redelivery
//
// Failures are sorted by crm.IsPermanent. A permanent failure (4xx, invalid
// input, an invalid envelope, an unknown tenant, workflow or connector) is
// not retried: the message goes to the DLQ stream unchanged, with headers
// naming the reason, attempts, original subject and message id, the record
// says failed, and the message is acked.
//
// A transient failure is retried in two tiers:
//
//  1. In process: up to Retry.LocalAttempts attempts per delivery, waiting
//     an exponential, jittered backoff between them — as long as the wait
//     plus one more attempt fits in the delivery's ack window (AckWait, with
//     a margin). This absorbs blips without a round trip through NATS.
//  2. Through JetStream: then the message is Nak'ed with a delay that grows
//     with the delivery count (same backoff curve, capped at
//     Retry.MaxInterval), and the consumer never stops redelivering
//     (MaxDeliver -1). The message stays unacked in the stream meanwhile, so
//     a worker that dies mid-backoff loses nothing: JetStream redelivers it
//     to another replica after AckWait.
//
// A CRM's Retry-After (crm.RetryAfter, also used by an open circuit breaker)
// is a minimum: the next attempt is not made before it. It is kept in the
// record (retryAt), so that it holds across redeliveries and replicas; a
// delivery that arrives earlier waits, or is Nak'ed again, without calling
// the CRM.
//
// A delivery waiting between local attempts holds one of the replica's
// Concurrency slots. A CRM that keeps failing is cut off by its connector's
// circuit breaker, whose open state answers at once with the remaining
// cool-down as Retry-After: that no longer fits in the ack window, so its
// messages are Nak'ed within milliseconds and other tenants' workflows are
// not kept waiting behind them.
//
// A CRM down for an hour therefore just delays its workflows. The worker
// gives up only after Retry.MaxAttempts attempts (0: no limit) or once the
// request is older than Retry.MaxAge (default 24 h, below the stream's
// 30-day retention, so a message is never dropped by the stream first); it
// then dead-letters it with the reason "gave up after N attempts: <last
// error>".
//
// Attempts and the last error are written to the record as they happen
// (status running), so the ingress can answer a status query truthfully.
//
// # NATS outages
//
// A worker rides out NATS outages of any length, and NATS restarts,
// without being restarted itself. Its connection reconnects forever (give
// it nats.MaxReconnects(-1); New warns otherwise) and the consumer lives in
// the server. The worker subscribes to the consumer's deliver subject with
// plain NATS queue subscriptions, which need no JetStream request (the
// legacy JetStream subscribe looks the consumer up) and which nats.go
// renews on every reconnect; the consumer resumes delivering as soon as
// they are back.
//
// Run waits for NATS when it starts: it creates or updates the consumer,
// retrying as long as NATS is unreachable or JetStream not ready, and
// fails only on what an outage does not explain (an unknown stream, a
// refused configuration). It ensures the consumer again after every
// reconnect, so that a server back without it (its state lost, the
// consumer deleted) does not leave the worker waiting for deliveries that
// never come: a push consumer of a deliver group has no heartbeat that
// could tell. If the connection is closed under it, Run returns an error.
//
// Nothing is lost meanwhile. Messages published while the worker is away
// wait in the stream. A message in flight when the connection breaks is
// unacked and redelivered after AckWait (the server keeps its pending
// state across restarts): if its outcome was recorded, the redelivery only
// acks it; if not, the CRM call is repeated with the same idempotency key.
//
// # Stopping
//
// Run returns when its context ends. A CRM call in progress is allowed to
// finish within its attempt timeout and its outcome is recorded, but its
// message is not acked (the subscription is gone): the redelivery finds the
// record done and acks it. Waits between retries stop at once.
package worker
