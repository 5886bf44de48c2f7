package dispatch

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"hash"

	"github.com/calldex/calldex/events"
)

// keyVersion is hashed into every key so that a future change of the
// identifying fields cannot collide with keys already stored.
const keyVersion = "calldex-workflow-key-v1"

// Key derives the idempotency key of a workflow request: the same tenant,
// workflow and call always give the same key, so a request sent again is
// recognised by the stream (Nats-Msg-Id) and by the result bucket.
//
// A call is identified by its CallID when the source has one; otherwise by
// the inputs that identify it (numbers, direction, times, contact, user and
// message type) — not by free text such as a note, which a user may edit
// between two clicks on the same call.
//
// The key is 32 lowercase hex characters (128 bits of SHA-256): valid as a
// KV key, a Nats-Msg-Id and a SQL unique column.
func Key(tenant, workflow string, in events.CallInput) string {
	h := sha256.New()
	write(h, keyVersion, tenant, workflow)
	if in.CallID != "" {
		write(h, "callId", in.CallID)
	} else {
		write(h, "inputs",
			in.OriginatorNumber, in.DestinationNumber, in.Direction,
			in.StartedTime, in.AnsweredTime, in.EndedTime, in.DeclinedTime,
			in.ContactCRMID, in.UserCRMID, in.MessageType)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// forcedKey gives a replay its own key, derived from the natural one plus
// randomness, so a forced replay runs again instead of returning the stored
// result.
func forcedKey(key string) string {
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	h := sha256.New()
	write(h, keyVersion, "forced", key, string(nonce))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// write hashes each part followed by a NUL, so that ("ab","c") and ("a","bc")
// differ.
func write(h hash.Hash, parts ...string) {
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
}

// ValidKey reports whether s has the shape of a key made by Key: the HTTP
// layer checks a key taken from a URL before using it as a KV key.
func ValidKey(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
