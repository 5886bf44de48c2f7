package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Header names of a webhook request.
const (
	HeaderTimestamp   = "X-Calldex-Timestamp"
	HeaderSignature   = "X-Calldex-Signature"
	HeaderIdempotency = "Idempotency-Key"
)

// Errors of Verify.
var (
	ErrSignature = errors.New("webhook signature mismatch")
	ErrTimestamp = errors.New("webhook timestamp missing or outside the allowed skew")
)

// Sign returns the X-Calldex-Signature value for a timestamp and body.
func Sign(secret, timestamp string, body []byte) string {
	return "sha256=" + hex.EncodeToString(mac(secret, timestamp, body))
}

func mac(secret, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a received webhook: the signature must be the HMAC of
// "<timestamp>.<body>" with secret, and the timestamp (unix seconds) within
// maxSkew of the receiver's clock, which bounds how long a captured request
// can be replayed. It returns ErrTimestamp or ErrSignature.
func Verify(secret, timestamp string, body []byte, signature string, maxSkew time.Duration) error {
	return verifyAt(time.Now(), secret, timestamp, body, signature, maxSkew)
}

func verifyAt(now time.Time, secret, timestamp string, body []byte, signature string, maxSkew time.Duration) error {
	secs, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("verify webhook: %w: %q is not unix seconds", ErrTimestamp, timestamp)
	}
	if skew := now.Sub(time.Unix(secs, 0)).Abs(); skew > maxSkew {
		return fmt.Errorf("verify webhook: %w: %s off", ErrTimestamp, skew.Round(time.Second))
	}
	hexSig, ok := strings.CutPrefix(signature, "sha256=")
	if !ok {
		return fmt.Errorf("verify webhook: %w: want sha256=<hex>", ErrSignature)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return fmt.Errorf("verify webhook: %w: signature is not hex", ErrSignature)
	}
	// hmac.Equal compares in constant time: no timing oracle for forgers.
	if !hmac.Equal(got, mac(secret, timestamp, body)) {
		return fmt.Errorf("verify webhook: %w", ErrSignature)
	}
	return nil
}
