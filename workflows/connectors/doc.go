// Package connectors turns a tenant's connector config ({type, options})
// into a running CRM connector: it knows the connector types, builds one
// instance per (tenant, connector name) and keeps it, and guards each
// instance with its own circuit breaker, so one tenant's CRM outage fails
// fast without touching the others. A Connector hands out its
// capabilities only as typed accessors (PhoneSearcher, CallLogger, …)
// whose every call goes through that breaker: no caller reaches the
// implementation around it.
//
// Every HTTP connector shares one *resty.Client from NewHTTPClient: pooled
// connections, a per-request timeout from the connector's config, and no
// retries — retrying is the worker's job, with backoff and a durable queue.
package connectors
