// Package openapitest checks real HTTP exchanges against an OpenAPI
// document: tests send their requests through a Transport, and every
// answer that does not match the document fails the test.
package openapitest

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// Router loads and validates a document, matching any host.
func Router(doc []byte) (routers.Router, error) {
	loader := openapi3.NewLoader()
	d, err := loader.LoadFromData(doc)
	if err != nil {
		return nil, err
	}
	if err := d.Validate(loader.Context); err != nil {
		return nil, err
	}
	d.Servers = nil
	return gorillamux.NewRouter(d)
}

// Transport sends requests with http.DefaultTransport and validates each
// exchange against Router.
type Transport struct {
	T      testing.TB
	Router routers.Router
	// StripPrefix is removed from paths before they are looked up (a
	// document served under a prefix).
	StripPrefix string
	// Requests validates request bodies too, not only responses.
	Requests bool
	// Base sends the requests; nil is http.DefaultTransport.
	Base http.RoundTripper
	// skip suspends request validation for requests sent on purpose
	// against the document.
	skip atomic.Bool
}

// SkipRequests suspends request validation until the returned func is called.
func (v *Transport) SkipRequests() (resume func()) {
	v.skip.Store(true)
	return func() { v.skip.Store(false) }
}

// RoundTrip sends req and checks the request (if asked) and the response.
func (v *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		reqBody, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	base := v.Base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))

	vreq := req.Clone(req.Context())
	vreq.URL.Path = strings.TrimPrefix(req.URL.Path, v.StripPrefix)
	vreq.URL.RawPath = ""
	vreq.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := v.Router.FindRoute(vreq)
	if err != nil {
		if resp.StatusCode != http.StatusNotFound {
			v.T.Errorf("openapi: %s %s answered %d but is not in the document: %v", req.Method, req.URL.Path, resp.StatusCode, err)
		}
		return resp, nil
	}
	input := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, ExcludeRequestBody: !v.Requests}}
	if v.Requests && !v.skip.Load() {
		if err := openapi3filter.ValidateRequest(req.Context(), input); err != nil {
			v.T.Errorf("openapi: request %s %s does not match the document: %v", req.Method, req.URL.Path, err)
		}
	}
	input.Request = req.Clone(req.Context())
	input.Request.URL.Path = vreq.URL.Path
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: input, Status: resp.StatusCode, Header: resp.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(req.Context(), out); err != nil {
		v.T.Errorf("openapi: %s %s → %d does not match the document: %v\nbody: %s", req.Method, req.URL.Path, resp.StatusCode, err, body)
	}
	return resp, nil
}

// Undocumented returns the route patterns (http.ServeMux's "[METHOD ]/path")
// that doc does not document. A pattern with a method needs that operation
// on its path, whatever its wildcards are named; a subtree handed to
// another handler ("/console/") needs a documented path under it.
func Undocumented(doc []byte, patterns []string) ([]string, error) {
	d, err := openapi3.NewLoader().LoadFromData(doc)
	if err != nil {
		return nil, err
	}
	ops := map[string]bool{} // "METHOD shape" of every documented operation
	var shapes []string
	for path, item := range d.Paths.Map() {
		shape := pathShape(path)
		shapes = append(shapes, shape)
		for method := range item.Operations() {
			ops[method+" "+shape] = true
		}
	}
	var out []string
	for _, p := range patterns {
		method, path, ok := strings.Cut(p, " ")
		if !ok {
			method, path = "", p
		}
		shape := pathShape(path)
		switch {
		case method != "" && ops[method+" "+shape]:
		case method == "" && strings.HasSuffix(shape, "/") && slices.ContainsFunc(shapes, func(s string) bool { return strings.HasPrefix(s, shape) }):
		default:
			out = append(out, p)
		}
	}
	return out, nil
}

// pathShape names every wildcard "{}", so a document's {id} matches a
// pattern's {tenant}; ServeMux's {$} (exactly this path) is dropped.
func pathShape(path string) string {
	path = strings.TrimSuffix(path, "{$}")
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			segs[i] = "{}"
		}
	}
	return strings.Join(segs, "/")
}

// RequireDocumented fails t for each of patterns doc does not document
// (Undocumented).
func RequireDocumented(t testing.TB, doc []byte, patterns []string) {
	t.Helper()
	if len(patterns) == 0 {
		t.Fatal("no routes to check")
	}
	missing, err := Undocumented(doc, patterns)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range missing {
		t.Errorf("route %q is not in the OpenAPI document", p)
	}
}
