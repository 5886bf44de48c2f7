package crm

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// EncodeCursor makes the text form of a ChangeLister cursor: base64url of
// v's JSON, opaque to the caller that stores it and safe in a URL or a
// NATS KV key. v is a struct of plain fields with its version under "v"
// (see DecodeCursor); a v that cannot be marshalled is a programming error
// and panics.
func EncodeCursor(v any) string {
	raw, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("crm: cursor %T does not marshal: %v", v, err))
	}
	return base64.RawURLEncoding.EncodeToString(raw)
}

// DecodeCursor reads a cursor made by EncodeCursor into v and refuses one
// whose "v" is not version: a connector changes the version when the
// cursor's meaning changes, and an old cursor misread would skip or repeat
// changes silently, where a refused one makes an operator reset the sync.
// The caller classifies the error (a stored cursor does not get better on
// retry: crm.Permanent).
func DecodeCursor(s string, version int, v any) error {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return fmt.Errorf("cursor %q is not base64url: %w", s, err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("cursor %q: %w", s, err)
	}
	var head struct {
		V int `json:"v"`
	}
	_ = json.Unmarshal(raw, &head) // a "v" that is no number reads as 0: refused below
	if head.V != version {
		return fmt.Errorf("cursor version %d, want %d: reset the sync cursor", head.V, version)
	}
	return nil
}
