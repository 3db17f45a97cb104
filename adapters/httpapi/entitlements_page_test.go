package httpapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/safeclose/billing/adapters/stripe"
	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// A failed payment two days ago: the banner says until when the PRO
// features stay (the first failure and BILLING_GRACE_DAYS), with the
// portal button for a member with billing only; once the grace period is
// over, the past-due banner.
func TestGraceBannerInABrowser(t *testing.T) {
	h, base := servePage(t, options{plans: limitedPlans(t, 10)})
	ctx := context.Background()
	owner, plain := h.user("owner@example.com"), h.user("viewer@example.com")
	day := 24 * time.Hour
	// paidOrg is an org on PRO whose payment failed at failedAt.
	paidOrg := func(name string, failedAt time.Time) string {
		t.Helper()
		org, err := h.svc.CreateOrg(ctx, appActor(owner), name, owner.Email)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.svc.AddMember(ctx, appActor(owner), org, plain.Email, nil); err != nil {
			t.Fatal(err)
		}
		spec := stripe.SubscriptionSpec{OrgID: org, CustomerID: "cus_" + org, SubscriptionID: "sub_" + org, Tier: billing.TierPro, CurrentPeriodEnd: time.Now().Add(20 * day)}
		mustOK(t, h.deliver(h.factory.Event("evt_c_"+org, "checkout.session.completed", failedAt.Add(-day), h.factory.CheckoutSession("cs_"+org, spec))), "checkout")
		mustOK(t, h.deliver(h.factory.Event("evt_f_"+org, "invoice.payment_failed", failedAt, h.factory.Invoice(spec, stripe.InvoiceSpec{InvoiceID: "in_" + org, Amount: 4900, AttemptCount: 1}))), "failed")
		return org
	}
	failedAt := time.Now().Add(-2 * day).Truncate(time.Second)
	org := paidOrg("Acme", failedAt)
	lapsed := paidOrg("Lapsed", time.Now().Add(-8*day))

	b := browser(t)
	login(t, b, base, "/orgs/"+org+"/billing", owner.Email)
	want := "Payment failed: your PRO features stay until " + failedAt.Add(7*day).UTC().Format("2 January 2006") + "; update your payment method."
	if got := text(t, b, "#grace"); got != want {
		t.Errorf("grace banner %q, want %q", got, want)
	}
	if n := count(t, b, "#past-due [data-portal]"); n != 1 {
		t.Errorf("%d Update payment method buttons in the banner, want 1", n)
	}
	screenshot(t, b, "billing-grace.png")

	if err := chromedp.Run(b, chromedp.Navigate(base+"/orgs/"+lapsed+"/billing"), chromedp.WaitVisible("#past-due", chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	if n := count(t, b, "#grace"); n != 0 || !strings.Contains(text(t, b, "#past-due"), "Your last payment failed") {
		t.Errorf("grace over: %d grace banners, past-due banner %q", n, text(t, b, "#past-due"))
	}

	// A member without billing: told, without the button.
	click(t, b, "#logout")
	if err := chromedp.Run(b, chromedp.WaitVisible("#login-form", chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	login(t, b, base, "/orgs/"+org+"/billing", plain.Email)
	if got := text(t, b, "#grace"); got != want {
		t.Errorf("viewer's grace banner %q", got)
	}
	if n := count(t, b, "[data-portal]"); n != 0 {
		t.Errorf("viewer sees %d portal buttons", n)
	}
}

// The members note: none with room to spare; at the limit, remove a member
// to add one; after a move to a smaller plan, every member kept and the
// page says to remove members.
func TestMembersNoteInABrowser(t *testing.T) {
	h, base := servePage(t, options{plans: limitedPlans(t, 3)})
	ctx := context.Background()
	owner := h.user("owner@example.com")
	org, err := h.svc.CreateOrg(ctx, appActor(owner), "Acme", owner.Email)
	if err != nil {
		t.Fatal(err)
	}
	var members []ports.User
	for i := range 4 {
		members = append(members, h.user(fmt.Sprintf("m%d@example.com", i)))
	}
	add := func(u ports.User) {
		t.Helper()
		if _, err := h.svc.AddMember(ctx, appActor(owner), org, u.Email, nil); err != nil {
			t.Fatal(err)
		}
	}
	add(members[0])
	billingPage := "/orgs/" + org + "/billing"
	b := browser(t)
	login(t, b, base, billingPage, owner.Email)
	if n := count(t, b, "#members-limit"); n != 0 {
		t.Errorf("a note with 2 members on a plan for 3: %q", text(t, b, "#members-limit"))
	}
	spec := stripe.SubscriptionSpec{OrgID: org, CustomerID: "cus_note", SubscriptionID: "sub_note", Tier: billing.TierPro, CurrentPeriodEnd: time.Now().Add(30 * 24 * time.Hour)}
	mustOK(t, h.deliver(h.factory.Event("evt_note_1", "checkout.session.completed", time.Now().Add(-time.Minute), h.factory.CheckoutSession("cs_note", spec))), "checkout")
	for _, u := range members[1:] {
		add(u)
	}
	reload := func() {
		t.Helper()
		if err := chromedp.Run(b, chromedp.Navigate(base+billingPage), chromedp.WaitVisible("#plan-tier", chromedp.ByQuery)); err != nil {
			t.Fatal(err)
		}
	}
	reload()
	if got, want := text(t, b, "#members-limit"), "5 members on a plan for 5: remove a member to add a new one."; got != want {
		t.Errorf("at the limit: %q, want %q", got, want)
	}
	spec.Status = "canceled"
	mustOK(t, h.deliver(h.factory.Event("evt_note_2", "customer.subscription.deleted", time.Now(), h.factory.Subscription(spec))), "deleted")
	reload()
	if got, want := text(t, b, "#members-limit"), "5 members on a plan for 3: remove members to add new ones."; got != want {
		t.Errorf("after a smaller plan: %q, want %q", got, want)
	}
	if got := text(t, b, "#plan-tier"); got != "FREE" {
		t.Errorf("plan %q, want FREE", got)
	}
	screenshot(t, b, "billing-members-limit.png")
}
