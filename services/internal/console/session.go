package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"sync"
	"time"
)

// cookieName is the session cookie.
const cookieName = "calldex_console"

// maxSessions bounds the sessions kept at once: a login beyond it drops
// the oldest, so logins cannot grow memory without bound.
const maxSessions = 10000

type session struct {
	id      string
	csrf    string
	expires time.Time
	// flash is what the next page shows once: the outcome of an action
	// after its redirect (guarded by sessions.mu).
	flash flash
}

type flash struct {
	Message string
	Error   bool
}

// actor names a session in the audit without revealing its cookie.
func (s *session) actor() string {
	sum := sha256.Sum256([]byte(s.id))
	return "console:" + hex.EncodeToString(sum[:4])
}

// sessions are the logged-in operators of this process.
type sessions struct {
	ttl time.Duration
	now func() time.Time
	mu  sync.Mutex
	m   map[string]*session
}

func newSessions(ttl time.Duration) *sessions {
	return &sessions{ttl: ttl, now: time.Now, m: map[string]*session{}}
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create starts a session.
func (ss *sessions) create() *session {
	s := &session{id: randomToken(), csrf: randomToken(), expires: ss.now().Add(ss.ttl)}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	now := ss.now()
	for id, o := range ss.m {
		if now.After(o.expires) {
			delete(ss.m, id)
		}
	}
	if len(ss.m) >= maxSessions {
		var oldest *session
		for _, o := range ss.m {
			if oldest == nil || o.expires.Before(oldest.expires) {
				oldest = o
			}
		}
		delete(ss.m, oldest.id)
	}
	ss.m[s.id] = s
	return s
}

// get returns the live session of r's cookie.
func (ss *sessions) get(r *http.Request) (*session, bool) {
	c, err := r.Cookie(cookieName)
	if err != nil || c.Value == "" {
		return nil, false
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.m[c.Value]
	if !ok {
		return nil, false
	}
	if ss.now().After(s.expires) {
		delete(ss.m, s.id)
		return nil, false
	}
	return s, true
}

func (ss *sessions) delete(s *session) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, s.id)
}

// validCSRF compares the request's token with the session's in constant
// time: the form field csrf, or the X-CSRF-Token header (htmx, fetch).
func (s *session) validCSRF(r *http.Request) bool {
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.PostFormValue("csrf")
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1
}

// setCookie sends the session cookie; Secure when the request came over
// TLS (a TLS-terminating proxy in front should add Secure itself).
func setCookie(w http.ResponseWriter, r *http.Request, value string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: value, Path: "/console/", Expires: expires,
		MaxAge:   max(int(time.Until(expires).Seconds()), -1),
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
}

// setFlash keeps an action's outcome for the next page.
func (ss *sessions) setFlash(s *session, f flash) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s.flash = f
}

// takeFlash returns and forgets the outcome kept for this page.
func (ss *sessions) takeFlash(s *session) flash {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	f := s.flash
	s.flash = flash{}
	return f
}
