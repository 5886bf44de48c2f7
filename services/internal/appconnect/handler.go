package appconnect

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Prefix is the path every route is served under.
const Prefix = "/appconnect"

// maxBody bounds a request body: a message log of a long SMS conversation
// with attachment metadata fits.
const maxBody = 1 << 20

// Handler serves the App Connect connector server routes under Prefix.
type Handler struct {
	cfg    Config
	d      Deps
	mux    *http.ServeMux
	parser *jwt.Parser
	keys   jwt.VerificationKeySet
	now    func() time.Time
	log    *slog.Logger
	// patterns are the routes registered on mux, for Patterns.
	patterns []string
}

// New validates cfg and builds the handler.
func New(cfg Config, d Deps) (*Handler, error) {
	errs := []error{cfg.Validate()}
	for _, dep := range []struct {
		name    string
		missing bool
	}{
		{"Tenants", d.Tenants == nil}, {"Lookup", d.Lookup == nil}, {"Names", d.Names == nil},
		{"Contacts", d.Contacts == nil}, {"Projection", d.Projection == nil}, {"Workflows", d.Workflows == nil},
		{"Revocations", d.Revocations == nil}, {"CallLogs", d.CallLogs == nil},
	} {
		if dep.missing {
			errs = append(errs, fmt.Errorf("appconnect: Deps.%s is required", dep.name))
		}
	}
	if d.Tenants != nil {
		for _, id := range slices.Sorted(maps.Keys(cfg.Tenants)) {
			o := cfg.Tenants[id]
			t, ok := d.Tenants.Tenant(id)
			switch {
			case !ok:
				errs = append(errs, fmt.Errorf("appconnect: tenants: no tenant %q", id))
			case o.CRM != "":
				if _, ok := t.Connectors[o.CRM]; !ok {
					errs = append(errs, fmt.Errorf("appconnect: tenant %s: crm %q is not one of its connectors", id, o.CRM))
				}
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	h := &Handler{cfg: cfg, d: d, mux: http.NewServeMux(), now: d.Now, log: d.Log}
	h.parser = newParser(h.now)
	h.keys = verificationKeys(&h.cfg)
	h.routes()
	return h, nil
}

func (h *Handler) routes() {
	h.handle("GET /isAlive", h.isAlive)
	h.handle("GET /crmManifest", h.crmManifest)
	h.handle("GET /implementedInterfaces", h.implementedInterfaces)
	h.handle("GET /serverVersionInfo", h.serverVersionInfo)

	h.handle("POST /apiKeyLogin", h.apiKeyLogin)
	h.handle("POST /unAuthorize", h.authed(h.unAuthorize, h.alreadySignedOut))
	h.handle("GET /authValidation", h.authed(h.authValidation, h.authInvalid))

	h.handle("GET /contact", h.authed(h.findContact, nil))
	h.handle("POST /contact", h.authed(h.createContact, nil))
	h.handle("GET /custom/contact/search", h.authed(h.searchContactByName, nil))

	h.handle("GET /callLog", h.authed(h.getCallLogs, nil))
	h.handle("POST /callLog", h.authed(h.createCallLog, nil))
	h.handle("PATCH /callLog", h.authed(h.updateCallLog, nil))
	h.handle("PUT /callDisposition", h.authed(h.upsertDisposition, nil))
	h.handle("POST /messageLog", h.authed(h.createMessageLog, nil))
}

func (h *Handler) handle(pattern string, fn http.HandlerFunc) {
	method, path, _ := strings.Cut(pattern, " ")
	h.mux.HandleFunc(method+" "+Prefix+path, fn)
	h.patterns = append(h.patterns, method+" "+Prefix+path)
}

// Patterns are the routes the handler answers, as http.ServeMux patterns
// under Prefix ("GET /appconnect/contact"); the ingress lists them in
// place of its /appconnect/ subtree.
func (h *Handler) Patterns() []string {
	return slices.Clone(h.patterns)
}

// ServeHTTP answers the routes under Prefix. Every answer allows any
// origin: sessions travel in a header or the query, never in cookies, and
// App Connect's client calls from the user's browser.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	if r.Method == http.MethodOptions {
		w.Header().Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, OPTIONS")
		w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-RC-Access-Token")
		w.Header().Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if _, pattern := h.mux.Handler(r); pattern == "" {
		writeJSON(w, http.StatusNotFound, envelope{ReturnMessage: danger("No route " + r.Method + " " + r.URL.Path)})
		return
	}
	h.mux.ServeHTTP(w, r)
}

// Messages of the session answers. App Connect's client recognises the
// first (it clears its stored session and sends the user to Settings).
const (
	msgAuthorize      = "Please go to Settings and authorize CRM platform"
	msgSessionEnded   = "Your Calldex session has ended. Please go to Settings and authorize CRM platform"
	msgAddressRefused = "Calldex does not accept requests from this network address"
)

// authed resolves the session before next. A session that has ended is
// answered 401, or by ended on routes whose contract has no 401.
func (h *Handler) authed(next func(http.ResponseWriter, *http.Request, *session), ended http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := h.authenticate(r.Context(), r)
		switch {
		case err == nil:
			next(w, r, s)
		case errors.Is(err, errSessionEnded) && ended != nil:
			ended(w, r)
		case errors.Is(err, errSessionEnded):
			writeJSON(w, http.StatusUnauthorized, envelope{ReturnMessage: warning(msgSessionEnded)})
		case errors.Is(err, errAddressRefused):
			writeJSON(w, http.StatusBadRequest, envelope{ReturnMessage: danger(msgAddressRefused)})
		default:
			writeJSON(w, http.StatusBadRequest, envelope{ReturnMessage: warning(msgAuthorize)})
		}
	}
}

// returnMessage is the user-facing notification of every answer.
type returnMessage struct {
	Message     string `json:"message"`
	MessageType string `json:"messageType"` // success, warning, danger
	// TTL is how long the client shows it, in milliseconds.
	TTL int `json:"ttl"`
}

func success(msg string) *returnMessage {
	return &returnMessage{Message: msg, MessageType: "success", TTL: 3000}
}

func warning(msg string) *returnMessage {
	return &returnMessage{Message: msg, MessageType: "warning", TTL: 5000}
}

func danger(msg string) *returnMessage {
	return &returnMessage{Message: msg, MessageType: "danger", TTL: 5000}
}

// envelope is the answer without a route-specific field.
type envelope struct {
	Successful    bool           `json:"successful"`
	ReturnMessage *returnMessage `json:"returnMessage"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// badRequest answers a request the contract does not allow.
func badRequest(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusBadRequest, envelope{ReturnMessage: warning(msg)})
}

// decodeJSON reads one JSON object of at most maxBody bytes; unknown fields
// are ignored (App Connect adds fields over time). It answers a bad body
// itself and reports whether to go on.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	err := dec.Decode(v)
	if err == nil {
		if _, extra := dec.Token(); !errors.Is(extra, io.EOF) {
			err = errors.New("more than one JSON value")
		}
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			badRequest(w, fmt.Sprintf("Request body larger than %d bytes", maxBody))
		} else {
			badRequest(w, "Malformed JSON body: "+err.Error())
		}
		return false
	}
	return true
}

// missing answers 400 naming the required fields a body lacks.
func missing(w http.ResponseWriter, fields ...string) bool {
	if len(fields) == 0 {
		return false
	}
	slices.Sort(fields)
	badRequest(w, "Missing required fields: "+strings.Join(fields, ", "))
	return true
}
