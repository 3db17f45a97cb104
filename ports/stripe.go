package ports

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Inbox outcomes: what became of a verified Stripe event.
const (
	OutcomeReceived  = "received"  // recorded, not yet processed (or processing crashed)
	OutcomeApplied   = "applied"   // recorded in the org's ledger
	OutcomeDuplicate = "duplicate" // already recorded by an earlier delivery
	OutcomeIgnored   = "ignored"   // a type or object we do not handle
	OutcomeParked    = "parked"    // not tied to an org yet; applied once it can be
	OutcomeRefused   = "refused"   // contradicts the ledger (another org's customer) or invalid
)

// InboxEntry is one verified Stripe event as kept for audit and replay.
type InboxEntry struct {
	ID         string
	Type       string
	APIVersion string
	Created    time.Time
	Payload    json.RawMessage
	ReceivedAt time.Time
	Deliveries int
	Outcome    string
	OrgID      string
	Detail     string

	// The billing fact the event carries, mapped at receipt; FactType is
	// "" for events we do not handle.
	FactType       string
	Fact           json.RawMessage
	OrgHint        string // orgId named by the event (metadata, client_reference_id)
	CustomerID     string
	SubscriptionID string
}

// Inbox keeps every verified Stripe event. Implementations are safe for
// concurrent use.
type Inbox interface {
	// Receive records e the first time its id is seen and returns it with
	// isNew true; on a later delivery it counts the delivery and returns
	// the entry as stored.
	Receive(ctx context.Context, e InboxEntry) (stored InboxEntry, isNew bool, err error)
	// Settle records what became of an event.
	Settle(ctx context.Context, id, outcome, orgID, detail string) error
	// Parked returns the parked events naming any of the Stripe ids.
	Parked(ctx context.Context, stripeIDs []string) ([]InboxEntry, error)
}

// StripeLinks tells which org a Stripe customer or subscription belongs to.
type StripeLinks interface {
	// OrgsOf returns the orgs linked to the Stripe ids that have one, by id.
	OrgsOf(ctx context.Context, stripeIDs ...string) (map[string]string, error)
}

// OrgDirectory tells whether an organization exists.
type OrgDirectory interface {
	OrgExists(ctx context.Context, orgID string) (bool, error)
}

// ErrProviderUnavailable means the payment provider could not be reached
// or answered with a server error or timeout.
var ErrProviderUnavailable = errors.New("payment provider unavailable")

// Subscription is a subscription as the payment provider reports it now.
type Subscription struct {
	ID                string
	CustomerID        string
	Status            string
	PriceID           string
	Tier              string // "" when the price is not one of ours
	CurrentPeriodEnd  time.Time
	CancelAtPeriodEnd bool
	ItemID            string    // its (first) item, the one a plan change moves
	TrialEnd          time.Time // zero without a trial
}

// SubscriptionSource reads subscriptions from the payment provider.
type SubscriptionSource interface {
	Subscription(ctx context.Context, id string) (Subscription, error)
	// CustomerSubscriptions returns every subscription of the customer,
	// ended ones included.
	CustomerSubscriptions(ctx context.Context, customerID string) ([]Subscription, error)
}

// CheckoutSessionRequest asks the payment provider for a subscription
// Checkout session.
type CheckoutSessionRequest struct {
	OrgID          string
	Tier           string
	CustomerID     string // "" to let Checkout create the customer
	SuccessURL     string
	CancelURL      string
	IdempotencyKey string
	// TrialDays, when > 0, starts the subscription with a trial of that
	// many days.
	TrialDays int
}

// HostedSession is a Checkout or Customer Portal session to send the user to.
type HostedSession struct {
	ID  string
	URL string
}

// PaymentProvider opens Stripe's hosted pages.
type PaymentProvider interface {
	CreateCheckoutSession(ctx context.Context, req CheckoutSessionRequest) (HostedSession, error)
	CreatePortalSession(ctx context.Context, customerID, returnURL string) (HostedSession, error)
	// ExpireCheckoutSession expires an open Checkout session, so that it
	// can no longer be paid. A session that is no longer open is not an
	// error worth retrying: the caller logs it.
	ExpireCheckoutSession(ctx context.Context, id string) error
	// PreviewPriceChange returns the invoice the subscription would get if
	// its item moved to the tier's price at the proration date.
	PreviewPriceChange(ctx context.Context, c PriceChange) (InvoicePreview, error)
	// ChangePrice moves the subscription's item to the tier's price, with
	// prorations at the proration date (now when zero).
	ChangePrice(ctx context.Context, c PriceChange) (Subscription, error)
	// SetCancelAtPeriodEnd asks for the subscription to end at the
	// period's end, or withdraws that.
	SetCancelAtPeriodEnd(ctx context.Context, subscriptionID string, cancel bool, idempotencyKey string) (Subscription, error)
}

// PriceChange moves a subscription to another tier's price.
type PriceChange struct {
	SubscriptionID string
	// ItemID is the subscription's item as the ledger knows it; "" when it
	// does not, and the provider reads it.
	ItemID         string
	Tier           string
	ProrationDate  time.Time
	IdempotencyKey string
}

// InvoicePreview is an upcoming invoice: what the customer would owe.
// Amounts are in the currency's minor units.
type InvoicePreview struct {
	AmountDue int64
	Currency  string
	Lines     []InvoiceLine
}

// InvoiceLine is one line of an invoice.
type InvoiceLine struct {
	Description string
	Amount      int64
}

// ErrProrationDateRefused means the payment provider refused the
// proration date (too far in the past, before the period).
var ErrProrationDateRefused = errors.New("proration date refused")

// ReconcileRun is the summary of one reconciliation.
type ReconcileRun struct {
	ID                       string
	StartedAt, FinishedAt    time.Time
	Orgs, Drifted, Corrected int
	Failed                   int
}

// Reconciliation lists linked orgs and keeps run summaries.
type Reconciliation interface {
	// LinkedOrgs returns the orgs with a Stripe subscription (only orgID's
	// when it is not ""), with the subscription id.
	LinkedOrgs(ctx context.Context, orgID string) (map[string]string, error)
	RecordRun(ctx context.Context, run ReconcileRun) error
	// LastRun returns the latest run, or ErrNotFound.
	LastRun(ctx context.Context) (ReconcileRun, error)
}
