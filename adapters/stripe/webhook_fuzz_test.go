package stripe_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/safeclose/billing/adapters/stripe"
	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// FuzzWebhookMapping feeds correctly signed but arbitrary payloads to the
// webhook parser: it must never panic, and must either map the event or
// refuse it with one of the errors the handler answers 4xx/503 for.
func FuzzWebhookMapping(f *testing.F) {
	prices := stripe.Prices{billing.TierStarter: "price_s", billing.TierPro: "price_p", billing.TierEnterprise: "price_e"}
	factory, err := stripe.NewFactory(prices)
	if err != nil {
		f.Fatal(err)
	}
	spec := stripe.SubscriptionSpec{OrgID: "org_1", CustomerID: "cus_1", SubscriptionID: "sub_1", Tier: billing.TierPro, CurrentPeriodEnd: time.Unix(1800000000, 0)}
	now := time.Unix(1790000000, 0)
	trial, paused := spec, spec
	trial.Status, trial.TrialEnd = "trialing", time.Unix(1791000000, 0)
	paused.Status = "paused"
	for _, seed := range [][]byte{
		factory.Event("evt_1", "checkout.session.completed", now, factory.CheckoutSession("cs_1", spec)),
		factory.Event("evt_2", "customer.subscription.updated", now, factory.Subscription(spec)),
		factory.Event("evt_3", "customer.subscription.deleted", now, factory.Subscription(spec)),
		factory.Event("evt_4", "invoice.paid", now, factory.Invoice(spec, stripe.InvoiceSpec{InvoiceID: "in_1", Amount: 100, Paid: true})),
		factory.Event("evt_5", "invoice.payment_failed", now, factory.Invoice(spec, stripe.InvoiceSpec{InvoiceID: "in_2", Amount: 100})),
		factory.Event("evt_6", "customer.created", now, map[string]any{"id": "cus_1"}),
		factory.Event("evt_8", "customer.subscription.trial_will_end", now, factory.Subscription(trial)),
		factory.Event("evt_9", "customer.subscription.paused", now, factory.Subscription(paused)),
		factory.Event("evt_10", "customer.subscription.resumed", now, factory.Subscription(spec)),
		factory.Event("evt_11", "invoice.payment_action_required", now, factory.Invoice(spec, stripe.InvoiceSpec{InvoiceID: "in_3", Amount: 100})),
		factory.Event("evt_12", "checkout.session.expired", now, factory.ExpiredCheckoutSession("cs_2", spec)),
		factory.Event("evt_13", "checkout.session.async_payment_succeeded", now, factory.CheckoutSessionPaying("cs_3", spec, "paid")),
		factory.Event("evt_14", "checkout.session.async_payment_failed", now, factory.CheckoutSessionPaying("cs_4", spec, "unpaid")),
		factory.Event("evt_15", "checkout.session.completed", now, factory.CheckoutSessionPaying("cs_5", trial, "no_payment_required")),
		[]byte(`{"id":"evt_7","object":"event","type":"invoice.paid","created":1,"api_version":"2099-01-01","data":{"object":{"id":"in_1"}}}`),
		[]byte(`{}`), []byte(`[]`), []byte(`null`),
	} {
		f.Add(seed)
	}
	// API calls (re-fetch for other versions) go to a closed port.
	client := stripe.NewClient(stripe.Config{SecretKey: "sk_test_fuzz", APIBase: "http://127.0.0.1:1", Prices: prices, Timeout: 200 * time.Millisecond})
	hooks := stripe.NewWebhooks("whsec_fuzz", client, time.Now)
	f.Fuzz(func(t *testing.T, payload []byte) {
		ev, err := hooks.Parse(context.Background(), payload, stripe.Sign(payload, "whsec_fuzz", time.Now()))
		switch {
		case err == nil:
			if ev.ID == "" || ev.Type == "" || ev.Created.IsZero() {
				t.Fatalf("accepted an event without id, type or created: %+v", ev)
			}
			if ev.Fact != nil {
				if ev.Fact.Change == nil {
					t.Fatal("a fact without a change")
				}
				if _, err := billing.EncodeChange(ev.Fact.Change); err != nil {
					t.Fatal(err)
				}
			}
		case errors.Is(err, ports.ErrMalformedEvent), errors.Is(err, ports.ErrProviderUnavailable), errors.Is(err, ports.ErrNotFound):
		case errors.Is(err, ports.ErrBadSignature):
			// Only a stale or future timestamp could do this; we signed now.
			t.Fatalf("a freshly signed payload refused: %v", err)
		default:
			t.Fatalf("unexpected error class: %v", err)
		}
	})
}
