package stripe

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	gojson "github.com/goccy/go-json"
	stripego "github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/safeclose/billing/application"
	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// MaxFutureSkew is how far ahead of our clock a signature's timestamp may
// be. stripe-go only refuses timestamps too far in the past.
const MaxFutureSkew = 5 * time.Minute

// The event types that carry billing facts.
const (
	EventCheckoutCompleted   = "checkout.session.completed"
	EventSubscriptionUpdated = "customer.subscription.updated"
	// EventSubscriptionCreated is read like an update: the subscription
	// as it is.
	EventSubscriptionCreated = "customer.subscription.created"
	EventSubscriptionDeleted = "customer.subscription.deleted"
	EventInvoicePaid         = "invoice.paid"
	EventInvoiceFailed       = "invoice.payment_failed"

	// The rest of the subscription lifecycle: subscription objects like
	// an update, an invoice, and checkout sessions.
	EventTrialWillEnd          = "customer.subscription.trial_will_end"
	EventSubscriptionPaused    = "customer.subscription.paused"
	EventSubscriptionResumed   = "customer.subscription.resumed"
	EventPaymentActionRequired = "invoice.payment_action_required"
	EventCheckoutExpired       = "checkout.session.expired"
	EventAsyncPaymentSucceeded = "checkout.session.async_payment_succeeded"
	EventAsyncPaymentFailed    = "checkout.session.async_payment_failed"
)

// HandledEvents are the event types that carry billing facts; any other
// is kept in the inbox and ignored.
var HandledEvents = []string{EventCheckoutCompleted, EventCheckoutExpired, EventAsyncPaymentSucceeded, EventAsyncPaymentFailed,
	EventSubscriptionCreated, EventSubscriptionUpdated, EventSubscriptionDeleted, EventTrialWillEnd, EventSubscriptionPaused, EventSubscriptionResumed,
	EventInvoicePaid, EventInvoiceFailed, EventPaymentActionRequired}

// Webhooks verifies and maps Stripe webhook deliveries. It is safe for
// concurrent use.
type Webhooks struct {
	secret string
	client *Client
	now    func() time.Time
	// OnRefetch, when set, is called when an event of another API version
	// had its object fetched again in ours.
	OnRefetch func(apiVersion, eventType string)
	// Seen, when set, tells whether an event id was received before: a
	// repeated delivery of an event of another API version is then not
	// fetched again (its fact is in the inbox), and its [Webhooks.Parse]
	// result carries no fact.
	Seen func(ctx context.Context, eventID string) (bool, error)
}

// NewWebhooks returns the webhook parser for the signing secret; client
// re-fetches objects of events sent in another API version.
func NewWebhooks(secret string, client *Client, now func() time.Time) *Webhooks {
	return &Webhooks{secret: secret, client: client, now: now}
}

type envelope struct {
	ID         string `json:"id"`
	Object     string `json:"object"`
	Type       string `json:"type"`
	APIVersion string `json:"api_version"`
	Created    int64  `json:"created"`
	Data       struct {
		Object json.RawMessage `json:"object"`
	} `json:"data"`
}

