package httpapi_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safeclose/billing/adapters/stripe"
	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// story is a realistic history of one org's subscription through the
// rest of the lifecycle (trials, 3-D Secure, asynchronous payments,
// pauses), in Stripe's order, and the state it ends in.
type story struct {
	name          string
	org, cus, sub string
	events        [][]byte
	want          ports.BillingStatus
}

// newStory renders the story kind for the n-th org, its facts starting
// at start.
func newStory(h *harness, kind string, n int, start time.Time) story {
	org, cus, sub := fmt.Sprintf("org_%s%d", kind, n), fmt.Sprintf("cus_%s%d", kind, n), fmt.Sprintf("sub_%s%d", kind, n)
	h.createOrg(org)
	f := h.factory
	id := 0
	ev := func(typ string, sec int, obj map[string]any) []byte {
		id++
		return f.Event(fmt.Sprintf("evt_%s_%d", org, id), typ, start.Add(time.Duration(sec)*time.Second), obj)
	}
	end := start.AddDate(0, 1, 0).UTC()
	trialEnd := start.AddDate(0, 0, 14).UTC()
	s := func(status string) stripe.SubscriptionSpec {
		return stripe.SubscriptionSpec{OrgID: org, CustomerID: cus, SubscriptionID: sub, Tier: billing.TierPro, Status: status, CurrentPeriodEnd: end}
	}
	trial := s("trialing")
	trial.CurrentPeriodEnd, trial.TrialEnd = trialEnd, trialEnd
	invoice := func(inv string, amount int64, paid bool) map[string]any {
		return f.Invoice(s(""), stripe.InvoiceSpec{InvoiceID: inv + "_" + org, Number: "N-" + inv, Amount: amount, Paid: paid, AttemptCount: 1})
	}
	st := story{name: kind, org: org, cus: cus, sub: sub,
		want: ports.BillingStatus{OrgID: org, PlanTier: "PRO", Status: "active", CurrentPeriodEnd: end, StripeCustomerID: cus, StripeSubscriptionID: sub}}
	final := s("active")
	switch kind {
	case "trial":
		final = trial
		st.events = [][]byte{
			ev("checkout.session.completed", 0, f.CheckoutSessionPaying("cs_"+org, trial, "no_payment_required")),
			ev("customer.subscription.created", 0, f.Subscription(trial)),
			ev("invoice.paid", 0, invoice("in_0", 0, true)), // Stripe's $0 invoice of the trial: it does not make it active
			ev("customer.subscription.trial_will_end", 5, f.Subscription(trial)),
			ev("checkout.session.expired", -50, f.ExpiredCheckoutSession("cs_old_"+org, stripe.SubscriptionSpec{OrgID: org, Tier: billing.TierPro})),
		}
		st.want.Status, st.want.CurrentPeriodEnd, st.want.TrialEnd = "trialing", trialEnd, trialEnd
	case "sca":
		final = s("past_due")
		st.events = [][]byte{
			ev("checkout.session.completed", 0, f.CheckoutSession("cs_"+org, s("active"))),
			ev("invoice.paid", 0, invoice("in_1", 4900, true)),
			ev("customer.subscription.updated", 1, f.Subscription(s("active"))),
			ev("invoice.payment_action_required", 20, invoice("in_2", 4900, false)),
			ev("customer.subscription.updated", 20, f.Subscription(s("past_due"))),
		}
		st.want.Status, st.want.PaymentActionURL = "past_due", "https://invoice.stripe.com/i/acct_test/in_2_"+org
	case "confirmed":
		st.events = [][]byte{
			ev("checkout.session.completed", 0, f.CheckoutSession("cs_"+org, s("active"))),
			ev("invoice.payment_action_required", 20, invoice("in_2", 4900, false)),
			ev("customer.subscription.updated", 20, f.Subscription(s("past_due"))),
			ev("invoice.paid", 30, invoice("in_2", 4900, true)),
			ev("customer.subscription.updated", 30, f.Subscription(s("active"))),
		}
	case "async":
		st.events = [][]byte{
			ev("checkout.session.completed", 0, f.CheckoutSessionPaying("cs_"+org, s("incomplete"), "unpaid")),
			ev("customer.subscription.created", 0, f.Subscription(s("incomplete"))),
			ev("checkout.session.async_payment_succeeded", 30, f.CheckoutSessionPaying("cs_"+org, s("active"), "paid")),
			ev("invoice.paid", 30, invoice("in_1", 4900, true)),
			ev("customer.subscription.updated", 30, f.Subscription(s("active"))),
		}
	case "asyncfail":
		final = s("incomplete_expired")
		st.events = [][]byte{
			ev("checkout.session.completed", 0, f.CheckoutSessionPaying("cs_"+org, s("incomplete"), "unpaid")),
			ev("customer.subscription.created", 0, f.Subscription(s("incomplete"))),
			ev("checkout.session.async_payment_failed", 30, f.CheckoutSessionPaying("cs_"+org, s("incomplete"), "unpaid")),
			ev("customer.subscription.updated", 40, f.Subscription(s("incomplete_expired"))),
		}
		st.want.PlanTier, st.want.Status = "FREE", "incomplete_expired"
	case "paused":
		st.events = [][]byte{
			ev("checkout.session.completed", 0, f.CheckoutSession("cs_"+org, s("active"))),
			ev("customer.subscription.updated", 1, f.Subscription(s("active"))),
			ev("customer.subscription.paused", 10, f.Subscription(s("paused"))),
			ev("customer.subscription.resumed", 20, f.Subscription(s("active"))),
		}
	default:
		panic("unknown story " + kind)
	}
	h.fake.SetSubscription(final) // what the API says now: the end of the story
	return st
}

