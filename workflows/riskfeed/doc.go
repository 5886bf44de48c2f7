// Package riskfeed counts calls for caller risk: a watermill consumer of
// CALLS that turns call.lookup events (a call rang at a tenant) and finished
// call.event events (ended or missed: answered or not, how long) into
// risk.Observations of the caller's number, recorded in a risk.Store.
//
// It runs in the projector role (services/internal/app): like the
// projector, it turns a stream into a store the ingress reads, and an
// ingress without a projector in its process already needs Redis, which is
// then where the counts live. Every replica shares one durable consumer,
// so extra projectors split the stream rather than count it twice. A new
// consumer starts an hour back, the window the rules look at; counts are
// best effort (a message redelivered after a failed write may count twice).
package riskfeed
