package httpapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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
		var ae *apiError
		if !errors.As(err, &ae) || ae.status < 400 || ae.status > 499 || ae.code == "" {
			t.Fatalf("decode error %v is not a 4xx apiError", err)
		}
		if ae.code != "invalid_json" && ae.code != "invalid_request" && ae.code != "body_too_large" {
			t.Fatalf("code %q", ae.code)
		}
	})
}
