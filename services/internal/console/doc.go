// Package console is the operators' web console under /console, served by
// the ingress role: server-rendered pages (html/template) with htmx and
// uPlot vendored and embedded. It has no logic of its own for what it
// shows or changes: every read and every action is a request to the admin
// API's own handlers, made in process for the logged-in operator
// (adminauth), so the console, the admin API and calldexctl share one
// implementation and one audit.
//
// An operator logs in with the admin token and gets a session cookie
// (HttpOnly, SameSite=Strict, Secure over TLS); sessions live in this
// process's memory, so each ingress replica has its own. Every POST needs
// the session's CSRF token. The overview's charts read a ring of samples
// taken from the process's own Prometheus registry every interval: the
// console adds nothing to the lookup path.
package console