var storyKinds = []string{"trial", "sca", "confirmed", "async", "asyncfail", "paused"}

// sameLifecycleState compares what the status shows, times by instant.
func sameLifecycleState(got, want ports.BillingStatus) bool {
	if !got.CurrentPeriodEnd.Equal(want.CurrentPeriodEnd) || !got.TrialEnd.Equal(want.TrialEnd) {
		return false
	}
	got.LedgerVersion, got.UpdatedAt = 0, time.Time{}
	got.CurrentPeriodEnd, want.CurrentPeriodEnd, got.TrialEnd, want.TrialEnd = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return got == want
}

// TestLifecycleStoriesInAnyOrder delivers each story in order, then in
// random orders, each event concurrently and some several times, and
// expects the story's state every time.
func TestLifecycleStoriesInAnyOrder(t *testing.T) {
	h := newHarness(t)
	rng := rand.New(rand.NewPCG(14, 14))
	start := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	const runs = 25
	for _, kind := range storyKinds {
		for run := range runs {
			st := newStory(h, kind, run, start)
			order := rng.Perm(len(st.events))
			if run == 0 {
				for i := range order {
					order[i] = i
				}
			}
			var wg sync.WaitGroup
			for k, i := range order {
				copies := 1 + rng.IntN(2)
				if run == 0 {
					copies = 1
				}
				for c := range copies {
					wg.Add(1)
					delay := time.Duration(k*300+c*rng.IntN(400)) * time.Microsecond
					go func() {
						defer wg.Done()
						if run > 0 {
							time.Sleep(delay)
						} else if k > 0 {
							time.Sleep(time.Duration(k) * 20 * time.Millisecond)
						}
						if rec := h.deliver(st.events[i]); rec.Code != http.StatusOK {
							t.Errorf("%s run %d event %d: %d %s", kind, run, i, rec.Code, rec.Body)
						}
					}()
				}
			}
			wg.Wait()
			if got := h.billingStatus(st.org); !sameLifecycleState(got, st.want) {
				t.Fatalf("%s run %d, order %v:\n got  %+v\n want %+v", kind, run, order, got, st.want)
			}
		}
	}
	if n := h.count("SELECT count(*) FROM stripe_inbox WHERE outcome NOT IN ('applied')"); n != 0 {
		t.Errorf("%d inbox events not applied", n)
	}
	h.verifyLedger()
}

