package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/safeclose/billing/adapters/httpapi/httperr"
)

// FuzzDecode: whatever the body, the decoder answers a value or a 4xx in
// the contract's terms; it never panics.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{`{"orgId":"org_1","planTier":"PRO"}`, `{"orgId":5}`, `{"coupon":1}`, `{} {}`, `[`, ``, `"x"`, `{"orgId":"\u0000"}`, strings.Repeat(`[`, 10000)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		var in struct {
			OrgID    string `json:"orgId"`
			PlanTier string `json:"planTier"`
		}
		err := decode(httptest.NewRecorder(), r, &in)
		if err == nil {
			return
		}
		a := httperr.Of(err)
		if a.Status < 400 || a.Status > 499 {
			t.Fatalf("decode error %v is answered %d, not a 4xx", err, a.Status)
		}
		if a.Code != "invalid_json" && a.Code != "invalid_request" && a.Code != "body_too_large" {
			t.Fatalf("code %q", a.Code)
		}
	})
}
