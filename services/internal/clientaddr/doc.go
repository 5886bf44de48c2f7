// Package clientaddr tells the address of the client behind a request:
// the peer's, or, when the peer is one of the trusted proxies (a load
// balancer), the address the proxies report in X-Forwarded-For or
// Forwarded (RFC 7239). Those headers are believed only from trusted
// proxies, and only as far as the chain of trusted proxies goes: the
// client address is the nearest one that is not a trusted proxy, so a
// client cannot pick its own address by sending the header itself.
//
// The Middleware puts that address in the request's RemoteAddr before any
// handler runs, so that every dialect's check of a tenant's allowedCIDRs
// (tenant.Registry.Authenticate, App Connect's sessions) and every log
// sees the client rather than the load balancer.
package clientaddr
