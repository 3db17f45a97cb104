package httpapi

import (
	"net/http"
	"time"

	"github.com/safeclose/billing/adapters/httpapi/httperr"
	"github.com/safeclose/billing/domain/billing"
)

// entitlementsJSON is the body of GET /api/billing/entitlements: times in
// RFC 3339 seconds, UTC, or null; features [] and limits {} when none.
type entitlementsJSON struct {
	OrgID       string           `json:"orgId"`
	PlanTier    string           `json:"planTier"`
	Access      string           `json:"access"`
	Features    []string         `json:"features"`
	Limits      map[string]int64 `json:"limits"`
	TrialEndsAt *string          `json:"trialEndsAt"`
	GraceEndsAt *string          `json:"graceEndsAt"`
}

func toEntitlements(e billing.Entitlements) entitlementsJSON {
	out := entitlementsJSON{OrgID: e.OrgID, PlanTier: string(e.PlanTier), Access: string(e.Access),
		Features: e.Features, Limits: e.Limits, TrialEndsAt: instant(e.TrialEndsAt), GraceEndsAt: instant(e.GraceEndsAt)}
	if out.Features == nil {
		out.Features = []string{}
	}
	if out.Limits == nil {
		out.Limits = map[string]int64{}
	}
	return out
}

// instant is t in RFC 3339 seconds, UTC, or nil for the zero time.
func instant(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(time.RFC3339)
	return &s
}

// entitlements answers GET /api/billing/entitlements?orgId=ID[&asOf=T]
// (any member).
func (a *API) entitlements(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	org := q.Get("orgId")
	if org == "" {
		a.fail(w, r, httperr.New(http.StatusBadRequest, "invalid_request", "Query parameter %q is required.", "orgId"))
		return
	}
	var asOf time.Time
	if v := q.Get("asOf"); v != "" {
		var err error
		if asOf, err = time.Parse(time.RFC3339Nano, v); err != nil {
			a.fail(w, r, httperr.New(http.StatusBadRequest, "invalid_request", "Query parameter %q must be an RFC 3339 time.", "asOf"))
			return
		}
	}
	e, err := a.App.Entitlements(r.Context(), currentUser(r.Context()).ID, org, asOf)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toEntitlements(e))
}
