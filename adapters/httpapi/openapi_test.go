package httpapi_test

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/gorilla/mux"

	"github.com/safeclose/billing/adapters/httpapi"
)

// TestOpenAPIMatchesTheRouter: every route is documented, every documented
// route exists, with the same methods.
func TestOpenAPIMatchesTheRouter(t *testing.T) {
	h := newHarness(t)
	rec := h.do("GET", "/api/openapi.json", "", nil)
	if rec.Code != 200 {
		t.Fatalf("%d", rec.Code)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || doc.OpenAPI != "3.1.0" {
		t.Fatalf("document: %v %q", err, doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for m := range ops {
			if m != "parameters" {
				documented[strings.ToUpper(m)+" "+path] = true
			}
		}
	}
	served := map[string]bool{}
	err := h.handler.(*httpapi.Handler).Router().Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		if err != nil {
			return nil
		}
		methods, err := route.GetMethods()
		if err != nil {
			return nil // a subrouter prefix
		}
		for _, m := range methods {
			served[m+" "+tpl] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var missing, ghost []string
	for k := range served {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !served[k] {
			ghost = append(ghost, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(ghost)
	if len(missing) > 0 || len(ghost) > 0 {
		t.Errorf("undocumented routes: %v\ndocumented but not served: %v", missing, ghost)
	}
	if len(served) < 15 {
		t.Errorf("only %d routes walked", len(served))
	}
	_ = http.MethodGet
}
