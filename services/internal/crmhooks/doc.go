// Package crmhooks receives CRM change notifications at
// POST /webhooks/{tenant}/{source}, where source names a HubSpot or
// Pipedrive connector of the tenant, and turns them into contact events
// without waiting for the CRM: a deletion is published to CONTACTS as a
// tombstone right away, any other change of a contact asks the source's
// sync (workflows/crmsync) to run now, which fetches it. The answer is 204
// as soon as the tombstones are acked and the sync is asked for; 503 when
// NATS cannot take them, so that the CRM sends the notification again.
//
// Authentication, per source, from the connector's options:
//
//   - HubSpot (type hubspot, webhookSecret: the app's client secret):
//     X-HubSpot-Signature-v3 must be the base64 HMAC-SHA256 of
//     method + URI + body + X-HubSpot-Request-Timestamp, and the timestamp
//     within 5 minutes of now. A signature already taken is refused (401)
//     until its timestamp leaves that window, so a captured request cannot
//     be replayed; one whose notification could not be applied (503) is
//     taken again when HubSpot retries it. Signatures are remembered in
//     memory, per replica, at most Config.MaxReplays of them (a request
//     that cannot be remembered is answered 503, not taken). The URI is the one HubSpot called: set
//     webhookURL when a proxy rewrites it, or let the proxy send
//     X-Forwarded-Proto and X-Forwarded-Host. Events of another portal
//     than the connector's portalId are ignored.
//   - Pipedrive (type pipedrive, webhookUser and webhookPassword): HTTP
//     basic auth, as given to Pipedrive with http_auth_user and
//     http_auth_password when creating the webhook. Webhooks v1 and v2.
//
// Failed signatures and credentials count against the client address and
// the tenant (Deps.Guard, package authguard): past the limit, 429 with
// Retry-After.
//
// Answers: 204 done (also for events of other objects, which are
// ignored); 400 malformed body; 401 bad signature, stale timestamp,
// replayed signature or wrong credentials; 429 too many failures; 404 unknown tenant or source, or a source without
// webhook credentials; 413 body too large; 503 NATS unavailable.
package crmhooks
