package httpapi

import (
	_ "embed"
	"net/http"

	"github.com/gorilla/mux"
)

// OpenAPI is the OpenAPI 3.1 document of the HTTP API.
//
//go:embed openapi.json
var OpenAPI []byte

// OpenAPIRoutes serves the document at /api/openapi.json.
func OpenAPIRoutes(r *mux.Router) {
	r.HandleFunc("/api/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(OpenAPI)
	}).Methods(http.MethodGet)
}
