// Package adminauth marks a request to the admin API as already
// authenticated in process: the web console calls the admin API's own
// handlers for an operator it has logged in, so every action has one
// implementation and one audit. Only code in the process can set it; no
// header or cookie of an HTTP request can.
package adminauth

import "context"

type actorKey struct{}

// WithActor returns ctx carrying the authenticated actor (audited as it).
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// Actor returns the actor WithActor set, if any.
func Actor(ctx context.Context) (string, bool) {
	a, ok := ctx.Value(actorKey{}).(string)
	return a, ok && a != ""
}
