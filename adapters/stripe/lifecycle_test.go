package stripe_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/safeclose/billing/adapters/stripe"
	"github.com/safeclose/billing/application"
	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// lifecycleParser parses correctly signed payloads; API calls go to a
// closed port.
func lifecycleParser(t *testing.T) (*stripe.Factory, func(payload []byte) (application.StripeEvent, error)) {
	t.Helper()
	prices := stripe.Prices{billing.TierStarter: "price_s", billing.TierPro: "price_p", billing.TierEnterprise: "price_e"}
	factory, err := stripe.NewFactory(prices)
	if err != nil {
		t.Fatal(err)
	}
	client := stripe.NewClient(stripe.Config{SecretKey: "sk_test_x", APIBase: "http://127.0.0.1:1", Prices: prices, Timeout: 200 * time.Millisecond})
	hooks := stripe.NewWebhooks("whsec_x", client, time.Now)
	return factory, func(payload []byte) (application.StripeEvent, error) {
		return hooks.Parse(context.Background(), payload, stripe.Sign(payload, "whsec_x", time.Now()))
	}
}

// TestLifecycleEventsMapToTheirFacts: each lifecycle event, rendered from
// Stripe's 2023-10-16 example objects, maps to its own domain event with
// what ties it to the org.
func TestLifecycleEventsMapToTheirFacts(t *testing.T) {
	f, parse := lifecycleParser(t)
	end, trialEnd := time.Unix(1800000000, 0).UTC(), time.Unix(1790500000, 0).UTC()
	spec := stripe.SubscriptionSpec{OrgID: "org_1", CustomerID: "cus_1", SubscriptionID: "sub_1", Tier: billing.TierPro, CurrentPeriodEnd: end}
	trial, paused := spec, spec
	trial.Status, trial.TrialEnd = "trialing", trialEnd
	paused.Status = "paused"
	object := func(st billing.Status, trialEnd time.Time) billing.SubscriptionObject {
		return billing.SubscriptionObject{CustomerID: "cus_1", SubscriptionID: "sub_1", Status: st, Tier: billing.TierPro, PriceID: "price_p",
			CurrentPeriodEnd: end, TrialEnd: trialEnd, ItemID: "si_PEHTru8PmLRCo3"}
	}
	inv := billing.Invoice{InvoiceID: "in_1", Number: "N-1", CustomerID: "cus_1", SubscriptionID: "sub_1", AmountDue: 4900, Currency: "usd", AttemptCount: 1,
		HostedInvoiceURL: "https://invoice.stripe.com/i/acct_test/in_1", InvoicePDF: "https://pay.stripe.com/invoice/acct_test/in_1/pdf"}
	payment := billing.CheckoutPayment{CheckoutSessionID: "cs_1", CustomerID: "cus_1", SubscriptionID: "sub_1", Tier: billing.TierPro}
	noOrg := spec
	noOrg.OrgID = ""
	meta := f.ExpiredCheckoutSession("cs_meta", spec)
	meta["client_reference_id"] = nil // metadata orgId names the org still
	tests := []struct {
		typ    string
		object map[string]any
		want   application.StripeFact
	}{
		{"customer.subscription.trial_will_end", f.Subscription(trial),
			application.StripeFact{Change: billing.TrialWillEnd{SubscriptionObject: object(billing.StatusTrialing, trialEnd)}, OrgHint: "org_1", CustomerID: "cus_1", SubscriptionID: "sub_1"}},
		{"customer.subscription.updated", f.Subscription(trial),
			application.StripeFact{Change: billing.SubscriptionRefreshed{CustomerID: "cus_1", SubscriptionID: "sub_1", Status: billing.StatusTrialing, Tier: billing.TierPro,
				PriceID: "price_p", CurrentPeriodEnd: end, TrialEnd: trialEnd, ItemID: "si_PEHTru8PmLRCo3"}, OrgHint: "org_1", CustomerID: "cus_1", SubscriptionID: "sub_1"}},
		{"customer.subscription.paused", f.Subscription(paused),
			application.StripeFact{Change: billing.SubscriptionPaused{SubscriptionObject: object(billing.StatusPaused, time.Time{})}, OrgHint: "org_1", CustomerID: "cus_1", SubscriptionID: "sub_1"}},
		{"customer.subscription.resumed", f.Subscription(spec),
			application.StripeFact{Change: billing.SubscriptionResumed{SubscriptionObject: object(billing.StatusActive, time.Time{})}, OrgHint: "org_1", CustomerID: "cus_1", SubscriptionID: "sub_1"}},
		{"invoice.payment_action_required", f.Invoice(spec, stripe.InvoiceSpec{InvoiceID: "in_1", Number: "N-1", Amount: 4900, AttemptCount: 1}),
			application.StripeFact{Change: billing.PaymentActionRequired{Invoice: inv}, OrgHint: "org_1", CustomerID: "cus_1", SubscriptionID: "sub_1"}},
		{"checkout.session.expired", f.ExpiredCheckoutSession("cs_1", noOrg),
			application.StripeFact{Change: billing.CheckoutExpired{CheckoutSessionID: "cs_1", CustomerID: "cus_1"}, CustomerID: "cus_1"}},
		{"checkout.session.expired", f.ExpiredCheckoutSession("cs_1", stripe.SubscriptionSpec{OrgID: "org_1", Tier: billing.TierPro}),
			application.StripeFact{Change: billing.CheckoutExpired{CheckoutSessionID: "cs_1"}, OrgHint: "org_1"}},
		{"checkout.session.expired", meta,
			application.StripeFact{Change: billing.CheckoutExpired{CheckoutSessionID: "cs_meta", CustomerID: "cus_1"}, OrgHint: "org_1", CustomerID: "cus_1"}},
		{"checkout.session.async_payment_succeeded", f.CheckoutSessionPaying("cs_1", spec, "paid"),
			application.StripeFact{Change: billing.AsyncPaymentSucceeded{CheckoutPayment: payment}, OrgHint: "org_1", CustomerID: "cus_1", SubscriptionID: "sub_1"}},
		{"checkout.session.async_payment_failed", f.CheckoutSessionPaying("cs_1", spec, "unpaid"),
			application.StripeFact{Change: billing.AsyncPaymentFailed{CheckoutPayment: payment}, OrgHint: "org_1", CustomerID: "cus_1", SubscriptionID: "sub_1"}},
		{"checkout.session.completed", f.CheckoutSessionPaying("cs_1", spec, "unpaid"),
			application.StripeFact{Change: billing.PlanActivated{CheckoutSessionID: "cs_1", CustomerID: "cus_1", SubscriptionID: "sub_1", Tier: billing.TierPro, PaymentStatus: "unpaid"},
				OrgHint: "org_1", CustomerID: "cus_1", SubscriptionID: "sub_1"}},
		{"checkout.session.completed", f.CheckoutSessionPaying("cs_1", spec, "no_payment_required"),
			application.StripeFact{Change: billing.PlanActivated{CheckoutSessionID: "cs_1", CustomerID: "cus_1", SubscriptionID: "sub_1", Tier: billing.TierPro, PaymentStatus: "no_payment_required"},
				OrgHint: "org_1", CustomerID: "cus_1", SubscriptionID: "sub_1"}},
		{"checkout.session.completed", f.CheckoutSession("cs_1", spec),
			application.StripeFact{Change: billing.PlanActivated{CheckoutSessionID: "cs_1", CustomerID: "cus_1", SubscriptionID: "sub_1", Tier: billing.TierPro, PaymentStatus: "paid"},
				OrgHint: "org_1", CustomerID: "cus_1", SubscriptionID: "sub_1"}},
	}
	for _, tt := range tests {
		ev, err := parse(f.Event("evt_1", tt.typ, time.Now(), tt.object))
		if err != nil {
			t.Errorf("%s: %v", tt.typ, err)
			continue
		}
		if ev.Fact == nil || !reflect.DeepEqual(*ev.Fact, tt.want) {
			t.Errorf("%s:\n got  %+v\n want %+v", tt.typ, ev.Fact, tt.want)
			continue
		}
		// The fact is one the ledger can keep.
		data, err := billing.EncodeChange(ev.Fact.Change)
		if err != nil {
			t.Fatal(err)
		}
		back, err := billing.DecodeChange(ev.Fact.Change.EventType(), billing.SchemaVersion, data)
		if err != nil || !reflect.DeepEqual(back, ev.Fact.Change) {
			t.Errorf("%s: the fact does not survive its codec: %+v %v", tt.typ, back, err)
		}
	}
	// A payment-mode session is not ours, expired or paid.
	for _, typ := range []string{"checkout.session.expired", "checkout.session.async_payment_succeeded", "checkout.session.async_payment_failed"} {
		cs := f.CheckoutSession("cs_pay", spec)
		cs["mode"], cs["subscription"] = "payment", nil
		if ev, err := parse(f.Event("evt_pay", typ, time.Now(), cs)); err != nil || ev.Fact != nil {
			t.Errorf("%s of a payment-mode session: %+v %v", typ, ev.Fact, err)
		}
	}
}

