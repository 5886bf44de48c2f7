package tenant

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"os"
	"regexp"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Stored credentials.
//
// Calldex only verifies tenant and admin tokens, so it may keep them as
// hashes. A hashed token has two parts, because a salted hash alone cannot
// be found by the token it hashes without trying every tenant:
//
//   - a lookup id: HMAC-SHA256(lookup key, kind, name, token) truncated to
//     128 bits. The registry indexes credentials by it, so finding the
//     tenant of a presented token is one HMAC and one map access, whatever
//     the number of tenants. The lookup key (CALLDEX_CREDENTIAL_KEY) is a
//     secret of the deployment: without it a copy of the bucket does not
//     let anyone test guesses against the lookup ids. An empty key still
//     works, but then weak tokens can be guessed offline from the ids.
//   - a verifier: argon2id(token, random salt), checked once per token and
//     replica; a token that passed is remembered by its full HMAC, so
//     later requests cost no argon2.
//
// The text form is
//
//	argon2id:v1:<lookup>:<salt>:<key>      (base64url without padding)
//
// A credential value without that prefix is the token itself (bootstrap
// files, tests); the store hashes such values before writing them.
const hashPrefix = "argon2id:v1:"

// argon2id parameters: lighter than RFC 9106's interactive ones (about
// 10 ms per hash instead of 80 ms on a server core), because guessing a
// token from its verifier also needs the lookup key, and because
// importing 10,000 tenants hashes 20,000 tokens.
const (
	argonTime    = 1
	argonMemory  = 4 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
	saltLen      = 16
)

var b64 = base64.RawURLEncoding

// lookupID is the index key of a credential.
type lookupID [16]byte

// mac is HMAC-SHA256(key, kind, name, value); its first 16 bytes are the
// lookup id.
func mac(key []byte, kind, name, value string) [32]byte {
	return newMACState(key).sum(kind, name, value)
}

// macState is a keyed HMAC state and the bytes it hashes, both reused:
// bytes written through the hash.Hash interface escape, an allocation each.
type macState struct {
	h   hash.Hash
	buf []byte
}

func newMACState(key []byte) *macState { return &macState{h: hmac.New(sha256.New, key)} }

// sum is mac with the state m (reset first).
func (m *macState) sum(kind, name, value string) [32]byte {
	m.h.Reset()
	b := append(m.buf[:0], kind...)
	b = append(b, 0)
	b = append(b, name...)
	b = append(b, 0)
	b = append(b, value...)
	m.h.Write(b)
	m.buf = m.h.Sum(b[:0])
	return [32]byte(m.buf)
}

func lookupOf(m [32]byte) lookupID { return lookupID(m[:16]) }

// hashed is a parsed hash form.
type hashed struct {
	lookup lookupID
	salt   []byte
	key    []byte
}

// IsHashed reports whether a credential value is in the hash form.
func IsHashed(value string) bool { return strings.HasPrefix(value, hashPrefix) }

