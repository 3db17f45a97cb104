package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gorilla/mux"
	"go.uber.org/zap"

	"github.com/safeclose/billing/adapters/httpapi"
)

type pingOK struct{}

func (pingOK) PingContext(context.Context) error { return nil }

// TestSameOriginGuardsRoutesNotSignedRoutes: the same-origin check stands
// before every route registered in Routes and before none registered in
// SignedRoutes, whatever their paths.
func TestSameOriginGuardsRoutesNotSignedRoutes(t *testing.T) {
	ok := func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }
	h := httpapi.NewRouter(httpapi.Deps{Log: zap.NewNop(), DB: pingOK{}, BaseURL: baseURL,
		Routes:       []func(*mux.Router){func(r *mux.Router) { r.HandleFunc("/api/things", ok).Methods(http.MethodPost) }},
		SignedRoutes: []func(*mux.Router){func(r *mux.Router) { r.HandleFunc("/api/hooks/signed", ok).Methods(http.MethodPost) }},
	})
	for _, tc := range []struct {
		path    string
		headers map[string]string
		want    int
	}{
		{"/api/things", nil, http.StatusNoContent},
		{"/api/things", map[string]string{"Origin": baseURL, "Sec-Fetch-Site": "same-origin"}, http.StatusNoContent},
		{"/api/things", map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"/api/things", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"/api/hooks/signed", map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, http.StatusNoContent},
	} {
		req := httptest.NewRequest(http.MethodPost, tc.path, nil)
		for k, v := range tc.headers {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("POST %s with %v: %d %s, want %d", tc.path, tc.headers, rec.Code, rec.Body, tc.want)
		}
	}
}
