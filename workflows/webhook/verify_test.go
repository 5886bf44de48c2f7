package webhook

import (
	"errors"
	"strconv"
	"testing"
	"time"
)

func TestVerify(t *testing.T) {
	const secret = "0123456789abcdef-secret"
	now := time.Unix(1_700_000_000, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	body := []byte(`{"key":"k"}`)
	good := Sign(secret, ts, body)
	tests := []struct {
		name      string
		secret    string
		timestamp string
		body      []byte
		signature string
		now       time.Time
		wantErr   error
	}{
		{"valid", secret, ts, body, good, now, nil},
		{"valid within skew", secret, ts, body, good, now.Add(4 * time.Minute), nil},
		{"wrong secret", "another-secret-of-16", ts, body, good, now, ErrSignature},
		{"tampered body", secret, ts, []byte(`{"key":"x"}`), good, now, ErrSignature},
		{"timestamp swapped", secret, strconv.FormatInt(now.Unix()+1, 10), body, good, now, ErrSignature},
		{"stale", secret, ts, body, good, now.Add(6 * time.Minute), ErrTimestamp},
		{"from the future", secret, ts, body, good, now.Add(-6 * time.Minute), ErrTimestamp},
		{"timestamp not a number", secret, "yesterday", body, good, now, ErrTimestamp},
		{"no prefix", secret, ts, body, good[len("sha256="):], now, ErrSignature},
		{"not hex", secret, ts, body, "sha256=zz", now, ErrSignature},
		{"empty signature", secret, ts, body, "", now, ErrSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := verifyAt(tt.now, tt.secret, tt.timestamp, tt.body, tt.signature, 5*time.Minute)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
	if err := Verify(secret, strconv.FormatInt(time.Now().Unix(), 10), body, Sign(secret, strconv.FormatInt(time.Now().Unix(), 10), body), time.Minute); err != nil {
		t.Fatalf("Verify with the real clock: %v", err)
	}
}
