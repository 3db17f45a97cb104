package httpapi

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/mux"
	"go.uber.org/zap"

	"github.com/safeclose/billing/adapters/httpapi/httperr"
)

// sameOrigin refuses state-changing requests from another origin than the
// app's own (baseURL): a browser always sends Origin on them, so a
// cross-site form or script cannot ride the session cookie. Requests
// without Origin (curl, scripts with a bearer token) pass; net/http's
// CrossOriginProtection refuses what Sec-Fetch-Site says is cross-site.
// [NewRouter] puts it before every route of [Deps.Routes] and none of
// [Deps.SignedRoutes].
func sameOrigin(baseURL string, log *zap.Logger) mux.MiddlewareFunc {
	refuse := func(w http.ResponseWriter, r *http.Request) {
		httperr.Write(w, r, log, httperr.New(http.StatusForbidden, "forbidden", "Cross-origin requests are refused."))
	}
	cop := http.NewCrossOriginProtection()
	_ = cop.AddTrustedOrigin(baseURL)
	cop.SetDenyHandler(http.HandlerFunc(refuse))
	return func(next http.Handler) http.Handler {
		guarded := cop.Handler(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.Method {
			case http.MethodGet, http.MethodHead, http.MethodOptions:
			default:
				if o := r.Header.Get("Origin"); o != "" && !sameOriginURL(o, baseURL) {
					refuse(w, r)
					return
				}
			}
			guarded.ServeHTTP(w, r)
		})
	}
}

func sameOriginURL(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	return err1 == nil && err2 == nil && strings.EqualFold(ua.Scheme, ub.Scheme) && strings.EqualFold(ua.Host, ub.Host)
}
