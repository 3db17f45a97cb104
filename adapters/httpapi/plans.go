package httpapi

import (
	"net/http"

	"github.com/safeclose/billing/application"
)

// planJSON is one tier of GET /api/billing/plans. Amounts are in the
// currency's minor units; priceId, unitAmount, currency and interval are
// null when they do not apply (FREE) or are not known (Stripe unread).
type planJSON struct {
	Tier        string           `json:"tier"`
	Name        string           `json:"name"`
	Description string           `json:"description"`
	PriceID     *string          `json:"priceId"`
	UnitAmount  *int64           `json:"unitAmount"`
	Currency    *string          `json:"currency"`
	Interval    *string          `json:"interval"`
	Features    []string         `json:"features"`
	Limits      map[string]int64 `json:"limits"`
	TrialDays   int              `json:"trialDays"`
}

func toPlan(o application.PlanOffer) planJSON {
	out := planJSON{Tier: string(o.Tier), Name: o.Name, Description: o.Description,
		Features: o.Features, Limits: o.Limits, TrialDays: o.TrialDays}
	if out.Features == nil {
		out.Features = []string{}
	}
	if out.Limits == nil {
		out.Limits = map[string]int64{}
	}
	if !o.Tier.Paid() {
		zero := int64(0)
		out.UnitAmount = &zero // FREE costs nothing, in no currency
	}
	if o.PriceID != "" {
		out.PriceID = &o.PriceID
	}
	if o.Priced {
		out.UnitAmount, out.Currency = &o.UnitAmount, &o.Currency
		if o.Interval != "" {
			out.Interval = &o.Interval
		}
	}
	return out
}

// plans answers GET /api/billing/plans: every tier, FREE first, with the
// prices read from Stripe when they could be (any session; no org).
func (a *API) plans(w http.ResponseWriter, r *http.Request) {
	offers, err := a.App.Plans(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]planJSON, len(offers))
	for i, o := range offers {
		out[i] = toPlan(o)
	}
	writeJSON(w, http.StatusOK, map[string]any{"plans": out})
}
