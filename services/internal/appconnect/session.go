package appconnect

import (
	"net/http"
	"strings"

	"github.com/calldex/calldex/services/internal/authguard"
)

// apiKeyLoginRequest is App Connect's ApiKeyLoginRequest; other fields
// (hostname, additionalInfo, rcAccessToken…) are accepted and ignored.
type apiKeyLoginRequest struct {
	Platform string `json:"platform"`
	APIKey   string `json:"apiKey"`
}

type apiKeyLoginResponse struct {
	Successful    bool           `json:"successful"`
	JWTToken      string         `json:"jwtToken"`
	Name          string         `json:"name"`
	ReturnMessage *returnMessage `json:"returnMessage"`
}

// apiKeyLogin exchanges a tenant credential (any of the tenant's
// credential values) for a session token. An address that sent too many
// wrong keys is refused (429) before its key is looked at.
func (h *Handler) apiKeyLogin(w http.ResponseWriter, r *http.Request) {
	var req apiKeyLoginRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	var absent []string
	if strings.TrimSpace(req.Platform) == "" {
		absent = append(absent, "platform")
	}
	if req.APIKey == "" {
		absent = append(absent, "apiKey")
	}
	if missing(w, absent...) {
		return
	}
	if req.Platform != h.cfg.Platform {
		badRequest(w, "Unknown platform "+truncate(req.Platform, 64)+": this server is "+h.cfg.DisplayName+" (platform "+h.cfg.Platform+")")
		return
	}
	if retry, ok := h.d.Guard.Allow(r.RemoteAddr, ""); !ok {
		authguard.SetRetryAfter(w, retry)
		writeJSON(w, http.StatusTooManyRequests, envelope{ReturnMessage: danger("Too many invalid API keys; please try again later")})
		return
	}
	t, stored, ok := h.d.Tenants.StoredCredential(req.APIKey)
	if !ok {
		h.d.Guard.Fail(authguard.KindAppConnectKey, r.RemoteAddr, "")
		writeJSON(w, http.StatusBadRequest, envelope{ReturnMessage: danger("Invalid API key")})
		return
	}
	if !addressAllowed(t, r.RemoteAddr) {
		writeJSON(w, http.StatusBadRequest, envelope{ReturnMessage: danger(msgAddressRefused)})
		return
	}
	tok, err := h.issue(t, stored)
	if err != nil {
		h.log.Error("appconnect: issue token", "tenant", t.ID, "err", err)
		writeJSON(w, http.StatusBadRequest, envelope{ReturnMessage: danger("Could not open a session; please try again")})
		return
	}
	writeJSON(w, http.StatusOK, apiKeyLoginResponse{
		Successful: true, JWTToken: tok, Name: t.ID,
		ReturnMessage: success("Connected to " + h.cfg.DisplayName + "."),
	})
}

// unAuthorize revokes the session's token. App Connect's own server only
// calls the connector's hook here and leaves the token valid until it
// expires; Calldex has no per-user CRM credential to forget, so signing
// out ends the session itself.
func (h *Handler) unAuthorize(w http.ResponseWriter, r *http.Request, s *session) {
	until := s.claims.ExpiresAt.Time
	if err := h.d.Revocations.Revoke(r.Context(), s.claims.RegisteredClaims.ID, until); err != nil {
		h.log.Error("appconnect: revoke", "tenant", s.tenant.ID, "err", err)
		writeJSON(w, http.StatusBadRequest, envelope{ReturnMessage: danger("Could not sign out; please try again")})
		return
	}
	h.alreadySignedOut(w, r)
}

// alreadySignedOut answers a sign-out of a session that has already ended:
// the outcome the user asked for.
func (h *Handler) alreadySignedOut(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, envelope{Successful: true, ReturnMessage: &returnMessage{
		Message: "Signed out of " + h.cfg.DisplayName + ".", MessageType: "success", TTL: 1000,
	}})
}

func (h *Handler) authValidation(w http.ResponseWriter, _ *http.Request, _ *session) {
	writeJSON(w, http.StatusOK, envelope{Successful: true, ReturnMessage: &returnMessage{
		Message: "Authentication is valid.", MessageType: "success", TTL: 1000,
	}})
}

// authInvalid answers authValidation for a session that has ended: the
// contract's 200 with successful false ("validation ran and the
// credentials were rejected or expired"), not a 401 it does not list.
func (h *Handler) authInvalid(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, envelope{ReturnMessage: warning(msgSessionEnded)})
}
