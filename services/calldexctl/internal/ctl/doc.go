// Package ctl is calldexctl: one cobra command per operation, each a thin
// layer over a function that does the work against NATS JetStream and
// Redis, so tests run the commands in-process with arguments and read what
// they print. Human output by default, --json for scripts; progress bars
// on stderr when it is a terminal; Ctrl-C stops at a safe point and says
// how far the command got.
package ctl
