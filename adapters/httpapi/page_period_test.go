package httpapi_test

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/safeclose/billing/adapters/stripe"
	"github.com/safeclose/billing/domain/billing"
)

// TestBillingPagePeriodLabel: the period's end reads "Renews on" while the
// subscription renews, "Ends on" once it is set to cancel, and "Ended on"
// after Stripe deleted it — never "Renews on" for a subscription that is
// over.
func TestBillingPagePeriodLabel(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	owner := h.user("period@example.com")
	org, err := h.svc.CreateOrg(ctx, appActor(owner), "Period Co", owner.Email)
	if err != nil {
		t.Fatal(err)
	}
	cookie := "sc_test=" + h.session(owner)
	end := time.Now().AddDate(0, 1, 0).Truncate(time.Second)
	spec := stripe.SubscriptionSpec{OrgID: org, CustomerID: "cus_period", SubscriptionID: "sub_period", Tier: billing.TierPro, Status: "active", CurrentPeriodEnd: end}
	start := time.Now().Add(-time.Hour)
	label := func() string {
		t.Helper()
		rec := h.do("GET", "/orgs/"+org+"/billing", "", nil, "Cookie", cookie)
		m := regexp.MustCompile(`<dt>([^<]*)</dt><dd id="period-end">`).FindStringSubmatch(rec.Body.String())
		if rec.Code != 200 || m == nil {
			t.Fatalf("page %d without the period's end", rec.Code)
		}
		return m[1]
	}
	mustOK(t, h.deliver(h.factory.Event("evt_p1", "checkout.session.completed", start, h.factory.CheckoutSession("cs_period", spec))), "checkout")
	mustOK(t, h.deliver(h.factory.Event("evt_p2", "customer.subscription.updated", start.Add(time.Second), h.factory.Subscription(spec))), "updated")
	if got := label(); got != "Renews on" {
		t.Errorf("active: %q", got)
	}
	canceling := spec
	canceling.CancelAtPeriodEnd = true
	mustOK(t, h.deliver(h.factory.Event("evt_p3", "customer.subscription.updated", start.Add(2*time.Second), h.factory.Subscription(canceling))), "canceling")
	if got := label(); got != "Ends on" {
		t.Errorf("set to cancel: %q", got)
	}
	over := spec
	over.Status = "canceled"
	mustOK(t, h.deliver(h.factory.Event("evt_p4", "customer.subscription.deleted", start.Add(3*time.Second), h.factory.Subscription(over))), "deleted")
	if got := label(); got != "Ended on" {
		t.Errorf("deleted: %q", got)
	}
}
