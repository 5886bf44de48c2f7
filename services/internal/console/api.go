package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"

	"github.com/calldex/calldex/services/internal/adminauth"
)

// apiAnswer is an admin API answer.
type apiAnswer struct {
	status int
	body   []byte
}

// ok reports a 2xx answer.
func (a apiAnswer) ok() bool { return a.status >= 200 && a.status < 300 }

// decode reads the answer's JSON into v.
func (a apiAnswer) decode(v any) error {
	if err := json.Unmarshal(a.body, v); err != nil {
		return fmt.Errorf("admin API answer %d: %w", a.status, err)
	}
	return nil
}

// message is the answer's error message, or its status.
func (a apiAnswer) message() string {
	var e struct {
		Error struct{ Message string } `json:"error"`
	}
	if json.Unmarshal(a.body, &e) == nil && e.Error.Message != "" {
		return fmt.Sprintf("%s (%d)", e.Error.Message, a.status)
	}
	return fmt.Sprintf("%d %s", a.status, http.StatusText(a.status))
}

// call sends a request to the admin API in process, as the session's
// operator: the route authenticates it through adminauth and audits it
// under the session's actor. path is below /admin/v1.
func (c *Console) call(r *http.Request, s *session, method, path string, query url.Values, contentType string, body io.Reader) apiAnswer {
	u := "/admin/v1" + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	if body == nil {
		body = http.NoBody
	}
	req, err := http.NewRequestWithContext(adminauth.WithActor(r.Context(), s.actor()), method, u, body)
	if err != nil {
		return apiAnswer{status: http.StatusBadRequest, body: errorBody(err)}
	}
	req.RemoteAddr = r.RemoteAddr
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	c.deps.API.ServeHTTP(rec, req)
	return apiAnswer{status: rec.Code, body: rec.Body.Bytes()}
}

// callJSON sends v as a JSON body.
func (c *Console) callJSON(r *http.Request, s *session, method, path string, v any) apiAnswer {
	b, err := json.Marshal(v)
	if err != nil {
		return apiAnswer{status: http.StatusBadRequest, body: errorBody(err)}
	}
	return c.call(r, s, method, path, nil, "application/json", bytes.NewReader(b))
}

// errorBody is err in the admin API's error envelope.
func errorBody(err error) []byte {
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": "bad_request", "message": err.Error()}})
	return b
}
