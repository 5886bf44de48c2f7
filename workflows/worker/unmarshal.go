package worker

import (
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
)

// Metadata keys the unmarshaler adds to every message: what JetStream knows
// of it, which watermill's NATSMarshaler drops (the subject — needed to
// name the DLQ subject —, Nats-Msg-Id, the delivery count, the stream
// sequence and the publish time).
const (
	metaSubject   = "calldex_subject"
	metaMsgID     = "calldex_msg_id"
	metaDelivered = "calldex_delivered"
	metaSeq       = "calldex_seq"
	metaPublished = "calldex_published"
)

// unmarshaler turns a JetStream message into a watermill message. Unlike
// NATSMarshaler it never fails on a message of the stream: one it refused
// would be neither acked nor nacked and come back forever; a malformed one
// must reach the handler, which dead-letters it. It refuses only what is
// not a message of the consumer (no JetStream ack subject: a status
// message, or a publish straight to the deliver subject), which nothing
// could ack and nothing redelivers.
//
// Once the worker stops (stopping is set), it hands every message it is
// given back to the consumer at once (a Nak) instead: watermill-nats would
// otherwise drop it unacked, to come back only after its ack wait, or,
// should the subscription's output be closed by then, panic sending to it.
type unmarshaler struct{ stopping *atomic.Bool }

// errStopping: a message arrived while the worker stops; it was handed back.
var errStopping = errors.New("worker stopping: message handed back to the consumer")

// Unmarshal implements watermill-nats Unmarshaler.
func (u unmarshaler) Unmarshal(m *nats.Msg) (*message.Message, error) {
	meta, err := m.Metadata()
	if err != nil {
		return nil, fmt.Errorf("not a JetStream message on %s (reply %q): %w", m.Subject, m.Reply, err)
	}
	if u.stopping.Load() {
		_ = m.Nak()
		return nil, errStopping
	}
	md := message.Metadata{}
	for k, v := range m.Header {
		if len(v) > 0 {
			md.Set(k, v[0])
		}
	}
	id := m.Header.Get(nats.MsgIdHdr)
	md.Set(metaSubject, m.Subject)
	md.Set(metaMsgID, id)
	md.Set(metaDelivered, strconv.FormatUint(meta.NumDelivered, 10))
	md.Set(metaSeq, strconv.FormatUint(meta.Sequence.Stream, 10))
	md.Set(metaPublished, meta.Timestamp.UTC().Format(time.RFC3339Nano))
	if id == "" {
		id = watermill.NewUUID()
	}
	msg := message.NewMessage(id, m.Data)
	msg.Metadata = md
	return msg, nil
}

// msgInfo is the JetStream view of a watermill message.
type msgInfo struct {
	subject   string
	msgID     string
	delivered int
	seq       uint64
	published time.Time
}

func infoOf(msg *message.Message) msgInfo {
	delivered, _ := strconv.Atoi(msg.Metadata.Get(metaDelivered))
	seq, _ := strconv.ParseUint(msg.Metadata.Get(metaSeq), 10, 64)
	published, _ := time.Parse(time.RFC3339Nano, msg.Metadata.Get(metaPublished))
	return msgInfo{
		subject:   msg.Metadata.Get(metaSubject),
		msgID:     msg.Metadata.Get(metaMsgID),
		delivered: max(delivered, 1),
		seq:       seq,
		published: published,
	}
}
