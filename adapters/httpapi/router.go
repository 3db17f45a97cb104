// Package httpapi is the HTTP adapter: the JSON API of CONTRACT.md on
// gorilla/mux. Handlers decode, call the application, encode; errors are
// mapped in one place ([writeError]).
package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"go.uber.org/zap"
)

// Pinger reports whether the database answers.
type Pinger interface {
	PingContext(ctx context.Context) error
}

// Deps are what the API needs.
type Deps struct {
	Log *zap.Logger
	DB  Pinger
	// Routes add further routes (webhook, billing, identity) to the router.
	Routes []func(r *mux.Router)
}

// NewRouter returns the service's HTTP handler.
func NewRouter(d Deps) http.Handler {
	r := mux.NewRouter()
	r.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}).Methods(http.MethodGet)
	r.HandleFunc("/readyz", func(w http.ResponseWriter, req *http.Request) {
		ctx, cancel := context.WithTimeout(req.Context(), time.Second)
		defer cancel()
		if err := d.DB.PingContext(ctx); err != nil {
			writeError(w, req, d.Log, errorf(http.StatusServiceUnavailable, "unavailable", "The database is unreachable."))
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	}).Methods(http.MethodGet)
	for _, add := range d.Routes {
		add(r)
	}
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeError(w, req, d.Log, errorf(http.StatusNotFound, "not_found", "No such route."))
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeError(w, req, d.Log, errorf(http.StatusMethodNotAllowed, "method_not_allowed", "Method not allowed on this route."))
	})
	return withRequestID(r)
}
