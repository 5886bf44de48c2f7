package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/workflows/crm"
	"github.com/calldex/calldex/workflows/dispatch"
)

// Headers of a dead letter, next to the original message's own headers.
const (
	HeaderDLQReason   = "Calldex-Dlq-Reason"
	HeaderDLQAttempts = "Calldex-Dlq-Attempts"
	HeaderDLQSubject  = "Calldex-Dlq-Subject"
	HeaderDLQMsgID    = "Calldex-Dlq-Msg-Id"
	HeaderDLQSeq      = "Calldex-Dlq-Seq"
	HeaderDLQTime     = "Calldex-Dlq-Time"
)

type ctxKey int

const correlationKey ctxKey = iota

// correlationID makes sure every message has a correlation id (the
// request's, else its message id) in its metadata and context, for logs and
// dead letters.
func correlationID(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		id := msg.Metadata.Get(dispatch.CorrelationHeader)
		if id == "" {
			id = middleware.MessageCorrelationID(msg)
		}
		if id == "" {
			id = msg.UUID
		}
		middleware.SetCorrelationID(id, msg)
		msg.Metadata.Set(dispatch.CorrelationHeader, id)
		msg.SetContext(context.WithValue(msg.Context(), correlationKey, id))
		return h(msg)
	}
}

// attemptTimeout gives each attempt its own deadline. It restores the
// message's context afterwards: watermill's middleware.Timeout does not,
// so under a retry every attempt after the first would inherit the first
// one's expired deadline.
func attemptTimeout(d time.Duration) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			orig := msg.Context()
			ctx, cancel := context.WithTimeout(orig, d)
			defer func() {
				cancel()
				msg.SetContext(orig)
			}()
			msg.SetContext(ctx)
			return h(msg)
		}
	}
}

// retry runs the in-process tier of retries (see the package doc): it
// retries a transient failure after a jittered exponential backoff, at
// least the CRM's Retry-After, while the wait and one more attempt fit in
// the delivery's ack window; then it returns the error, and the subscriber
// Naks the message with a growing delay.
func (w *Worker) retry(h message.HandlerFunc) message.HandlerFunc {
	budget := time.Duration(ackWindowShare * float64(w.cfg.AckWait))
	return func(msg *message.Message) ([]*message.Message, error) {
		start := time.Now()
		info := infoOf(msg)
		for i := 1; ; i++ {
			out, err := h(msg)
			if err == nil || crm.IsPermanent(err) || msg.Context().Err() != nil {
				return out, err
			}
			wait := w.cfg.Retry.backoff((info.delivered-1)*w.cfg.Retry.LocalAttempts + i)
			if after, ok := crm.RetryAfter(err); ok && after > wait {
				wait = after
			}
			if i >= w.cfg.Retry.LocalAttempts && !errors.Is(err, errNotYet) && !errors.Is(err, errClaimed) ||
				time.Since(start)+wait+w.cfg.AttemptTimeout > budget {
				return out, err
			}
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-msg.Context().Done():
				// Stopping: the message stays unacked and comes back.
				t.Stop()
				return out, err
			}
		}
	}
}

// deadLetter publishes permanently failed messages to the DLQ stream,
// records the failure and acks them. If the dead letter cannot be stored
// the message is Nak'ed instead: it must not be acked before it is safe.
func (w *Worker) deadLetter(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		out, err := h(msg)
		if err == nil || !crm.IsPermanent(err) {
			return out, err
		}
		info := infoOf(msg)
		var f *failure
		if !errors.As(err, &f) {
			f = &failure{attempts: info.delivered}
		}
		// Shutdown must not cut a dead letter in half.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(msg.Context()), 10*time.Second)
		defer cancel()
		reason := truncate(err.Error(), 2000)
		if perr := w.publishDeadLetter(ctx, msg, info, reason, f.attempts); perr != nil {
			w.log.Error("dead letter not stored; will retry", "err", perr, "subject", info.subject)
			return nil, crm.Transient(fmt.Errorf("dead-letter %s: %w", info.subject, perr))
		}
		if f.key != "" {
			_, _, werr := w.results.update(ctx, f.key, f.rec, f.rev, func(r *record) bool {
				if r.Status == events.StatusDone {
					return false
				}
				r.Tenant, r.Workflow, r.Seq = f.tenant, f.workflow, info.seq
				r.Status, r.Attempts, r.LastError, r.RetryAt = events.StatusFailed, f.attempts, reason, time.Time{}
				r.ClaimedBy, r.ClaimedUntil = "", time.Time{}
				return true
			})
			w.outcome(f.tenant, f.workflow, outcomeFailed, f.attempts)
			if werr != nil {
				// The dead letter is stored; the record says running
				// until the redelivery writes failed (the DLQ publish is
				// deduplicated by its message id).
				return nil, crm.Transient(werr)
			}
		}
		w.log.Error("workflow dead-lettered", "key", f.key, "subject", info.subject, "attempts", f.attempts, "reason", reason,
			"correlation_id", msg.Metadata.Get(dispatch.CorrelationHeader))
		return nil, nil
	}
}

func (w *Worker) publishDeadLetter(ctx context.Context, msg *message.Message, info msgInfo, reason string, attempts int) error {
	original := info.subject
	if original == "" {
		original = "unknown"
	}
	dl := nats.NewMsg(w.cfg.Topology.DLQSubject(original))
	dl.Data = msg.Payload
	for k, v := range msg.Metadata {
		if k == metaSubject || k == metaMsgID || k == metaDelivered || k == metaSeq || k == metaPublished ||
			k == nats.MsgIdHdr || k == middleware.CorrelationIDMetadataKey {
			continue
		}
		dl.Header.Set(k, v)
	}
	dl.Header.Set(HeaderDLQReason, reason)
	dl.Header.Set(HeaderDLQAttempts, strconv.Itoa(attempts))
	dl.Header.Set(HeaderDLQSubject, info.subject)
	dl.Header.Set(HeaderDLQMsgID, info.msgID)
	dl.Header.Set(HeaderDLQSeq, strconv.FormatUint(info.seq, 10))
	dl.Header.Set(HeaderDLQTime, w.now().UTC().Format(time.RFC3339Nano))
	// One dead letter per original message, however often we get here.
	dl.Header.Set(nats.MsgIdHdr, "dlq-"+w.cfg.Topology.Stream(events.StreamWorkflows)+"-"+strconv.FormatUint(info.seq, 10))
	_, err := w.js.PublishMsg(ctx, dl, jetstream.WithExpectStream(w.cfg.Topology.Stream(events.StreamDLQ)))
	return err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// logger returns the worker's logger with the message's correlation id.
func (w *Worker) logger(ctx context.Context) *slog.Logger {
	if id, ok := ctx.Value(correlationKey).(string); ok {
		return w.log.With("correlation_id", id)
	}
	return w.log
}
