package ingress

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/calldex/calldex/services/internal/httpjson"
	"github.com/calldex/calldex/shared/tenant"
)

// writeJSON and writeError are the API's answers (httpjson).
var (
	writeJSON  = httpjson.Write
	writeError = httpjson.WriteError
)

// errStatus maps the errors of shared packages to HTTP answers, one place for
// every route.
func errStatus(err error) (int, string) {
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, tenant.ErrUnauthenticated):
		return http.StatusUnauthorized, "unauthorized"
	case errors.Is(err, tenant.ErrAddressRefused):
		return http.StatusForbidden, "forbidden"
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, "body_too_large"
	case errors.Is(err, errBadRequest):
		return http.StatusBadRequest, "bad_request"
	default:
		return http.StatusInternalServerError, "internal"
	}
}

var errBadRequest = errors.New("bad request")

func fail(w http.ResponseWriter, err error) {
	code, c := errStatus(err)
	msg := err.Error()
	switch code {
	case http.StatusUnauthorized:
		// Never say whether a tenant exists.
		msg = "missing or invalid credential"
	case http.StatusInternalServerError:
		msg = "internal error"
	}
	writeError(w, code, c, msg)
}

// decodeJSON reads one JSON value of at most maxBody bytes into v.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body := http.MaxBytesReader(w, r.Body, maxBody)
	dec := json.NewDecoder(body)
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return errors.Join(errBadRequest, errors.New("malformed JSON body: "+err.Error()))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.Join(errBadRequest, errors.New("malformed JSON body: more than one value"))
	}
	return nil
}