// statusBody is the status API's answer, as a client reads it.
type statusBody struct {
	PlanTier         string  `json:"planTier"`
	Status           string  `json:"status"`
	TrialEnd         *string `json:"trialEnd"`
	PaymentActionURL *string `json:"paymentActionUrl"`
}

func (h *harness) statusBody(org, token, query string) statusBody {
	h.t.Helper()
	rec := h.do("GET", "/api/billing/status?orgId="+org+query, token, nil)
	if rec.Code != http.StatusOK {
		h.t.Fatalf("status: %d %s", rec.Code, rec.Body)
	}
	var b statusBody
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		h.t.Fatal(err)
	}
	if !strings.Contains(rec.Body.String(), `"trialEnd":`) || !strings.Contains(rec.Body.String(), `"paymentActionUrl":`) {
		h.t.Errorf("status body without trialEnd or paymentActionUrl: %s", rec.Body)
	}
	return b
}

func str(p *string) string {
	if p == nil {
		return "null"
	}
	return *p
}

// TestLifecycleEventEffects: each event type, delivered once with a
// realistic payload, records its own domain event and shows in the
// status body (live, asOf and knownAt).
func TestLifecycleEventEffects(t *testing.T) {
	h := newHarness(t)
	w := newWorld(t, h)
	org := w.org
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	at := func(sec int) time.Time { return start.Add(time.Duration(sec) * time.Second) }
	f := h.factory
	trialEnd := start.AddDate(0, 0, 14).UTC()
	s := func(status string) stripe.SubscriptionSpec {
		return stripe.SubscriptionSpec{OrgID: org, CustomerID: "cus_e", SubscriptionID: "sub_e", Tier: billing.TierPro, Status: status, CurrentPeriodEnd: trialEnd}
	}
	trial := s("trialing")
	trial.TrialEnd = trialEnd
	inv := func(paid bool) map[string]any {
		return f.Invoice(s(""), stripe.InvoiceSpec{InvoiceID: "in_sca", Amount: 4900, Paid: paid, AttemptCount: 1})
	}
	action := "https://invoice.stripe.com/i/acct_test/in_sca"
	trialEndText := trialEnd.Format(time.RFC3339)
	steps := []struct {
		typ                string
		sec                int
		object             map[string]any
		recorded           string // domain event type
		tier, status       string
		trialEnd, actionAt string
	}{
		{"checkout.session.expired", 0, f.ExpiredCheckoutSession("cs_gone", stripe.SubscriptionSpec{OrgID: org, Tier: billing.TierPro}), billing.TypeCheckoutExpired, "FREE", "none", "null", "null"},
		{"checkout.session.completed", 10, f.CheckoutSessionPaying("cs_e", trial, "no_payment_required"), billing.TypePlanActivated, "PRO", "trialing", "null", "null"},
		{"customer.subscription.created", 10, f.Subscription(trial), billing.TypeSubscriptionRefreshed, "PRO", "trialing", trialEndText, "null"},
		{"customer.subscription.trial_will_end", 20, f.Subscription(trial), billing.TypeTrialWillEnd, "PRO", "trialing", trialEndText, "null"},
		{"customer.subscription.paused", 30, f.Subscription(s("paused")), billing.TypeSubscriptionPaused, "PRO", "paused", "null", "null"},
		{"customer.subscription.resumed", 40, f.Subscription(s("active")), billing.TypeSubscriptionResumed, "PRO", "active", "null", "null"},
		{"invoice.payment_action_required", 50, inv(false), billing.TypePaymentActionRequired, "PRO", "active", "null", action},
		{"invoice.paid", 60, inv(true), billing.TypePaymentSucceeded, "PRO", "active", "null", "null"},
		{"checkout.session.async_payment_failed", 70, f.CheckoutSessionPaying("cs_e", s("active"), "unpaid"), billing.TypeAsyncPaymentFailed, "PRO", "active", "null", "null"},
		{"checkout.session.async_payment_succeeded", 80, f.CheckoutSessionPaying("cs_e", s("active"), "paid"), billing.TypeAsyncPaymentSucceeded, "PRO", "active", "null", "null"},
	}
	for i, step := range steps {
		if out := mustOK(t, h.deliver(f.Event(fmt.Sprintf("evt_e%d", i), step.typ, at(step.sec), step.object)), step.typ); out != ports.OutcomeApplied {
			t.Fatalf("%s: outcome %q", step.typ, out)
		}
		events := h.billingEvents(org)
		if last := events[len(events)-1]; last.Type != step.recorded || last.Metadata.StripeEventID != fmt.Sprintf("evt_e%d", i) {
			t.Errorf("%s recorded %s (%s), want %s", step.typ, last.Type, last.Metadata.StripeEventID, step.recorded)
		}
		b := h.statusBody(org, w.tPlain, "")
		if b.PlanTier != step.tier || b.Status != step.status || str(b.TrialEnd) != step.trialEnd || str(b.PaymentActionURL) != step.actionAt {
			t.Errorf("after %s: %s %s trialEnd %s paymentActionUrl %s; want %s %s %s %s", step.typ, b.PlanTier, b.Status, str(b.TrialEnd), str(b.PaymentActionURL),
				step.tier, step.status, step.trialEnd, step.actionAt)
		}
	}
	// asOf places each fact at its Stripe time: trialing with its end,
	// then the payment waiting for the customer.
	asOf := func(sec int) statusBody {
		return h.statusBody(org, w.tPlain, "&asOf="+url.QueryEscape(at(sec).Format(time.RFC3339)))
	}
	if b := asOf(25); b.Status != "trialing" || str(b.TrialEnd) != trialEndText || b.PaymentActionURL != nil {
		t.Errorf("asOf in the trial: %+v", b)
	}
	if b := asOf(55); b.Status != "active" || b.TrialEnd != nil || str(b.PaymentActionURL) != action {
		t.Errorf("asOf while the payment waited: %+v", b)
	}
	if b := h.statusBody(org, w.tPlain, "&asOf="+url.QueryEscape(at(55).Format(time.RFC3339))+"&knownAt="+url.QueryEscape(time.Now().Format(time.RFC3339Nano))); str(b.PaymentActionURL) != action {
		t.Errorf("asOf and knownAt: %+v", b)
	}
	h.verifyLedger()
}