// Parse verifies the Stripe-Signature header over the exact payload before
// reading anything from it, then maps the event to a billing fact. A
// delivery that does not verify is refused with an error wrapping
// [ports.ErrBadSignature], one that cannot be read with
// [ports.ErrMalformedEvent]: nothing in it can be trusted or used.
//
// stripe-go v76 reads objects in API version 2023-10-16. An event sent in
// another version (the endpoint's or account's version moved on) is not
// decoded from its payload, whose shape may differ: once the signature
// holds, its object is fetched again from the API, which answers in our
// pinned version, and OnRefetch counts it. If the API cannot be reached the
// error wraps ports.ErrProviderUnavailable and the webhook answers 503, so
// Stripe delivers again later.
func (w *Webhooks) Parse(ctx context.Context, payload []byte, header string) (application.StripeEvent, error) {
	if err := webhook.ValidatePayloadWithTolerance(payload, header, w.secret, webhook.DefaultTolerance); err != nil {
		return application.StripeEvent{}, fmt.Errorf("%w: %v", ports.ErrBadSignature, err)
	}
	if ts, ok := signedAt(header); !ok || ts.After(w.now().Add(MaxFutureSkew)) {
		return application.StripeEvent{}, fmt.Errorf("%w: timestamp too far in the future", ports.ErrBadSignature)
	}
	// JSON is UTF-8 (RFC 8259); goccy/go-json skips what it does not read
	// without checking it. (validJSON is utf8.Valid && json.Valid.)
	if !validJSON(payload) {
		return application.StripeEvent{}, fmt.Errorf("%w: not UTF-8 JSON", ports.ErrMalformedEvent)
	}
	env, err := readEnvelope(payload)
	if err != nil {
		return application.StripeEvent{}, fmt.Errorf("%w: %v", ports.ErrMalformedEvent, err)
	}
	if env.ID == "" || env.Type == "" || env.Created <= 0 || env.Object != "event" || len(env.Data.Object) == 0 {
		return application.StripeEvent{}, fmt.Errorf("%w: not an event (id, type, created and data.object are required)", ports.ErrMalformedEvent)
	}
	if !writable(env.Created) {
		return application.StripeEvent{}, fmt.Errorf("%w: created is past the year 9999", ports.ErrMalformedEvent)
	}
	ev := application.StripeEvent{ID: env.ID, Type: env.Type, APIVersion: env.APIVersion,
		Created: time.Unix(env.Created, 0).UTC(), Payload: payload}
	if !handled(env.Type) {
		return ev, nil
	}
	obj := env.Data.Object
	// Stripe always names the version; an event without one (hand-made)
	// is read as ours.
	if env.APIVersion != "" && env.APIVersion != stripego.APIVersion {
		if w.Seen != nil {
			// A lookup that fails is no reason to refuse the delivery:
			// fetch as if it were new.
			if seen, err := w.Seen(ctx, env.ID); err == nil && seen {
				return ev, nil
			}
		}
		var err error
		if obj, err = w.refetch(ctx, env.Type, obj); err != nil {
			return application.StripeEvent{}, err
		}
		if w.OnRefetch != nil {
			w.OnRefetch(env.APIVersion, env.Type)
		}
	}
	fact, err := w.fact(env.Type, obj)
	if err != nil {
		return application.StripeEvent{}, err
	}
	ev.Fact = fact
	return ev, nil
}

func handled(eventType string) bool { return objectOf(eventType) != "" }

// objectOf names the kind of object an event of a handled type carries,
// "" for a type not handled.
func objectOf(eventType string) string {
	switch eventType {
	case EventCheckoutCompleted, EventCheckoutExpired, EventAsyncPaymentSucceeded, EventAsyncPaymentFailed:
		return "checkout.session"
	case EventSubscriptionCreated, EventSubscriptionUpdated, EventSubscriptionDeleted, EventTrialWillEnd, EventSubscriptionPaused, EventSubscriptionResumed:
		return "subscription"
	case EventInvoicePaid, EventInvoiceFailed, EventPaymentActionRequired:
		return "invoice"
	}
	return ""
}

// writable reports whether a Unix time falls in the years 0 to 9999,
// the times the ledger's JSON (RFC 3339) can hold: a fact carrying
// another could never be recorded, and would be delivered again for ever.
func writable(unix int64) bool {
	y := time.Unix(unix, 0).UTC().Year()
	return y >= 0 && y <= 9999
}

// signedAt reads the t= timestamp of a Stripe-Signature header.
func signedAt(header string) (time.Time, bool) {
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && k == "t" {
			sec, err := strconv.ParseInt(v, 10, 64)
			return time.Unix(sec, 0), err == nil
		}
	}
	return time.Time{}, false
}

// refetch reads the event's object again from the API in our version.
func (w *Webhooks) refetch(ctx context.Context, eventType string, obj json.RawMessage) (json.RawMessage, error) {
	var ref struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(obj, &ref); err != nil || ref.ID == "" {
		return nil, fmt.Errorf("%w: data.object has no id", ports.ErrMalformedEvent)
	}
	var (
		v   any
		err error
	)
	switch objectOf(eventType) {
	case "checkout.session":
		p := &stripego.CheckoutSessionParams{}
		p.Context = ctx
		v, err = w.client.api.CheckoutSessions.Get(ref.ID, p)
	case "subscription":
		p := &stripego.SubscriptionParams{}
		p.Context = ctx
		v, err = w.client.api.Subscriptions.Get(ref.ID, p)
	default:
		p := &stripego.InvoiceParams{}
		p.Context = ctx
		v, err = w.client.api.Invoices.Get(ref.ID, p)
	}
	if err != nil {
		return nil, mapError("refetch "+ref.ID, err)
	}
	return json.Marshal(v)
}

