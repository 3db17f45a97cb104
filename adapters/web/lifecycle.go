package web

import (
	"context"
	"net/url"
	"strings"

	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// lifecycleView is what the page says about the subscription's
// lifecycle, each in a banner of its own (templates/lifecycle.html): the
// trial's end and what follows it, a payment waiting for the customer's
// confirmation (3-D Secure), a pause, a payment still processing, and a
// checkout Stripe expired while the page waited for it.
type lifecycleView struct {
	TrialEnds, TrialThen string // "14 December 2026"; "PRO at $49.00/month", "" when canceling
	ActionURL            string
	Paused, Processing   bool
	CheckoutExpired      bool
}

// lifecycle fills the lifecycle's banners of v. A checkout the user came
// back from (?checkout=success&session_id=…) that Stripe expired stops the
// page confirming it. A payment waiting for confirmation replaces the
// past-due banner: confirming it is what the customer must do.
func (p *Pages) lifecycle(ctx context.Context, userID string, q url.Values, v *billingView) error {
	st := v.Status
	l := lifecycleView{ActionURL: st.PaymentActionURL, Paused: st.Status == string(billing.StatusPaused),
		Processing: st.Status == string(billing.StatusIncomplete)}
	if st.Status == string(billing.StatusTrialing) && !st.TrialEnd.IsZero() {
		l.TrialEnds = st.TrialEnd.UTC().Format("2 January 2006")
		if !st.CancelAtPeriodEnd {
			l.TrialThen = trialThen(st, v.Plans)
		}
	}
	if q.Get("checkout") == "success" {
		expired, err := p.App.CheckoutExpired(ctx, userID, v.OrgID, q.Get("session_id"))
		if err != nil {
			return err
		}
		l.CheckoutExpired = expired && !billing.Status(st.Status).Live()
		v.Confirming = v.Confirming && !expired
	}
	if l.ActionURL != "" {
		v.PastDue = false
	}
	v.Lifecycle = l
	return nil
}

// trialThen is what follows the trial: "PRO at $49.00/month" when the
// plan's price is known, else "PRO".
func trialThen(st ports.BillingStatus, plans []planView) string {
	for _, p := range plans {
		if p.Tier != st.PlanTier || !p.Paid || p.Unavailable {
			continue
		}
		switch per := p.Per; {
		case strings.HasPrefix(per, "per "):
			return st.PlanTier + " at " + p.Price + "/" + strings.TrimPrefix(per, "per ")
		case per != "":
			return st.PlanTier + " at " + p.Price + " " + per
		default:
			return st.PlanTier + " at " + p.Price
		}
	}
	return st.PlanTier
}
