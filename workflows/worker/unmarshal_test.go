package worker

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/calldex/calldex/shared/natstest"
	"github.com/nats-io/nats.go"
)

func TestUnmarshal(t *testing.T) {
	tests := []struct {
		name    string
		msg     *nats.Msg
		wantErr bool
		want    msgInfo
	}{
		{
			name: "a message of the consumer",
			msg: &nats.Msg{Subject: "workflows.acme.CallFlow", Data: []byte("{}"),
				Reply:  "$JS.ACK.WORKFLOWS.calldex-worker.3.42.7.1735812000000000000.0",
				Header: nats.Header{nats.MsgIdHdr: []string{"key-1"}}},
			want: msgInfo{subject: "workflows.acme.CallFlow", msgID: "key-1", delivered: 3, seq: 42},
		},
		// A plain publish to the deliver subject, or a status message:
		// nothing to ack, nothing that JetStream would redeliver.
		{name: "no reply", msg: &nats.Msg{Subject: "workflows.acme.CallFlow", Data: []byte("{}")}, wantErr: true},
		{name: "not an ack subject", msg: &nats.Msg{Subject: "_calldex.deliver.WORKFLOWS.calldex-worker", Reply: "_INBOX.x"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.msg.Sub = &nats.Subscription{}
			got, err := unmarshaler{stopping: new(atomic.Bool)}.Unmarshal(tt.msg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %t", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			info := infoOf(got)
			if info.subject != tt.want.subject || info.msgID != tt.want.msgID || info.delivered != tt.want.delivered ||
				info.seq != tt.want.seq || info.published.IsZero() || got.UUID != tt.want.msgID {
				t.Fatalf("info = %+v (uuid %s), want %+v", info, got.UUID, tt.want)
			}
		})
	}
}

// TestUnmarshalHandsBackWhileStopping: once the worker stops, a message
// the subscription still delivers goes back to the consumer (a Nak on its
// ack subject) and never reaches watermill.
func TestUnmarshalHandsBackWhileStopping(t *testing.T) {
	env := natstest.Connect(t)
	acks, err := env.Conn.SubscribeSync("$JS.ACK.test.>")
	if err != nil {
		t.Fatal(err)
	}
	stopping := new(atomic.Bool)
	stopping.Store(true)
	sub, err := env.Conn.SubscribeSync("_calldex.test")
	if err != nil {
		t.Fatal(err)
	}
	msg := &nats.Msg{Subject: "workflows.acme.CallFlow", Data: []byte("{}"), Sub: sub,
		Reply: "$JS.ACK.test.calldex-worker.1.42.7.1735812000000000000.0"}
	if _, err := (unmarshaler{stopping: stopping}).Unmarshal(msg); !errors.Is(err, errStopping) {
		t.Fatalf("err = %v, want errStopping", err)
	}
	got, err := acks.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("no Nak on the ack subject: %v", err)
	}
	if string(got.Data) != "-NAK" {
		t.Fatalf("ack subject got %q, want -NAK", got.Data)
	}
}
