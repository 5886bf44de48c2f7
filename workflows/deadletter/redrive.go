package deadletter

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Redriven is one dead letter put back.
type Redriven struct {
	ID      uint64 `json:"id"`
	Subject string `json:"subject"`
	// Seq is its new sequence in its original stream.
	Seq uint64 `json:"seq"`
}

// Stages a redrive can stop at.
const (
	// StagePublish: not republished, still in the DLQ.
	StagePublish = "publish"
	// StageDelete: republished, still in the DLQ; a redrive again is
	// harmless (the stream drops the duplicate).
	StageDelete = "delete"
)

// Failure is the dead letter a redrive stopped at.
type Failure struct {
	ID    uint64 `json:"id"`
	Stage string `json:"stage"`
	Error string `json:"error"`
}

// Report is what a redrive did.
type Report struct {
	Redriven []Redriven `json:"redriven"`
	// Failed is the dead letter the redrive stopped at, if any.
	Failed *Failure `json:"failed,omitempty"`
	// Left is how many selected dead letters are still in the DLQ.
	Left        int  `json:"left"`
	Interrupted bool `json:"interrupted,omitempty"`
}

// Err is the report as an error: nil when every dead letter was put back.
func (r Report) Err() error {
	switch {
	case r.Interrupted:
		return context.Canceled
	case r.Failed != nil:
		return fmt.Errorf("redrive stopped at dead letter %d (%s): %s", r.Failed.ID, r.Failed.Stage, r.Failed.Error)
	}
	return nil
}

// Redrive puts dead letters back on their original subject, in order: each
// is published again (the same data and headers without the dead-letter
// ones, plus HeaderRedriveOf) and deleted from the DLQ only once the
// stream acknowledged it, so a NATS failure midway loses nothing. It stops
// at the first failure, or when ctx ends; progress, when set, is called
// after each one.
func (s *Store) Redrive(ctx context.Context, letters []Letter, progress func(done, total int)) Report {
	rep := Report{Redriven: []Redriven{}, Left: len(letters)}
	if len(letters) == 0 {
		return rep
	}
	st, err := s.stream(ctx)
	if err != nil {
		rep.Failed = &Failure{ID: letters[0].ID, Stage: StagePublish, Error: err.Error()}
		return rep
	}
	streams := map[string]string{}
	for i, d := range letters {
		if ctx.Err() != nil {
			rep.Interrupted = true
			break
		}
		seq, stage, err := s.redriveOne(ctx, st, d, streams)
		if err != nil {
			if ctx.Err() != nil && stage == StagePublish {
				rep.Interrupted = true
			} else {
				rep.Failed = &Failure{ID: d.ID, Stage: stage, Error: err.Error()}
			}
			break
		}
		rep.Redriven = append(rep.Redriven, Redriven{ID: d.ID, Subject: d.Subject, Seq: seq})
		if progress != nil {
			progress(i+1, len(letters))
		}
	}
	rep.Left = len(letters) - len(rep.Redriven)
	return rep
}

// RedriveIDs reads the dead letters by ID and redrives them.
func (s *Store) RedriveIDs(ctx context.Context, ids []uint64, progress func(done, total int)) (Report, error) {
	letters := make([]Letter, 0, len(ids))
	for _, id := range ids {
		d, err := s.Get(ctx, id)
		if err != nil {
			return Report{}, err
		}
		letters = append(letters, d)
	}
	return s.Redrive(ctx, letters, progress), nil
}

// redriveOne republishes one dead letter and, once acked, deletes it. It
// returns the stage that failed.
func (s *Store) redriveOne(ctx context.Context, dlq jetstream.Stream, d Letter, streams map[string]string) (uint64, string, error) {
	target, ok := streams[d.Subject]
	if !ok {
		rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		var err error
		target, err = s.js.StreamNameBySubject(rctx, d.Subject)
		cancel()
		if err != nil {
			return 0, StagePublish, fmt.Errorf("no stream for %s: %w", d.Subject, err)
		}
		streams[d.Subject] = target
	}
	m := nats.NewMsg(d.Subject)
	m.Data = d.data
	for k, v := range d.header {
		if k == nats.MsgIdHdr || strings.HasPrefix(k, "Nats-Expected-") || strings.HasPrefix(k, "Calldex-Dlq-") {
			continue
		}
		m.Header[k] = append([]string(nil), v...)
	}
	dlqName := dlq.CachedInfo().Config.Name
	m.Header.Set(HeaderRedriveOf, dlqName+":"+strconv.FormatUint(d.ID, 10))
	// The same id on every attempt: a dead letter republished but not
	// deleted (NATS failed in between) is stored once.
	m.Header.Set(nats.MsgIdHdr, "redrive-"+dlqName+"-"+strconv.FormatUint(d.ID, 10))
	rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	ack, err := s.js.PublishMsg(rctx, m, jetstream.WithExpectStream(target))
	cancel()
	if err != nil {
		return 0, StagePublish, err
	}
	if s.cfg.AfterPublish != nil {
		s.cfg.AfterPublish(d.ID)
	}
	// Deleted even when ctx ended meanwhile: the republish is done.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Timeout)
	defer cancel()
	if err := dlq.DeleteMsg(dctx, d.ID); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return ack.Sequence, StageDelete, err
	}
	return ack.Sequence, "", nil
}
