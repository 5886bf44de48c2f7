package appconnect

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/calldex/calldex/shared/tenant"
)

// Claims are a session token's claims. ID and Platform are what App
// Connect's own server puts in its tokens; Cred ties the session to the
// credential it was opened with, so that removing that credential from the
// tenant ends every session opened with it.
type Claims struct {
	// ID is the tenant id.
	ID       string `json:"id"`
	Platform string `json:"platform"`
	// Cred is a keyed fingerprint of the credential value (not reversible
	// without the server secret).
	Cred string `json:"cred"`
	jwt.RegisteredClaims
}

// Why a request's session is refused. Each maps to one HTTP answer.
var (
	// errNoSession: no token, or one that is not ours (malformed, bad
	// signature, other platform): 400 "Please go to Settings and authorize
	// CRM platform", as App Connect's own server answers.
	errNoSession = errors.New("no valid session token")
	// errSessionEnded: a token of ours that no longer opens a session
	// (expired, revoked, its credential or tenant removed): 401.
	errSessionEnded = errors.New("session expired or revoked")
	// errAddressRefused: the tenant restricts client addresses (tenant
	// allowedCIDRs) and this one is not allowed.
	errAddressRefused = errors.New("client address not allowed")
)

// session is an authenticated request's tenant and token.
type session struct {
	tenant *tenant.Tenant
	claims *Claims
}

// issue signs a new session token for a tenant and the credential it logged
// in with, as the tenant stores it (so that hasCredential finds it among
// the tenant's Credentials, hashed or not).
func (h *Handler) issue(t *tenant.Tenant, credential string) (string, error) {
	now := h.now()
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", fmt.Errorf("token id: %w", err)
	}
	c := Claims{
		ID:       t.ID,
		Platform: h.cfg.Platform,
		Cred:     fingerprint(h.cfg.Secret, credential),
		RegisteredClaims: jwt.RegisteredClaims{
			ID:        hex.EncodeToString(jti),
			Issuer:    h.cfg.Platform,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(h.cfg.TokenTTL)),
		},
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(h.cfg.Secret))
}

// fingerprint is a hash of a credential value keyed by the signing
// secret: equal values give equal fingerprints, and the token reveals
// nothing of the value.
func fingerprint(secret, credential string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("calldex-appconnect-credential\x00"))
	m.Write([]byte(credential))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// hasCredential reports whether the tenant still has the credential a
// token was issued for, under the current or the previous secret.
func (h *Handler) hasCredential(t *tenant.Tenant, fp string) bool {
	ok := 0
	for _, c := range t.Credentials {
		ok |= subtle.ConstantTimeCompare([]byte(fingerprint(h.cfg.Secret, c.Value)), []byte(fp))
		if h.cfg.PreviousSecret != "" {
			ok |= subtle.ConstantTimeCompare([]byte(fingerprint(h.cfg.PreviousSecret, c.Value)), []byte(fp))
		}
	}
	return ok == 1
}

// tokenOf takes the session token from "Authorization: Bearer …", else
// from the legacy ?jwtToken= query parameter.
func tokenOf(r *http.Request) string {
	if auth := r.Header.Get("Authorization"); auth != "" {
		scheme, tok, ok := strings.Cut(auth, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok)
		}
		return ""
	}
	if r.URL.RawQuery == "" {
		return ""
	}
	return r.URL.Query().Get("jwtToken")
}

// authenticate resolves a request's session. Errors wrap errNoSession,
// errSessionEnded or errAddressRefused.
func (h *Handler) authenticate(ctx context.Context, r *http.Request) (*session, error) {
	raw := tokenOf(r)
	if raw == "" {
		return nil, errNoSession
	}
	var c Claims
	_, err := h.parser.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return h.keys, nil })
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, fmt.Errorf("%w: token expired", errSessionEnded)
	case err != nil:
		return nil, fmt.Errorf("%w: %w", errNoSession, err)
	case c.Platform != h.cfg.Platform || c.ID == "" || c.RegisteredClaims.ID == "":
		return nil, fmt.Errorf("%w: token of another platform", errNoSession)
	}
	t, ok := h.d.Tenants.Tenant(c.ID)
	if !ok {
		return nil, fmt.Errorf("%w: tenant removed", errSessionEnded)
	}
	if !h.hasCredential(t, c.Cred) {
		return nil, fmt.Errorf("%w: credential removed", errSessionEnded)
	}
	revoked, err := h.d.Revocations.Revoked(ctx, c.RegisteredClaims.ID)
	if err != nil {
		return nil, fmt.Errorf("%w: revocations: %w", errSessionEnded, err)
	}
	if revoked {
		return nil, fmt.Errorf("%w: revoked", errSessionEnded)
	}
	if !addressAllowed(t, r.RemoteAddr) {
		return nil, errAddressRefused
	}
	return &session{tenant: t, claims: &c}, nil
}

// addressAllowed applies a tenant's allowedCIDRs, as the other dialects'
// authentication does (tenant.Registry.Authenticate), so App Connect is no
// way around them.
func addressAllowed(t *tenant.Tenant, remote string) bool {
	if len(t.AllowedCIDRs) == 0 {
		return true
	}
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return false
	}
	addr := ap.Addr().Unmap()
	for _, c := range t.AllowedCIDRs {
		if p, err := netip.ParsePrefix(c); err == nil && p.Masked().Contains(addr) {
			return true
		}
	}
	return false
}

// newParser verifies HS256 only, requires an expiry, and checks times
// against the handler's clock.
func newParser(now func() time.Time) *jwt.Parser {
	return jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(30*time.Second),
		jwt.WithTimeFunc(now),
	)
}

// verificationKeys are the current secret and, during a rotation, the
// previous one.
func verificationKeys(cfg *Config) jwt.VerificationKeySet {
	keys := jwt.VerificationKeySet{Keys: []jwt.VerificationKey{[]byte(cfg.Secret)}}
	if cfg.PreviousSecret != "" {
		keys.Keys = append(keys.Keys, []byte(cfg.PreviousSecret))
	}
	return keys
}
