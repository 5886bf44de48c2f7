// Package crmsync keeps the contact index within seconds of the tenants'
// CRMs: it polls every (tenant, source), where a source is a tenant
// connector that implements crm.ChangeLister (HubSpot, Pipedrive), named
// by the connector's name in the tenant config.
//
// # A run
//
// A run pages ListChanges from the stored cursor until the connector has
// no more changes ready (Page.More false). For each page it publishes the
// upserts (Contact.Source set to the source name) and the deletes
// (tombstones) to CONTACTS, waits until JetStream acked every one, and
// only then stores the page's Next cursor in the sync_cursors bucket under
// "<tenant>.<source>". A failure anywhere — the CRM, NATS, the cursor
// write — leaves the stored cursor at the last fully acked page, so the
// next run sends the failed page again: delivery is at least once, and
// upserts and tombstones are idempotent. Runs follow each other every
// syncInterval (default 30s); a webhook or SyncNow starts one earlier.
//
// # One syncer per source: shards and their leases
//
// Sources are spread over Shards shards (default 64) by a hash of
// "<tenant>.<source>", and replicas hold leases per shard, not per
// source, so that 20,000 sources cost 64 leases in the bucket, not 20,000.
// A lease ("SHARD.<n>" in sync_cursors) is a KV entry {owner, renewedAt}
// changed only by compare-and-set on its revision: Create when absent (or
// deleted), Update(revision) to renew it, and Update(revision) by another
// replica to take it over once renewedAt is older than 4/5 of LeasePeriod
// or its owner's heartbeat is gone.
//
// Every LeasePeriod/5 each replica renews its heartbeat
// ("MEMBER.<hex(owner)>"), counts the replicas whose heartbeat is recent
// (N), renews its shard leases, gives back the ones beyond its share
// ceil(Shards/N) and claims free or expired ones up to it. Shards spread
// again when a replica comes (the others give back their extra shards)
// or goes: a replica that stops cleanly deletes its leases and heartbeat
// at once; a dead one's shards are taken once its heartbeat expired,
// within one LeasePeriod (given clocks in step, as NTP keeps them). A
// replica that fails to renew a shard stops its sources immediately. The
// cursor write is a compare-and-set too (on the revision read when the run
// began), so even two replicas that both believe they hold a shard cannot
// move one source's cursor past each other: the second write fails.
//
// # Scheduling
//
// A replica keeps the sources of the shards it holds in a heap ordered by
// due time; one dispatcher hands due sources to a pool of Workers (default
// 32), so no source has a goroutine of its own, sources are served in due
// order, and a slow source holds one worker, not the others' turns. After
// a run a source is due again after its interval, or after the failure's
// wait.
//
// # Failures
//
// Transient failures (5xx, timeouts, NATS) back off exponentially from
// MinBackoff to MaxBackoff. A crm.RetryAfterError (429 with Retry-After)
// waits at least the time the CRM asked for; wakes do not shorten it.
// Permanent failures (401, a refused cursor, a connector that cannot be
// built) are logged as errors and retried every PermanentRetry: the loop
// never stops. Every CRM request of a source goes through a token bucket
// of rateLimit requests per second, and through the token bucket of its
// CRM account (option account, accountRateLimit requests per second)
// shared with the other sources of that account; a run whose account has
// no token yet goes back to the heap instead of holding a worker.
//
// # Requests between processes
//
// SyncNow and Resync (and Requests, for processes without a Syncer, such
// as the ingress serving CRM webhooks) write "<tenant>.<source>.wake" or
// "<tenant>.<source>.resync" in sync_cursors; every Syncer watches those
// keys and makes that source due now if it holds the source's shard.
//
// # Full resync
//
// A resync request resets the cursor (marking the state "resync running"
// with the current leadership term) and reads everything again. Once the
// pass is complete, every contact subject of the source in CONTACTS —
// listed with the stream info's subject filter — that the pass did not
// list gets a tombstone. The set of listed ids lives in memory, so a
// replica that takes over a source in the middle of a resync starts the
// pass again.
//
// # Metrics
//
// The replica holding a source's shard reports calldex_sync_lag_seconds
// (now − newest change time seen), calldex_sync_since_success_seconds and
// calldex_sync_leader; every replica counts calldex_sync_contacts_total
// and calldex_sync_errors_total (kind: transient, rate_limited, permanent,
// publish, cursor, lease, build, invalid_contact).
package crmsync
