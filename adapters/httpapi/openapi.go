package httpapi

import (
	_ "embed"
	"net/http"

	"github.com/gorilla/mux"
)

// openAPI is the OpenAPI 3.1 document of the HTTP API. (go:embed needs a
// variable; nothing writes it.)
//
//go:embed openapi.json
var openAPI []byte

// OpenAPIRoutes serves the document at /api/openapi.json.
func OpenAPIRoutes(r *mux.Router) {
	r.HandleFunc("/api/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openAPI)
	}).Methods(http.MethodGet)
}
