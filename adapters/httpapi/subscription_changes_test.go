package httpapi_test

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/safeclose/billing/adapters/stripe"
	"github.com/safeclose/billing/domain/billing"
)

// linkPro gives the world's org a live PRO subscription, sub_acme.
func linkPro(t *testing.T, h *harness, org string) stripe.SubscriptionSpec {
	t.Helper()
	spec := stripe.SubscriptionSpec{OrgID: org, CustomerID: "cus_acme", SubscriptionID: "sub_acme", Tier: billing.TierPro,
		CurrentPeriodEnd: time.Now().Add(30 * 24 * time.Hour).Truncate(time.Second)}
	mustOK(t, h.deliver(h.factory.Event("evt_link", "checkout.session.completed", time.Now().Add(-time.Minute), h.factory.CheckoutSession("cs_1", spec))), "link")
	return spec
}

func statusOf(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return m
}

func TestPlanChangeCancelAndResumeInTheApp(t *testing.T) {
	h := newHarness(t)
	w := newWorld(t, h)
	post := func(path, token string, body map[string]any) (int, string) {
		rec := h.do("POST", path, token, body)
		return rec.Code, rec.Body.String()
	}
	// Without a subscription: use checkout.
	for _, path := range []string{"/api/billing/subscription/change", "/api/billing/subscription/preview"} {
		if code, body := post(path, w.tBilling, map[string]any{"orgId": w.org, "planTier": "ENTERPRISE"}); code != 409 || !strings.Contains(body, `"no_subscription"`) {
			t.Errorf("%s before any subscription: %d %s", path, code, body)
		}
	}
	for _, path := range []string{"/api/billing/subscription/cancel", "/api/billing/subscription/resume"} {
		if code, body := post(path, w.tBilling, map[string]any{"orgId": w.org}); code != 409 || !strings.Contains(body, `"no_subscription"`) {
			t.Errorf("%s before any subscription: %d %s", path, code, body)
		}
	}
	spec := linkPro(t, h, w.org)
	before := len(h.ledger(w.org))
	for _, tc := range []struct {
		token, tier string
		code        int
		errCode     string
	}{
		{w.tBilling, "PRO", 409, "same_plan"},
		{w.tBilling, "pro", 400, "invalid_request"},
		{w.tBilling, "FREE", 400, "invalid_request"},
		{w.tAudit, "ENTERPRISE", 403, "forbidden"},
		{w.tPlain, "ENTERPRISE", 403, "forbidden"},
		{w.tOutsider, "ENTERPRISE", 403, "forbidden"},
	} {
		if code, body := post("/api/billing/subscription/change", tc.token, map[string]any{"orgId": w.org, "planTier": tc.tier}); code != tc.code || !strings.Contains(body, `"`+tc.errCode+`"`) {
			t.Errorf("change to %s: %d %s, want %d %s", tc.tier, code, body, tc.code, tc.errCode)
		}
	}
	if n := len(h.ledger(w.org)); n != before {
		t.Fatalf("refused changes recorded %d events", n-before)
	}
	if n := len(h.mock.Requests("/v1/subscriptions/sub_acme")); n != 0 {
		t.Fatalf("refused changes reached Stripe %d times", n)
	}

	// A proration date that is not RFC 3339: 400 naming it, nothing sent.
	if code, body := post("/api/billing/subscription/change", w.tBilling, map[string]any{"orgId": w.org, "planTier": "ENTERPRISE", "prorationDate": "yesterday"}); code != 400 || !strings.Contains(body, "prorationDate") {
		t.Errorf("bad prorationDate: %d %s", code, body)
	}
	// The change: Stripe gets the item's new price with prorations at the
	// preview's date, and the status is on the new tier at once.
	at := time.Now().Truncate(time.Second).Add(-time.Minute).UTC()
	code, body := post("/api/billing/subscription/change", w.tBilling, map[string]any{"orgId": w.org, "planTier": "ENTERPRISE", "prorationDate": at.Format(time.RFC3339)})
	if code != 200 {
		t.Fatalf("change: %d %s", code, body)
	}
	if st := statusOf(t, []byte(body)); st["planTier"] != "ENTERPRISE" || st["stripeSubscriptionId"] != "sub_acme" {
		t.Errorf("change answered %s", body)
	}
	if st := h.billingStatus(w.org); st.PlanTier != "ENTERPRISE" {
		t.Errorf("status after the change: %+v", st)
	}
	updates := h.mock.Requests("/v1/subscriptions/sub_acme")
	var update *url.Values
	for i := range updates {
		if updates[i].Method == "POST" {
			update = &updates[i].Form
		}
	}
	if update == nil {
		t.Fatal("no POST /v1/subscriptions/sub_acme reached Stripe")
	}
	for k, v := range map[string]string{"items[0][price]": "price_enterprise", "proration_behavior": "create_prorations",
		"proration_date": strconv.FormatInt(at.Unix(), 10)} {
		if got := update.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if update.Get("items[0][id]") == "" {
		t.Error("the subscription item was not named")
	}
	changed := h.ledger(w.org)[len(h.ledger(w.org))-1]
	if changed.Type != billing.TypePlanChangeRequested || changed.Metadata.Actor != "user:"+w.billingU.ID {
		t.Errorf("recorded %s by %s", changed.Type, changed.Metadata.Actor)
	}
	// The webhook that follows changes nothing further.
	enterprise := spec
	enterprise.Tier = billing.TierEnterprise
	mustOK(t, h.deliver(h.factory.Event("evt_after_change", "customer.subscription.updated", time.Now().Add(-time.Second), h.factory.Subscription(enterprise))), "update after the change")
	if st := h.billingStatus(w.org); st.PlanTier != "ENTERPRISE" || st.CancelAtPeriodEnd {
		t.Errorf("status after the change's webhook: %+v", st)
	}

	// Cancel, then resume.
	code, body = post("/api/billing/subscription/cancel", w.tOwner, map[string]any{"orgId": w.org})
	if code != 200 || statusOf(t, []byte(body))["cancelAtPeriodEnd"] != true || statusOf(t, []byte(body))["planTier"] != "ENTERPRISE" {
		t.Fatalf("cancel: %d %s", code, body)
	}
	code, body = post("/api/billing/subscription/resume", w.tOwner, map[string]any{"orgId": w.org})
	if code != 200 || statusOf(t, []byte(body))["cancelAtPeriodEnd"] != false {
		t.Fatalf("resume: %d %s", code, body)
	}
	var cancels []string
	for _, r := range h.mock.Requests("/v1/subscriptions/sub_acme") {
		if c := r.Form.Get("cancel_at_period_end"); c != "" {
			cancels = append(cancels, c)
		}
	}
	if strings.Join(cancels, ",") != "true,false" {
		t.Errorf("cancel_at_period_end sent %v, want true then false", cancels)
	}
	types := []string{}
	for _, e := range h.ledger(w.org)[before:] {
		types = append(types, e.Type)
	}
	if want := "PlanChangeRequested,SubscriptionRefreshed,CancellationRequested,CancellationWithdrawn"; strings.Join(types, ",") != want {
		t.Errorf("recorded %v, want %s", types, want)
	}
	h.verifyLedger()
}

func TestPlanChangePreviewReadsStripesUpcomingInvoice(t *testing.T) {
	// stripe-mock does not serve GET /v1/invoices/upcoming: the fake does.
	h := newHarness(t, options{paymentsBase: "fake"})
	w := newWorld(t, h)
	spec := linkPro(t, h, w.org)
	h.fake.SetSubscription(spec)
	h.fake.SetUpcomingInvoice(spec, stripe.InvoiceSpec{InvoiceID: "upcoming", Amount: 1234, Currency: "eur"})
	rec := h.do("POST", "/api/billing/subscription/preview", w.tBilling, map[string]any{"orgId": w.org, "planTier": "STARTER"})
	if rec.Code != 200 {
		t.Fatalf("preview: %d %s", rec.Code, rec.Body)
	}
	var p struct {
		OrgID, PlanTier, Currency, ProrationDate string
		AmountDue                                int64
		Lines                                    []struct {
			Description string
			Amount      int64
		}
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &p)
	at, err := time.Parse(time.RFC3339, p.ProrationDate)
	if err != nil || p.OrgID != w.org || p.PlanTier != "STARTER" || p.AmountDue != 1234 || p.Currency != "eur" || len(p.Lines) == 0 {
		t.Fatalf("preview: %s", rec.Body)
	}
	q := h.fake.Queries("/v1/invoices/upcoming")
	if len(q) != 1 {
		t.Fatalf("%d upcoming invoice reads", len(q))
	}
	for k, v := range map[string]string{"subscription": "sub_acme", "subscription_items[0][price]": "price_starter",
		"subscription_items[0][id]": "si_PEHTru8PmLRCo3", "subscription_proration_date": strconv.FormatInt(at.Unix(), 10)} {
		if got := q[0].Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	// A preview records nothing.
	for _, e := range h.ledger(w.org) {
		if e.Type == billing.TypePlanChangeRequested {
			t.Error("a preview recorded a change")
		}
	}
	// Stripe down: 502, nothing recorded.
	h.fake.Down.Store(true)
	if rec := h.do("POST", "/api/billing/subscription/preview", w.tBilling, map[string]any{"orgId": w.org, "planTier": "STARTER"}); rec.Code != 502 || !strings.Contains(rec.Body.String(), `"stripe_unavailable"`) {
		t.Errorf("Stripe down: %d %s", rec.Code, rec.Body)
	}
}

// TestPlanChangeReadsTheItemOnlyWhenNotRecorded: the subscription's item
// comes from the Stripe facts recorded; an org linked by its checkout
// alone (a session has no items) reads it from Stripe once, and the
// change's answer records it for the next one.
func TestPlanChangeReadsTheItemOnlyWhenNotRecorded(t *testing.T) {
	h := newHarness(t)
	w := newWorld(t, h)
	linkPro(t, h, w.org)
	const path = "/v1/subscriptions/sub_acme"
	sent := func() (gets int, item string) {
		for _, r := range h.mock.Requests(path) {
			if r.Method == "GET" {
				gets++
			} else if r.Form.Has("items[0][id]") {
				item = r.Form.Get("items[0][id]")
			}
		}
		return gets, item
	}
	change := func(tier string) {
		t.Helper()
		if rec := h.do("POST", "/api/billing/subscription/change", w.tBilling, map[string]any{"orgId": w.org, "planTier": tier}); rec.Code != 200 {
			t.Fatalf("change to %s: %d %s", tier, rec.Code, rec.Body)
		}
	}
	change("ENTERPRISE")
	gets, item := sent()
	if gets != 1 || item == "" {
		t.Fatalf("first change: %d reads of the subscription, item %q; want 1 read and its item", gets, item)
	}
	last := h.ledger(w.org)[len(h.ledger(w.org))-1]
	if statusOf(t, last.Data)["itemId"] != item {
		t.Errorf("the change's answer did not record the item: %s", last.Data)
	}
	change("PRO")
	if gets, again := sent(); gets != 1 || again != item {
		t.Errorf("second change: %d reads in all, item %q; want no further read and %q", gets, again, item)
	}

	// An org whose subscription update named the item: no read at all.
	other := newHarness(t)
	ow := newWorld(t, other)
	spec := linkPro(t, other, ow.org)
	mustOK(t, other.deliver(other.factory.Event("evt_upd", "customer.subscription.updated", time.Now().Add(-30*time.Second), other.factory.Subscription(spec))), "update")
	if rec := other.do("POST", "/api/billing/subscription/change", ow.tBilling, map[string]any{"orgId": ow.org, "planTier": "STARTER"}); rec.Code != 200 {
		t.Fatalf("change: %d %s", rec.Code, rec.Body)
	}
	for _, r := range other.mock.Requests(path) {
		if r.Method == "GET" {
			t.Error("a change read the subscription whose item the ledger knows")
		}
		if got := r.Form.Get("items[0][id]"); r.Method == "POST" && got != "si_PEHTru8PmLRCo3" {
			t.Errorf("items[0][id] = %q, want the item the update named", got)
		}
	}
}

// TestPlanChangePreviewUsesTheRecordedItem: a preview reads the
// subscription from Stripe only while the ledger knows no item.
func TestPlanChangePreviewUsesTheRecordedItem(t *testing.T) {
	h := newHarness(t, options{paymentsBase: "fake"})
	w := newWorld(t, h)
	spec := linkPro(t, h, w.org)
	h.fake.SetSubscription(spec)
	h.fake.SetUpcomingInvoice(spec, stripe.InvoiceSpec{InvoiceID: "upcoming", Amount: 1234, Currency: "eur"})
	preview := func() {
		t.Helper()
		if rec := h.do("POST", "/api/billing/subscription/preview", w.tBilling, map[string]any{"orgId": w.org, "planTier": "STARTER"}); rec.Code != 200 {
			t.Fatalf("preview: %d %s", rec.Code, rec.Body)
		}
	}
	preview()
	if n := len(h.fake.Queries("/v1/subscriptions/sub_acme")); n != 1 {
		t.Fatalf("a preview without a recorded item read the subscription %d times, want 1", n)
	}
	mustOK(t, h.deliver(h.factory.Event("evt_upd", "customer.subscription.updated", time.Now().Add(-30*time.Second), h.factory.Subscription(spec))), "update")
	preview()
	if n := len(h.fake.Queries("/v1/subscriptions/sub_acme")); n != 1 {
		t.Errorf("a preview with the item recorded read the subscription: %d reads in all, want 1", n)
	}
	q := h.fake.Queries("/v1/invoices/upcoming")
	if got := q[len(q)-1].Get("subscription_items[0][id]"); got != "si_PEHTru8PmLRCo3" {
		t.Errorf("subscription_items[0][id] = %q, want the recorded item", got)
	}
}
