package httpapi_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/safeclose/billing/adapters/stripe"
	"github.com/safeclose/billing/domain/billing"
)

// The lifecycle's banners in Chromium: a checkout the page waits for that
// Stripe expires stops the waiting (here); a trial says when it ends and
// what follows at which price; a payment waiting for 3-D Secure links to
// Stripe's page (for billing members); a pause says so (below).
func TestBillingPageExpiredCheckoutInABrowser(t *testing.T) {
	h, base := servePage(t, options{})
	org, owner, _ := h.acme()
	billingPage := "/orgs/" + org + "/billing"
	f := h.factory
	b := browser(t)
	login(t, b, base, billingPage, owner.Email)

	// Back from a checkout that Stripe then expires: the page stops
	// confirming, live, and says so.
	if rec := h.do("POST", "/api/billing/checkout-session", h.session(owner), map[string]string{"orgId": org, "planTier": "PRO"}); rec.Code != 200 {
		t.Fatalf("checkout: %d %s", rec.Code, rec.Body)
	}
	var session string
	for _, e := range h.ledger(org) {
		if e.Type == billing.TypeCheckoutStarted {
			var c billing.CheckoutStarted
			_ = json.Unmarshal(e.Data, &c)
			session = c.CheckoutSessionID
		}
	}
	if err := chromedp.Run(b, chromedp.Navigate(base+billingPage+"?checkout=success&session_id="+session), chromedp.WaitVisible("#confirming", chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	mustOK(t, h.deliver(f.Event("evt_exp", "checkout.session.expired", time.Now(), f.ExpiredCheckoutSession(session, stripe.SubscriptionSpec{OrgID: org, Tier: billing.TierPro}))), "expired")
	waitFor(t, b, "the expired checkout shown", `!!document.querySelector("#checkout-expired") && !document.querySelector("#confirming")`)
	screenshot(t, b, "billing-checkout-expired.png")
	// Coming back to that address later: no confirming either.
	if err := chromedp.Run(b, chromedp.Navigate(base+billingPage+"?checkout=success&session_id="+session), chromedp.WaitVisible("#checkout-expired", chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	if n := count(t, b, "#confirming"); n != 0 {
		t.Error("still confirming an expired checkout")
	}

}

// The trial, 3-D Secure and pause banners (a separate browser: each
// browser test has 30 s).
func TestBillingPageTrialPaymentAndPauseBannersInABrowser(t *testing.T) {
	h, base := servePage(t, options{})
	org, owner, plain := h.acme()
	billingPage := "/orgs/" + org + "/billing"
	f := h.factory
	b := browser(t)
	login(t, b, base, billingPage, owner.Email)

	// A trial: when it ends, then the plan at Stripe's price (stripe-mock:
	// 20.00 USD a month).
	start := time.Now().Add(-time.Minute).Truncate(time.Second)
	trialEnd := time.Date(2027, 3, 14, 12, 0, 0, 0, time.UTC)
	spec := func(status string) stripe.SubscriptionSpec {
		s := stripe.SubscriptionSpec{OrgID: org, CustomerID: "cus_pg", SubscriptionID: "sub_pg", Tier: billing.TierPro, Status: status, CurrentPeriodEnd: trialEnd}
		if status == "trialing" {
			s.TrialEnd = trialEnd
		}
		return s
	}
	mustOK(t, h.deliver(f.Event("evt_tr1", "checkout.session.completed", start, f.CheckoutSessionPaying("cs_pg", spec("trialing"), "no_payment_required"))), "trial checkout")
	mustOK(t, h.deliver(f.Event("evt_tr2", "customer.subscription.trial_will_end", start, f.Subscription(spec("trialing")))), "trial_will_end")
	if err := chromedp.Run(b, chromedp.Navigate(base+billingPage), chromedp.WaitVisible("#trial-ending", chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	if got, want := text(t, b, "#trial-ending"), "Your trial ends on 14 March 2027, then PRO at $20.00/month."; got != want {
		t.Errorf("trial banner %q, want %q", got, want)
	}
	if !strings.Contains(text(t, b, "#history"), "Trial ending") {
		t.Error("history lacks the trial's end")
	}
	screenshot(t, b, "billing-trial.png")

	// The first invoice after the trial needs 3-D Secure: Confirm payment
	// goes to Stripe's page; no past-due banner competes with it.
	mustOK(t, h.deliver(f.Event("evt_sca1", "invoice.payment_action_required", start.Add(10*time.Second), f.Invoice(spec(""), stripe.InvoiceSpec{InvoiceID: "in_pg", Number: "ACME-0007", Amount: 2000, AttemptCount: 1}))), "action")
	mustOK(t, h.deliver(f.Event("evt_sca2", "customer.subscription.updated", start.Add(10*time.Second), f.Subscription(spec("past_due")))), "past_due")
	if err := chromedp.Run(b, chromedp.Navigate(base+billingPage), chromedp.WaitVisible("#payment-action", chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	var href string
	if err := chromedp.Run(b, chromedp.AttributeValue("#confirm-payment", "href", &href, nil, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	if href != "https://invoice.stripe.com/i/acct_test/in_pg" || text(t, b, "#confirm-payment") != "Confirm payment" {
		t.Errorf("Confirm payment goes to %q", href)
	}
	if n := count(t, b, "#past-due, #trial-ending"); n != 0 {
		t.Errorf("%d competing banners", n)
	}
	screenshot(t, b, "billing-payment-action.png")

	// Paid: the banner goes. Then paused.
	mustOK(t, h.deliver(f.Event("evt_sca3", "invoice.paid", start.Add(20*time.Second), f.Invoice(spec(""), stripe.InvoiceSpec{InvoiceID: "in_pg", Amount: 2000, Paid: true, AttemptCount: 1}))), "paid")
	if err := chromedp.Run(b, chromedp.Navigate(base+billingPage), chromedp.WaitVisible("#plan-tier", chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	if n := count(t, b, "#payment-action"); n != 0 {
		t.Error("payment action still shown after the invoice was paid")
	}
	mustOK(t, h.deliver(f.Event("evt_pause", "customer.subscription.paused", start.Add(30*time.Second), f.Subscription(spec("paused")))), "paused")
	if err := chromedp.Run(b, chromedp.Navigate(base+billingPage), chromedp.WaitVisible("#paused", chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	if got := text(t, b, "#plan-status"); got != "Paused" {
		t.Errorf("status %q", got)
	}
	screenshot(t, b, "billing-paused.png")

	// A member without billing sees the payment waiting, but no link.
	mustOK(t, h.deliver(f.Event("evt_sca4", "invoice.payment_action_required", start.Add(40*time.Second), f.Invoice(spec(""), stripe.InvoiceSpec{InvoiceID: "in_pg2", Amount: 2000, AttemptCount: 1}))), "action again")
	if err := chromedp.Run(b, chromedp.Click("#logout", chromedp.ByQuery), chromedp.WaitVisible("#login-form", chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	login(t, b, base, billingPage, plain.Email)
	if n := count(t, b, "#payment-action"); n != 1 {
		t.Error("viewer does not see the payment waiting")
	}
	if n := count(t, b, "#confirm-payment"); n != 0 {
		t.Error("viewer without billing gets the Confirm payment link")
	}
}
