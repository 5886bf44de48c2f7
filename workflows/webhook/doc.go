// Package webhook is the "webhook" connector: it hands each workflow to an
// HTTP endpoint the customer runs, as a signed JSON POST, so any CRM Calldex
// has no connector for can still be driven.
//
// The request body is {key, tenant, workflow, action, inputs}. Headers:
//
//	X-Calldex-Timestamp: <unix seconds>
//	X-Calldex-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the secret>
//	Idempotency-Key: <key>
//
// The same key arrives again when a delivery is retried: receivers should
// make the effect once per key. A 2xx answer with a JSON {id,url} is the
// workflow's result; 408, 429 and 5xx are retried (Retry-After honoured),
// other statuses dead-letter the workflow. Receivers check requests with
// Verify.
package webhook
