package events

import (
	"bytes"
	"fmt"
)

// A batch carries several events in one message: their envelopes, one per
// line (compact JSON has no raw newline). call.lookup events are published
// this way, one message per burst and subject, since one message per
// lookup costs the ringing path more than the lookup itself. A message of
// one envelope is a batch of one, so DecodeBatch reads every message.

// DecodeBatch decodes the envelopes of a message, in order.
func DecodeBatch(b []byte) ([]Envelope, error) {
	var out []Envelope
	for n := 1; len(b) > 0; n++ {
		line, rest, _ := bytes.Cut(b, []byte{'\n'})
		b = rest
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		e, err := Decode(line)
		if err != nil {
			return out, fmt.Errorf("event %d of the message: %w", n, err)
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("decode envelope: %w: empty message", ErrInvalid)
	}
	return out, nil
}