// TestPaidCheckoutConfirmsActiveOnlyWhereNoLaterFactSaysOtherwise: a
// paid checkout or invoice.paid at the same Stripe second as a trialing
// subscription, or earlier, leaves it trialing, in either delivery
// order; a later one confirms active.
func TestPaidCheckoutConfirmsActiveOnlyWhereNoLaterFactSaysOtherwise(t *testing.T) {
	h := newHarness(t)
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	f := h.factory
	for run, tc := range []struct {
		checkoutAt, invoiceAt int
		first                 string // "checkout" or "subscription"
		want                  string
	}{
		{10, -1, "checkout", "trialing"},
		{10, -1, "subscription", "trialing"},
		{5, -1, "subscription", "trialing"},
		{5, 10, "checkout", "trialing"},
		{5, 10, "subscription", "trialing"},
		{5, 11, "subscription", "active"},
		{11, -1, "subscription", "active"},
	} {
		org := fmt.Sprintf("org_paid%d", run)
		h.createOrg(org)
		spec := stripe.SubscriptionSpec{OrgID: org, CustomerID: "cus_" + org, SubscriptionID: "sub_" + org, Tier: billing.TierPro, Status: "trialing",
			CurrentPeriodEnd: start.AddDate(0, 0, 14), TrialEnd: start.AddDate(0, 0, 14)}
		h.fake.SetSubscription(spec)
		at := func(sec int) time.Time { return start.Add(time.Duration(sec) * time.Second) }
		checkout := f.Event("evt_co_"+org, "checkout.session.completed", at(tc.checkoutAt), f.CheckoutSession("cs_"+org, spec))
		sub := f.Event("evt_sub_"+org, "customer.subscription.updated", at(10), f.Subscription(spec))
		order := [][]byte{checkout, sub}
		if tc.first == "subscription" {
			order = [][]byte{sub, checkout}
		}
		if tc.invoiceAt >= 0 {
			order = append(order, f.Event("evt_in_"+org, "invoice.paid", at(tc.invoiceAt), f.Invoice(spec, stripe.InvoiceSpec{InvoiceID: "in_" + org, Amount: 4900, Paid: true})))
		}
		for _, e := range order {
			mustOK(t, h.deliver(e), "deliver")
		}
		if st := h.billingStatus(org); st.Status != tc.want || st.PlanTier != "PRO" {
			t.Errorf("case %d %+v: status %s %s, want %s", run, tc, st.PlanTier, st.Status, tc.want)
		}
	}
}

