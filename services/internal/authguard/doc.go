// Package authguard slows down credential guessing. Every failed credential
// (a tenant credential, the admin token, an App Connect apiKeyLogin key, a
// CRM webhook signature) is counted per client address and per tenant in a
// fixed window; once an address has failed MaxFailures times in the window,
// its requests are answered 429 with Retry-After until the window ends,
// whatever their credential, so a guessed key does not work straight after
// the guessing. Successful requests never touch the counters: while no
// address is blocked, Allow is one atomic load.
//
// A tenant that has seen MaxTenantFailures failures in a window (a guess
// spread over many addresses) refuses, until the window ends, every address
// that has itself failed in that window; addresses without a failure are
// never refused for it, so that nobody can lock a tenant out.
//
// The client address is the TCP peer (http.Request.RemoteAddr): behind a
// proxy every client shares the proxy's address and limit. Counters live in
// memory, so with several ingress replicas the limit is per replica (a
// client spread over n replicas gets n × MaxFailures tries per window).
// Memory is bounded by MaxKeys counters: when full, expired counters go
// first, then arbitrary ones.
//
// Replays remembers HubSpot webhook signatures until their timestamp leaves
// the accepted window, so that a captured request is refused the second
// time (also per replica).
package authguard
