package ingress

import (
	_ "embed"
	"net/http"
)

// OpenAPI is the OpenAPI 3 document of every route.
//
//go:embed openapi.yaml
var OpenAPI []byte

func (s *Server) openapi(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(OpenAPI)
}
