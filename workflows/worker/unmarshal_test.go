package worker

import (
	"testing"

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
			got, err := unmarshaler{}.Unmarshal(tt.msg)
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
