// Package httpapi is the HTTP adapter: the JSON API of docs/API.md on
// gorilla/mux. Handlers decode, call the application, encode; errors are
// answered in one place ([httperr.Write]).
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	"go.uber.org/zap"

	"github.com/safeclose/billing/adapters/httpapi/httperr"
	"github.com/safeclose/billing/adapters/metrics"
	"github.com/safeclose/billing/application"
)

// Pinger reports whether the database answers.
type Pinger interface {
	PingContext(ctx context.Context) error
}

// Deps are what the API needs.
type Deps struct {
	Log *zap.Logger
	DB  Pinger
	// Metrics, when set, are served at /metrics and time every request.
	Metrics *metrics.Metrics
	// BaseURL is the app's public origin: a state-changing request from
	// another origin to one of Routes is refused (see [sameOrigin]).
	BaseURL string
	// Routes add the routes that browsers and API clients call, with the
	// session cookie or a bearer token (the JSON API, the pages): every
	// one is behind the same-origin check.
	Routes []func(r *mux.Router)
	// SignedRoutes add the routes whose caller proves itself by a
	// signature over the body rather than by a session (Stripe's
	// webhook): no cookie rides them, so no same-origin check stands
	// before them.
	SignedRoutes []func(r *mux.Router)
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client (see [ClientAddress]); none by default.
	TrustedProxies []netip.Prefix
}

// Handler is the service's HTTP handler.
type Handler struct {
	router *mux.Router
	next   http.Handler
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.next.ServeHTTP(w, r) }

// Router returns the routes, to walk them.
func (h *Handler) Router() *mux.Router { return h.router }

// NewRouter returns the service's HTTP handler.
func NewRouter(d Deps) *Handler {
	r := mux.NewRouter()
	r.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}).Methods(http.MethodGet)
	r.HandleFunc("/readyz", func(w http.ResponseWriter, req *http.Request) {
		ctx, cancel := context.WithTimeout(req.Context(), time.Second)
		defer cancel()
		if err := d.DB.PingContext(ctx); err != nil {
			httperr.Write(w, req, d.Log, httperr.Wrap(fmt.Errorf("ping database: %w", err), http.StatusServiceUnavailable, "unavailable", "The database is unreachable."))
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	}).Methods(http.MethodGet)
	if d.Metrics != nil {
		r.Handle("/metrics", d.Metrics.Handler()).Methods(http.MethodGet)
		r.Use(timed(d.Metrics, d.Log))
	}
	OpenAPIRoutes(r)
	for _, add := range d.SignedRoutes {
		add(r)
	}
	guarded := r.NewRoute().Subrouter()
	guarded.Use(sameOrigin(d.BaseURL, d.Log))
	for _, add := range d.Routes {
		add(guarded)
	}
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		httperr.Write(w, req, d.Log, httperr.New(http.StatusNotFound, "not_found", "No such route."))
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		httperr.Write(w, req, d.Log, httperr.New(http.StatusMethodNotAllowed, "method_not_allowed", "Method not allowed on this route."))
	})
	return &Handler{router: r, next: withClient(d.TrustedProxies, withRequestID(r))}
}

// timed observes every routed request's latency by route template and
// status, and writes one access log line with the client's address (no
// query string: it may name orgs but never secrets; no headers: they carry
// tokens).
func timed(m *metrics.Metrics, log *zap.Logger) mux.MiddlewareFunc {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
			next.ServeHTTP(sw, r)
			route := "unmatched"
			if cur := mux.CurrentRoute(r); cur != nil {
				if tpl, err := cur.GetPathTemplate(); err == nil {
					route = tpl
				}
			}
			took := time.Since(start)
			m.HTTPDuration.WithLabelValues(route, r.Method, strconv.Itoa(sw.status)).Observe(took.Seconds())
			if route != "/metrics" && route != "/healthz" && route != "/readyz" {
				client := ""
				if a := ClientAddr(r.Context()); a.IsValid() {
					client = a.String()
				}
				log.Info("request", zap.String("requestId", httperr.RequestID(r.Context())), zap.String("client", client), zap.String("method", r.Method),
					zap.String("route", route), zap.Int("status", sw.status), zap.Duration("took", took))
			}
		})
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// withRequestID gives every request an id, echoed in X-Request-Id, for the
// log lines of the adapters and of the use cases.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id := "req_" + hex.EncodeToString(b[:])
		w.Header().Set("X-Request-Id", id)
		ctx := application.WithRequestID(httperr.WithRequestID(r.Context(), id), id)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