// TestCheckoutStartsTheTrialOncePerOrg: with a catalogue trial, the first
// checkout asks Stripe for it (subscription_data[trial_period_days]);
// once the org had a trialing subscription, checkouts do not, also after
// deletion and a new subscription.
func TestCheckoutStartsTheTrialOncePerOrg(t *testing.T) {
	cat, err := billing.BuiltInCatalogue().With(billing.Plan{Tier: billing.TierPro, Name: "Pro", TrialDays: 14})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, options{plans: cat})
	w := newWorld(t, h)
	f := h.factory
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	at := func(sec int) time.Time { return start.Add(time.Duration(sec) * time.Second) }
	checkout := func(tier string) string {
		t.Helper()
		if rec := h.do("POST", "/api/billing/checkout-session", w.tBilling, map[string]any{"orgId": w.org, "planTier": tier}); rec.Code != 200 {
			t.Fatalf("checkout: %d %s", rec.Code, rec.Body)
		}
		reqs := h.mock.Requests("/v1/checkout/sessions")
		return reqs[len(reqs)-1].Form.Get("subscription_data[trial_period_days]")
	}
	if got := checkout("STARTER"); got != "" {
		t.Errorf("STARTER has no trial, asked for %q", got)
	}
	if got := checkout("PRO"); got != "14" {
		t.Errorf("first PRO checkout: trial_period_days %q, want 14", got)
	}
	spec := func(sub, status string) stripe.SubscriptionSpec {
		s := stripe.SubscriptionSpec{OrgID: w.org, CustomerID: "cus_t", SubscriptionID: sub, Tier: billing.TierPro, Status: status, CurrentPeriodEnd: start.AddDate(0, 0, 14)}
		if status == "trialing" {
			s.TrialEnd = s.CurrentPeriodEnd
		}
		return s
	}
	mustOK(t, h.deliver(f.Event("evt_t1", "checkout.session.completed", at(0), f.CheckoutSessionPaying("cs_t1", spec("sub_t1", "trialing"), "no_payment_required"))), "trial checkout")
	mustOK(t, h.deliver(f.Event("evt_t2", "customer.subscription.created", at(0), f.Subscription(spec("sub_t1", "trialing")))), "trialing")
	if st := h.billingStatus(w.org); st.Status != "trialing" || st.TrialEnd.IsZero() {
		t.Fatalf("status %+v", st)
	}
	mustOK(t, h.deliver(f.Event("evt_t3", "customer.subscription.deleted", at(10), f.Subscription(spec("sub_t1", "canceled")))), "deleted")
	if got := checkout("PRO"); got != "" {
		t.Errorf("after a trialing subscription was deleted: trial_period_days %q", got)
	}
	mustOK(t, h.deliver(f.Event("evt_t4", "checkout.session.completed", at(20), f.CheckoutSession("cs_t2", spec("sub_t2", "active")))), "paid checkout")
	mustOK(t, h.deliver(f.Event("evt_t5", "customer.subscription.deleted", at(30), f.Subscription(spec("sub_t2", "canceled")))), "deleted again")
	if got := checkout("PRO"); got != "" {
		t.Errorf("after deletion and re-subscription: trial_period_days %q", got)
	}
}