// TestLifecycleEventsWithBadFieldsAreRefused: a payload of a lifecycle
// type with a required field missing or of the wrong type is refused as
// malformed (400, nothing recorded), like the first five types.
func TestLifecycleEventsWithBadFieldsAreRefused(t *testing.T) {
	f, parse := lifecycleParser(t)
	spec := stripe.SubscriptionSpec{OrgID: "org_1", CustomerID: "cus_1", SubscriptionID: "sub_1", Tier: billing.TierPro, CurrentPeriodEnd: time.Unix(1800000000, 0)}
	with := func(o map[string]any, key string, v any) map[string]any {
		o[key] = v
		return o
	}
	for name, tc := range map[string]struct {
		typ string
		obj map[string]any
	}{
		"trial_will_end without customer":    {"customer.subscription.trial_will_end", with(f.Subscription(spec), "customer", nil)},
		"trial_will_end with a string end":   {"customer.subscription.trial_will_end", with(f.Subscription(spec), "trial_end", "soon")},
		"trial_will_end past the year 9999":  {"customer.subscription.trial_will_end", with(f.Subscription(spec), "trial_end", int64(1e12))},
		"paused without status":              {"customer.subscription.paused", with(f.Subscription(spec), "status", nil)},
		"paused without id":                  {"customer.subscription.paused", with(f.Subscription(spec), "id", nil)},
		"resumed with a numeric customer":    {"customer.subscription.resumed", with(f.Subscription(spec), "customer", 7)},
		"action required without customer":   {"invoice.payment_action_required", with(f.Invoice(spec, stripe.InvoiceSpec{InvoiceID: "in_1"}), "customer", nil)},
		"action required with a number url":  {"invoice.payment_action_required", with(f.Invoice(spec, stripe.InvoiceSpec{InvoiceID: "in_1"}), "hosted_invoice_url", 5)},
		"expired without id":                 {"checkout.session.expired", with(f.ExpiredCheckoutSession("cs_1", spec), "id", nil)},
		"expired with an object reference":   {"checkout.session.expired", with(f.ExpiredCheckoutSession("cs_1", spec), "client_reference_id", map[string]any{"x": 1})},
		"async paid without subscription":    {"checkout.session.async_payment_succeeded", with(f.CheckoutSessionPaying("cs_1", spec, "paid"), "subscription", nil)},
		"async paid without customer":        {"checkout.session.async_payment_succeeded", with(f.CheckoutSessionPaying("cs_1", spec, "paid"), "customer", nil)},
		"async failed with numeric metadata": {"checkout.session.async_payment_failed", with(f.CheckoutSessionPaying("cs_1", spec, "unpaid"), "metadata", 3)},
	} {
		_, err := parse(f.Event("evt_bad", tc.typ, time.Now(), tc.obj))
		if !errors.Is(err, ports.ErrMalformedEvent) {
			t.Errorf("%s: %v, want malformed", name, err)
		}
	}
	// Every handled type is one of the lifecycle's or the first five.
	if got := len(stripe.HandledEvents); got != 13 {
		t.Errorf("%d handled types", got)
	}
	var raw map[string]any
	_ = json.Unmarshal(f.Event("evt_x", "checkout.session.expired", time.Now(), f.ExpiredCheckoutSession("cs_1", spec)), &raw)
	if raw["api_version"] != "2023-10-16" {
		t.Errorf("api_version %v", raw["api_version"])
	}
}
