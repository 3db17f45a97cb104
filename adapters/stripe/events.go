package stripe

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"time"

	stripego "github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/safeclose/billing/domain/billing"
)

// objectsJSON holds Stripe's own example objects for API version
// 2023-10-16 (see fixtures/README.md).
//
//go:embed fixtures/stripe-objects-2023-10-16.json
var objectsJSON []byte

// SubscriptionSpec describes a subscription for [Factory] to render.
type SubscriptionSpec struct {
	OrgID             string // carried as metadata orgId ("" for none)
	CustomerID        string
	SubscriptionID    string
	Tier              billing.Tier
	Status            string // Stripe status; "" for active
	CurrentPeriodEnd  time.Time
	CancelAtPeriodEnd bool
	TrialEnd          time.Time // zero for no trial
}

// InvoiceSpec describes an invoice for [Factory] to render.
type InvoiceSpec struct {
	InvoiceID    string
	Number       string
	Amount       int64 // minor units
	Currency     string
	AttemptCount int64
	Paid         bool
}

// Factory renders realistic webhook events of API version 2023-10-16 from
// Stripe's example objects, for `dev simulate` and tests. It is safe for
// concurrent use.
type Factory struct {
	objects map[string]json.RawMessage
	prices  Prices
}

// NewFactory returns a factory pricing tiers with prices.
func NewFactory(prices Prices) (*Factory, error) {
	var objects map[string]json.RawMessage
	if err := json.Unmarshal(objectsJSON, &objects); err != nil {
		return nil, fmt.Errorf("stripe fixtures: %w", err)
	}
	return &Factory{objects: objects, prices: prices}, nil
}

func (f *Factory) object(name string) map[string]any {
	var m map[string]any
	_ = json.Unmarshal(f.objects[name], &m) // the embedded file is valid JSON
	return m
}

func metadata(s SubscriptionSpec) map[string]any {
	if s.OrgID == "" {
		return map[string]any{}
	}
	return map[string]any{"orgId": s.OrgID, "planTier": string(s.Tier)}
}

// Subscription returns the subscription object as the API shows it.
func (f *Factory) Subscription(s SubscriptionSpec) map[string]any {
	o := f.object("subscription")
	status := s.Status
	if status == "" {
		status = "active"
	}
	end := s.CurrentPeriodEnd.Unix()
	o["id"], o["customer"], o["status"], o["metadata"] = s.SubscriptionID, s.CustomerID, status, metadata(s)
	o["current_period_end"], o["current_period_start"] = end, s.CurrentPeriodEnd.AddDate(0, -1, 0).Unix()
	o["cancel_at_period_end"] = s.CancelAtPeriodEnd
	o["cancel_at"], o["canceled_at"], o["ended_at"] = nil, nil, nil
	if s.CancelAtPeriodEnd {
		o["cancel_at"] = end
	}
	if status == "canceled" {
		o["canceled_at"], o["ended_at"] = end, end
	}
	o["trial_start"], o["trial_end"] = nil, nil
	if !s.TrialEnd.IsZero() {
		o["trial_start"], o["trial_end"] = s.TrialEnd.AddDate(0, 0, -14).Unix(), s.TrialEnd.Unix()
	}
	if items, ok := o["items"].(map[string]any); ok {
		if data, ok := items["data"].([]any); ok && len(data) > 0 {
			item := data[0].(map[string]any)
			item["subscription"] = s.SubscriptionID
			if price, ok := item["price"].(map[string]any); ok {
				price["id"] = f.prices[s.Tier]
			}
			items["data"] = data[:1]
		}
		items["url"] = "/v1/subscription_items?subscription=" + s.SubscriptionID
	}
	return o
}

// CheckoutSession returns a completed subscription-mode checkout session,
// paid.
func (f *Factory) CheckoutSession(sessionID string, s SubscriptionSpec) map[string]any {
	return f.CheckoutSessionPaying(sessionID, s, "paid")
}

// CheckoutSessionPaying returns a completed subscription-mode checkout
// session whose payment_status is paymentStatus: "paid", "unpaid" (an
// asynchronous payment method, e.g. a bank debit, still settling) or
// "no_payment_required" (a trial).
func (f *Factory) CheckoutSessionPaying(sessionID string, s SubscriptionSpec, paymentStatus string) map[string]any {
	o := f.object("checkout.session")
	o["id"], o["mode"], o["status"], o["payment_status"] = sessionID, "subscription", "complete", paymentStatus
	o["customer"], o["subscription"], o["client_reference_id"] = s.CustomerID, s.SubscriptionID, nilIfEmpty(s.OrgID)
	o["metadata"], o["payment_intent"] = metadata(s), nil
	o["url"] = nil
	return o
}

// ExpiredCheckoutSession returns a subscription-mode checkout session that
// expired unpaid: no subscription, and the customer only when the session
// was opened for an existing one (s.CustomerID, "" for none).
func (f *Factory) ExpiredCheckoutSession(sessionID string, s SubscriptionSpec) map[string]any {
	o := f.object("checkout.session")
	o["id"], o["mode"], o["status"], o["payment_status"] = sessionID, "subscription", "expired", "unpaid"
	o["customer"], o["subscription"], o["client_reference_id"] = nilIfEmpty(s.CustomerID), nil, nilIfEmpty(s.OrgID)
	o["metadata"], o["payment_intent"], o["url"] = metadata(s), nil, nil
	return o
}

// Invoice returns an invoice of the subscription.
func (f *Factory) Invoice(s SubscriptionSpec, in InvoiceSpec) map[string]any {
	o := f.object("invoice")
	cur := in.Currency
	if cur == "" {
		cur = "usd"
	}
	o["id"], o["number"], o["customer"], o["subscription"], o["currency"] = in.InvoiceID, in.Number, s.CustomerID, s.SubscriptionID, cur
	o["amount_due"], o["attempt_count"], o["attempted"] = in.Amount, in.AttemptCount, true
	o["billing_reason"], o["status"] = "subscription_cycle", "open"
	o["amount_paid"], o["amount_remaining"], o["paid"] = int64(0), in.Amount, false
	if in.Paid {
		o["amount_paid"], o["amount_remaining"], o["paid"], o["status"] = in.Amount, int64(0), true, "paid"
	}
	o["hosted_invoice_url"] = "https://invoice.stripe.com/i/acct_test/" + in.InvoiceID
	o["invoice_pdf"] = "https://pay.stripe.com/invoice/acct_test/" + in.InvoiceID + "/pdf"
	o["subscription_details"] = map[string]any{"metadata": metadata(s)}
	return o
}

// Event wraps an object in an event envelope of our API version.
func (f *Factory) Event(eventID, eventType string, created time.Time, object map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{
		"id": eventID, "object": "event", "api_version": stripego.APIVersion, "created": created.Unix(),
		"data": map[string]any{"object": object}, "livemode": false, "pending_webhooks": 1,
		"request": map[string]any{"id": nil, "idempotency_key": nil}, "type": eventType,
	})
	return b
}

// Sign returns the Stripe-Signature header of payload signed at t.
func Sign(payload []byte, secret string, t time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: t}).Header
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