func parseHashed(value string) (hashed, error) {
	rest, ok := strings.CutPrefix(value, hashPrefix)
	if !ok {
		return hashed{}, errors.New("not a hashed credential")
	}
	parts := strings.Split(rest, ":")
	if len(parts) != 3 {
		return hashed{}, fmt.Errorf("hashed credential must be %s<lookup>:<salt>:<key>", hashPrefix)
	}
	var h hashed
	lk, err1 := b64.DecodeString(parts[0])
	salt, err2 := b64.DecodeString(parts[1])
	key, err3 := b64.DecodeString(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil || len(lk) != len(h.lookup) || len(salt) < 8 || len(key) != argonKeyLen {
		return hashed{}, errors.New("hashed credential: bad lookup, salt or key")
	}
	copy(h.lookup[:], lk)
	h.salt, h.key = salt, key
	return h, nil
}

func (h hashed) verify(value string) bool {
	got := argon2.IDKey([]byte(value), h.salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return subtle.ConstantTimeCompare(got, h.key) == 1
}

// HashCredential returns c with its value replaced by the hash form under
// the lookup key; a value already hashed is returned as is.
func HashCredential(key []byte, c Credential) Credential {
	if IsHashed(c.Value) {
		return c
	}
	kind, name := c.location()
	m := mac(key, kind, name, c.Value)
	salt := make([]byte, saltLen)
	_, _ = rand.Read(salt)
	k := argon2.IDKey([]byte(c.Value), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	c.Value = hashPrefix + b64.EncodeToString(m[:16]) + ":" + b64.EncodeToString(salt) + ":" + b64.EncodeToString(k)
	return c
}

// HashToken returns an admin token in the hash form (admin.token accepts
// it like a plain token).
func HashToken(key []byte, token string) string {
	return HashCredential(key, Credential{Header: adminHeader, Value: token}).Value
}

// adminHeader is the location admin tokens are hashed under.
const adminHeader = "Authorization"

// SameCredential reports whether two credentials are the same token at
// the same place, whichever of them is hashed (compared by lookup id: no
// argon2).
func SameCredential(key []byte, a, b Credential) bool {
	ka, na := a.location()
	kb, nb := b.location()
	if ka != kb || na != nb {
		return false
	}
	return credLookup(key, a) == credLookup(key, b)
}

// credLookup is the lookup id of a credential, plain or hashed (zero for a
// malformed hash).
func credLookup(key []byte, c Credential) lookupID {
	if IsHashed(c.Value) {
		h, _ := parseHashed(c.Value)
		return h.lookup
	}
	kind, name := c.location()
	return lookupOf(mac(key, kind, name, c.Value))
}

// location is where the credential is presented: ("h", canonical header)
// or ("q", query parameter).
func (c Credential) location() (kind, name string) {
	if c.Header != "" {
		return "h", http.CanonicalHeaderKey(c.Header)
	}
	return "q", c.Query
}

// ResolveSecrets returns the connector options of t with every string
// value "${VAR}" replaced by the environment variable and "${file:/path}"
// by the trimmed content of that file (a mounted secret). Tenants in the
// store keep the references, never the secrets: each replica resolves them
// from its own environment when it applies the tenant. Every reference
// that cannot be resolved is reported.
func ResolveSecrets(t *Tenant, getenv func(string) (string, bool)) error {
	var errs []error
	for _, name := range sortedKeys(t.Connectors) {
		c := t.Connectors[name]
		opts := make(map[string]any, len(c.Options))
		for k, v := range c.Options {
			s, ok := v.(string)
			if !ok || !strings.Contains(s, "${") {
				opts[k] = v
				continue
			}
			out, err := ExpandRefs(s, getenv)
			if err != nil {
				errs = append(errs, fmt.Errorf("tenant %s connector %s option %s: %w", t.ID, name, k, err))
			}
			opts[k] = out
		}
		c.Options = opts
		t.Connectors[name] = c
	}
	return errors.Join(errs...)
}

// refPattern matches ${VAR} and ${file:/path}.
var refPattern = regexp.MustCompile(`\$\{(file:[^}]+|[A-Za-z_][A-Za-z0-9_]*)\}`)

// KeepRefs is a getenv for Parse that leaves every ${VAR} as it is: the
// tenants read that way can go to the store, which resolves credential
// references when it hashes them, while connector references are resolved
// by each replica (ResolveSecrets).
func KeepRefs(name string) (string, bool) { return "${" + name + "}", true }

// ExpandRefs replaces ${VAR} by the environment variable and
// ${file:/path} by the trimmed content of the file, reporting every
// reference that cannot be resolved.
func ExpandRefs(s string, getenv func(string) (string, bool)) (string, error) {
	var errs []error
	out := refPattern.ReplaceAllStringFunc(s, func(m string) string {
		ref := m[2 : len(m)-1]
		if path, ok := strings.CutPrefix(ref, "file:"); ok {
			b, err := os.ReadFile(path)
			if err != nil {
				errs = append(errs, fmt.Errorf("secret file: %w", err))
				return ""
			}
			return strings.TrimSpace(string(b))
		}
		v, ok := getenv(ref)
		if !ok {
			errs = append(errs, fmt.Errorf("environment variable %s is not set", ref))
		}
		return v
	})
	return out, errors.Join(errs...)
}