// fact maps an object of API version 2023-10-16 to its billing fact; nil
// for an object that is not about a subscription of ours.
func (w *Webhooks) fact(eventType string, obj json.RawMessage) (*application.StripeFact, error) {
	switch objectOf(eventType) {
	case "checkout.session":
		return checkoutFact(eventType, obj)
	case "subscription":
		return w.subscriptionFact(eventType, obj)
	default:
		inv, hint, err := invoiceOf(obj)
		if err != nil {
			return nil, err
		}
		f := &application.StripeFact{OrgHint: hint, CustomerID: inv.CustomerID, SubscriptionID: inv.SubscriptionID}
		switch eventType {
		case EventInvoicePaid:
			f.Change = billing.PaymentSucceeded{Invoice: inv}
		case EventPaymentActionRequired:
			f.Change = billing.PaymentActionRequired{Invoice: inv}
		default:
			f.Change = billing.PaymentFailed{Invoice: inv}
		}
		return f, nil
	}
}

// checkoutFact maps a checkout session: completed (with its
// payment_status), expired, or its asynchronous payment settled. The org
// is the one client_reference_id (else metadata orgId) names.
func checkoutFact(eventType string, obj json.RawMessage) (*application.StripeFact, error) {
	var cs stripego.CheckoutSession
	if err := json.Unmarshal(obj, &cs); err != nil {
		return nil, fmt.Errorf("%w: checkout session: %v", ports.ErrMalformedEvent, err)
	}
	hint := cs.ClientReferenceID
	if hint == "" {
		hint = cs.Metadata["orgId"]
	}
	customer := ""
	if cs.Customer != nil {
		customer = cs.Customer.ID
	}
	if eventType == EventCheckoutExpired {
		// An expired session made nothing; only subscription sessions are
		// ours.
		if cs.Mode != stripego.CheckoutSessionModeSubscription {
			return nil, nil
		}
		if cs.ID == "" {
			return nil, fmt.Errorf("%w: checkout session without id", ports.ErrMalformedEvent)
		}
		return &application.StripeFact{Change: billing.CheckoutExpired{CheckoutSessionID: cs.ID, CustomerID: customer},
			OrgHint: hint, CustomerID: customer}, nil
	}
	// A session that made a subscription is ours whatever else it says;
	// one that did not (a one-off payment) is not.
	if cs.Subscription == nil || cs.Subscription.ID == "" {
		if cs.Mode == stripego.CheckoutSessionModeSubscription {
			return nil, fmt.Errorf("%w: subscription checkout without a subscription", ports.ErrMalformedEvent)
		}
		return nil, nil
	}
	if cs.ID == "" || customer == "" {
		return nil, fmt.Errorf("%w: checkout session without id or customer", ports.ErrMalformedEvent)
	}
	f := &application.StripeFact{OrgHint: hint, CustomerID: customer, SubscriptionID: cs.Subscription.ID}
	tier := billing.Tier(cs.Metadata["planTier"])
	payment := billing.CheckoutPayment{CheckoutSessionID: cs.ID, CustomerID: customer, SubscriptionID: cs.Subscription.ID, Tier: tier}
	switch eventType {
	case EventAsyncPaymentSucceeded:
		f.Change = billing.AsyncPaymentSucceeded{CheckoutPayment: payment}
	case EventAsyncPaymentFailed:
		f.Change = billing.AsyncPaymentFailed{CheckoutPayment: payment}
	default:
		f.Change = billing.PlanActivated{CheckoutSessionID: cs.ID, CustomerID: customer, SubscriptionID: cs.Subscription.ID,
			Tier: tier, PaymentStatus: string(cs.PaymentStatus)}
	}
	return f, nil
}

