// Package dispatchtest is the conformance suite of workflow dispatchers:
// what the HTTP layers (ingress, App Connect) rely on from a Dispatcher
// and the worker behind it. Run checks a Subject: the real
// workflows/dispatch.Dispatcher with a worker on NATS JetStream, or an
// in-memory fake of it, so that a fake cannot drift from the real thing.
package dispatchtest