// TestLifecycleWebhookEdges: an expired checkout that names nothing is
// ignored; a lifecycle payload with a bad field is refused (400) with
// nothing recorded; events of another API version are read from the API.
func TestLifecycleWebhookEdges(t *testing.T) {
	h := newHarness(t)
	h.createOrg("org_x")
	f := h.factory
	if out := mustOK(t, h.deliver(f.Event("evt_nobody", "checkout.session.expired", time.Now(), f.ExpiredCheckoutSession("cs_nobody", stripe.SubscriptionSpec{}))), "nobody"); out != ports.OutcomeIgnored {
		t.Errorf("an expiry naming no org: %q, want ignored", out)
	}
	spec := stripe.SubscriptionSpec{OrgID: "org_x", CustomerID: "cus_x", SubscriptionID: "sub_x", Tier: billing.TierPro, CurrentPeriodEnd: time.Now().Add(time.Hour).Truncate(time.Second)}
	bad := f.Subscription(spec)
	bad["trial_end"] = "tomorrow"
	for name, payload := range map[string][]byte{
		"paused with a string trial_end":   f.Event("evt_bad1", "customer.subscription.paused", time.Now(), bad),
		"action required without customer": f.Event("evt_bad2", "invoice.payment_action_required", time.Now(), map[string]any{"id": "in_1", "object": "invoice"}),
		"async paid without subscription":  f.Event("evt_bad3", "checkout.session.async_payment_succeeded", time.Now(), f.ExpiredCheckoutSession("cs_1", spec)),
	} {
		if rec := h.deliver(payload); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"invalid_request"`) {
			t.Errorf("%s: %d %s", name, rec.Code, rec.Body)
		}
	}
	if n := h.count("SELECT count(*) FROM stripe_inbox WHERE id LIKE 'evt_bad%'"); n != 0 || len(h.billingEvents("org_x")) != 0 {
		t.Errorf("refused deliveries recorded: %d inbox rows", n)
	}
	// Other API versions: the object is fetched again in ours.
	newer := func(id, typ, object string) []byte {
		var env map[string]any
		_ = json.Unmarshal(f.Event(id, typ, time.Now(), map[string]any{"id": object, "object": "x", "shape": "unknown"}), &env)
		env["api_version"] = "2025-03-31.basil"
		b, _ := json.Marshal(env)
		return b
	}
	mustOK(t, h.deliver(f.Event("evt_link", "checkout.session.completed", time.Now().Add(-time.Minute), f.CheckoutSession("cs_x", spec))), "link")
	paused := spec
	paused.Status = "paused"
	h.fake.SetSubscription(paused)
	h.fake.SetInvoice(spec, stripe.InvoiceSpec{InvoiceID: "in_sca", Amount: 100})
	h.fake.SetExpiredCheckoutSession("cs_old", spec)
	for _, tc := range []struct{ id, typ, object string }{
		{"evt_v1", "customer.subscription.paused", "sub_x"},
		{"evt_v2", "invoice.payment_action_required", "in_sca"},
		{"evt_v3", "checkout.session.expired", "cs_old"},
	} {
		before := h.fake.Requests.Load()
		if out := mustOK(t, h.deliver(newer(tc.id, tc.typ, tc.object)), tc.typ); out != ports.OutcomeApplied {
			t.Errorf("%s of another version: %q", tc.typ, out)
		}
		if h.fake.Requests.Load() == before {
			t.Errorf("%s of another version was not fetched again", tc.typ)
		}
	}
	st := h.billingStatus("org_x")
	if st.Status != "paused" || st.PaymentActionURL != "https://invoice.stripe.com/i/acct_test/in_sca" {
		t.Errorf("status %+v", st)
	}
	if events := h.billingEvents("org_x"); events[len(events)-1].Type != billing.TypeCheckoutExpired {
		t.Errorf("last event %s", events[len(events)-1].Type)
	}
}
