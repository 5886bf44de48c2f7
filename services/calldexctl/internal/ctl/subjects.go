package ctl

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// subjectMatches reports whether a concrete subject matches a filter.
func subjectMatches(filter, subject string) bool {
	f, s := strings.Split(filter, "."), strings.Split(subject, ".")
	for i, ft := range f {
		if ft == ">" {
			return len(s) > i
		}
		if i >= len(s) || ft != "*" && ft != s[i] {
			return false
		}
	}
	return len(f) == len(s)
}

// subjectCovers reports whether every subject pattern matches is matched
// by filter too.
func subjectCovers(filter, pattern string) bool {
	f, p := strings.Split(filter, "."), strings.Split(pattern, ".")
	for i, ft := range f {
		if ft == ">" {
			return len(p) > i
		}
		if i >= len(p) {
			return false
		}
		switch {
		case p[i] == ">":
			return false
		case ft == "*":
		case ft != p[i]:
			return false
		}
	}
	return len(f) == len(p)
}

// subjectsOverlap reports whether some subject matches both patterns.
func subjectsOverlap(a, b string) bool {
	x, y := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; ; i++ {
		switch {
		case i == len(x) || i == len(y):
			return len(x) == len(y)
		case x[i] == ">" || y[i] == ">":
			return true
		case x[i] == "*" || y[i] == "*" || x[i] == y[i]:
		default:
			return false
		}
	}
}

// filterFor returns the consumer filters that read subject from a stream:
// none when the filter takes the whole stream (older servers refuse a
// filter wider than the stream's subjects).
func filterFor(streamSubjects []string, subject string) []string {
	if subject == "" {
		return nil
	}
	for _, s := range streamSubjects {
		if !subjectCovers(subject, s) {
			return []string{subject}
		}
	}
	return nil
}

// reader reads a stream in order from a start, until it has delivered
// every matching message the stream held when it was asked.
type reader struct {
	stream jetstream.Stream
	cons   jetstream.Consumer
	// Total is how many matching messages were pending when it started.
	Total uint64
}

func newReader(ctx context.Context, stream jetstream.Stream, cfg jetstream.OrderedConsumerConfig) (*reader, error) {
	cons, err := stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return nil, err
	}
	r := &reader{stream: stream, cons: cons}
	if ci, err := cons.Info(ctx); err == nil {
		r.Total = ci.NumPending
	}
	return r, nil
}

// each calls fn for every message in order until fn returns false, an
// error occurs, or no message is pending (caught up). Call it once: it may
// return with a fetch still open.
func (r *reader) each(ctx context.Context, fn func(jetstream.Msg, *jetstream.MsgMetadata) (bool, error)) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch, err := r.cons.Fetch(256, jetstream.FetchMaxWait(500*time.Millisecond))
		if err != nil {
			return err
		}
		n := 0
		for msg := range batch.Messages() {
			md, err := msg.Metadata()
			if err != nil {
				continue
			}
			n++
			more, err := fn(msg, md)
			if err != nil || !more {
				return err
			}
			if md.NumPending == 0 {
				// Caught up: do not wait for the fetch to expire.
				return nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, nats.ErrTimeout) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if n == 0 {
			ci, err := r.cons.Info(ctx)
			if err != nil {
				return err
			}
			if ci.NumPending == 0 {
				return nil
			}
		}
	}
}

// follow calls fn for every message in order, as they come, until fn
// returns false, an error occurs or ctx ends.
func (r *reader) follow(ctx context.Context, fn func(jetstream.Msg, *jetstream.MsgMetadata) (bool, error)) error {
	it, err := r.cons.Messages()
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return err
		}
		md, err := msg.Metadata()
		if err != nil {
			continue
		}
		if more, err := fn(msg, md); err != nil || !more {
			return err
		}
	}
}

// parseWhen reads a point in time: a duration ago ("10m", "36h") or an
// RFC 3339 time.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, usagef("%q is neither a duration (10m, 36h) nor an RFC 3339 time (2026-01-05T10:00:00Z)", s)
	}
	return t, nil
}

// copyHeaders copies a message's headers except those JetStream would act
// on again (message id, expectations).
func copyHeaders(h nats.Header) nats.Header {
	out := nats.Header{}
	for k, v := range h {
		if k == nats.MsgIdHdr || strings.HasPrefix(k, "Nats-Expected-") {
			continue
		}
		out[k] = append([]string(nil), v...)
	}
	return out
}
