package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/safeclose/billing/adapters/httpapi/httperr"
	"github.com/safeclose/billing/application"
	"github.com/safeclose/billing/ports"
)

type planChangeRequest struct {
	OrgID         string `json:"orgId"`
	PlanTier      string `json:"planTier"`
	ProrationDate string `json:"prorationDate,omitempty"`
}

type previewJSON struct {
	OrgID         string     `json:"orgId"`
	PlanTier      string     `json:"planTier"`
	AmountDue     int64      `json:"amountDue"`
	Currency      string     `json:"currency"`
	ProrationDate string     `json:"prorationDate"`
	Lines         []lineJSON `json:"lines"`
}

type lineJSON struct {
	Description string `json:"description"`
	Amount      int64  `json:"amount"`
}

// previewChange answers POST /api/billing/subscription/preview.
func (a *API) previewChange(w http.ResponseWriter, r *http.Request) {
	var in planChangeRequest
	if !a.decodePlanChange(w, r, &in, false) {
		return
	}
	p, err := a.App.PreviewPlanChange(r.Context(), a.actor(r), in.OrgID, in.PlanTier)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := previewJSON{OrgID: p.OrgID, PlanTier: p.Tier, AmountDue: p.AmountDue, Currency: p.Currency,
		ProrationDate: p.ProrationDate.UTC().Format(time.RFC3339), Lines: []lineJSON{}}
	for _, l := range p.Lines {
		out.Lines = append(out.Lines, lineJSON{Description: l.Description, Amount: l.Amount})
	}
	writeJSON(w, http.StatusOK, out)
}

// changePlan answers POST /api/billing/subscription/change with the status.
func (a *API) changePlan(w http.ResponseWriter, r *http.Request) {
	var in planChangeRequest
	if !a.decodePlanChange(w, r, &in, true) {
		return
	}
	var at time.Time
	if in.ProrationDate != "" {
		var err error
		if at, err = time.Parse(time.RFC3339, in.ProrationDate); err != nil {
			a.fail(w, r, httperr.New(http.StatusBadRequest, "invalid_request", "Field %q must be an RFC 3339 time (from a preview).", "prorationDate"))
			return
		}
	}
	st, err := a.App.ChangePlan(r.Context(), a.actor(r), in.OrgID, in.PlanTier, at)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toStatus(st))
}

// cancelSubscription answers POST /api/billing/subscription/cancel.
func (a *API) cancelSubscription(w http.ResponseWriter, r *http.Request) {
	a.setCancel(w, r, a.App.CancelAtPeriodEnd)
}

// resumeSubscription answers POST /api/billing/subscription/resume.
func (a *API) resumeSubscription(w http.ResponseWriter, r *http.Request) {
	a.setCancel(w, r, a.App.ResumeSubscription)
}

// setCancel reads {orgId}, runs the use case and answers the status.
func (a *API) setCancel(w http.ResponseWriter, r *http.Request, use func(context.Context, application.Actor, string) (ports.BillingStatus, error)) {
	org, ok := a.decodeOrg(w, r)
	if !ok {
		return
	}
	st, err := use(r.Context(), a.actor(r), org)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toStatus(st))
}

// decodePlanChange reads {orgId, planTier[, prorationDate]}; false when it
// answered an error.
func (a *API) decodePlanChange(w http.ResponseWriter, r *http.Request, in *planChangeRequest, withDate bool) bool {
	var err error
	if withDate {
		err = decode(w, r, in)
	} else {
		var body struct {
			OrgID    string `json:"orgId"`
			PlanTier string `json:"planTier"`
		}
		err = decode(w, r, &body)
		in.OrgID, in.PlanTier = body.OrgID, body.PlanTier
	}
	if err == nil {
		err = required([2]string{"orgId", in.OrgID}, [2]string{"planTier", in.PlanTier})
	}
	if err != nil {
		a.fail(w, r, err)
		return false
	}
	return true
}

// decodeOrg reads {orgId}; false when it answered an error.
func (a *API) decodeOrg(w http.ResponseWriter, r *http.Request) (string, bool) {
	var in struct {
		OrgID string `json:"orgId"`
	}
	err := decode(w, r, &in)
	if err == nil {
		err = required([2]string{"orgId", in.OrgID})
	}
	if err != nil {
		a.fail(w, r, err)
		return "", false
	}
	return in.OrgID, true
}