// subscriptionFact maps a subscription object: deleted, or the
// subscription as it is (created, updated, trial_will_end, paused,
// resumed).
func (w *Webhooks) subscriptionFact(eventType string, obj json.RawMessage) (*application.StripeFact, error) {
	var s stripego.Subscription
	if err := json.Unmarshal(obj, &s); err != nil {
		return nil, fmt.Errorf("%w: subscription: %v", ports.ErrMalformedEvent, err)
	}
	if s.ID == "" || s.Customer == nil || s.Customer.ID == "" || s.Status == "" {
		return nil, fmt.Errorf("%w: subscription without id, customer or status", ports.ErrMalformedEvent)
	}
	if !writable(s.CurrentPeriodEnd) || !writable(s.TrialEnd) {
		return nil, fmt.Errorf("%w: subscription's current_period_end or trial_end is outside the years 0 to 9999", ports.ErrMalformedEvent)
	}
	sub := w.client.subscription(&s)
	f := &application.StripeFact{OrgHint: s.Metadata["orgId"], CustomerID: sub.CustomerID, SubscriptionID: sub.ID}
	if eventType == EventSubscriptionDeleted {
		f.Change = billing.SubscriptionCanceled{CustomerID: sub.CustomerID, SubscriptionID: sub.ID, CurrentPeriodEnd: sub.CurrentPeriodEnd}
		return f, nil
	}
	o := billing.SubscriptionObject{CustomerID: sub.CustomerID, SubscriptionID: sub.ID,
		Status: billing.Status(sub.Status), Tier: billing.Tier(sub.Tier), PriceID: sub.PriceID,
		CurrentPeriodEnd: sub.CurrentPeriodEnd, CancelAtPeriodEnd: sub.CancelAtPeriodEnd, TrialEnd: sub.TrialEnd, ItemID: sub.ItemID}
	switch eventType {
	case EventTrialWillEnd:
		f.Change = billing.TrialWillEnd{SubscriptionObject: o}
	case EventSubscriptionPaused:
		f.Change = billing.SubscriptionPaused{SubscriptionObject: o}
	case EventSubscriptionResumed:
		f.Change = billing.SubscriptionResumed{SubscriptionObject: o}
	default:
		f.Change = billing.SubscriptionRefreshed(o)
	}
	return f, nil
}

// invoiceFields are the fields of an invoice (API version 2023-10-16) that
// its billing fact takes. Invoices are the most frequent events, so they
// are read into these alone, with goccy/go-json, rather than into
// stripe-go's Invoice, whose decoding parses each nested object twice;
// a test and the fuzz target hold the two readings equal.
type invoiceFields struct {
	ID                  string            `json:"id"`
	Number              string            `json:"number"`
	Customer            expandable        `json:"customer"`
	Subscription        expandable        `json:"subscription"`
	AmountPaid          int64             `json:"amount_paid"`
	AmountDue           int64             `json:"amount_due"`
	Currency            string            `json:"currency"`
	AttemptCount        int64             `json:"attempt_count"`
	HostedInvoiceURL    string            `json:"hosted_invoice_url"`
	InvoicePDF          string            `json:"invoice_pdf"`
	Metadata            map[string]string `json:"metadata"`
	SubscriptionDetails *struct {
		Metadata map[string]string `json:"metadata"`
	} `json:"subscription_details"`
}

// expandable is a field Stripe sends as an id, or as the object when
// expanded.
type expandable struct{ ID string }

func (e *expandable) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		// The id as stripe-go reads it: the string's bytes as sent,
		// escapes and all (the decoder hands over one whole JSON value,
		// here a string).
		e.ID, _ = stripego.ParseID(b)
		return nil
	}
	var o *struct {
		ID string `json:"id"`
	}
	if err := gojson.Unmarshal(b, &o); err != nil {
		return err
	}
	if o != nil {
		e.ID = o.ID
	}
	return nil
}

// invoiceOf reads an invoice object: the billing invoice, and the org its
// metadata (or its subscription's) names.
func invoiceOf(obj json.RawMessage) (billing.Invoice, string, error) {
	var in invoiceFields
	if err := gojson.Unmarshal(obj, &in); err != nil {
		return billing.Invoice{}, "", fmt.Errorf("%w: invoice: %v", ports.ErrMalformedEvent, err)
	}
	if in.ID == "" || in.Customer.ID == "" {
		return billing.Invoice{}, "", fmt.Errorf("%w: invoice without id or customer", ports.ErrMalformedEvent)
	}
	inv := billing.Invoice{InvoiceID: in.ID, Number: in.Number, CustomerID: in.Customer.ID, SubscriptionID: in.Subscription.ID,
		AmountPaid: in.AmountPaid, AmountDue: in.AmountDue, Currency: in.Currency, AttemptCount: in.AttemptCount,
		HostedInvoiceURL: in.HostedInvoiceURL, InvoicePDF: in.InvoicePDF}
	hint := in.Metadata["orgId"]
	if in.SubscriptionDetails != nil && in.SubscriptionDetails.Metadata["orgId"] != "" {
		hint = in.SubscriptionDetails.Metadata["orgId"]
	}
	return inv, hint, nil
}
