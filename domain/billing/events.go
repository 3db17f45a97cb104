package billing

import "time"

// Event type names. They are stored in the ledger and served by the history
// API, so they are a public format: never rename one.
const (
	TypeOrgCreated               = "OrgCreated"
	TypeMemberAdded              = "MemberAdded"
	TypeMemberPermissionsChanged = "MemberPermissionsChanged"
	TypeMemberRemoved            = "MemberRemoved"
	TypeCheckoutStarted          = "CheckoutStarted"
	TypePortalOpened             = "PortalOpened"
	TypePlanActivated            = "PlanActivated"
	TypeSubscriptionRefreshed    = "SubscriptionRefreshed"
	TypeSubscriptionCanceled     = "SubscriptionCanceled"
	TypePaymentSucceeded         = "PaymentSucceeded"
	TypePaymentFailed            = "PaymentFailed"
	TypeSubscriptionSynced       = "SubscriptionSynced"
)

// Change is the payload of one ledger event.
type Change interface {
	// EventType returns the stable type name stored in the ledger.
	EventType() string
}

// Event is a change and the instant it happened: Stripe's created time for
// Stripe facts, the service's clock for user actions and API reads.
type Event struct {
	Change     Change
	OccurredAt time.Time
}

// Type returns the event's stable type name.
func (e Event) Type() string { return e.Change.EventType() }

// OrgCreated opens an organization's stream.
type OrgCreated struct {
	Name        string `json:"name"`
	OwnerUserID string `json:"ownerUserId"`
}

// MemberAdded records that a user joined the organization.
type MemberAdded struct {
	UserID      string   `json:"userId"`
	Email       string   `json:"email"`
	Role        string   `json:"role"`
	Permissions []string `json:"permissions"`
}

// MemberPermissionsChanged records a member's new permission set.
type MemberPermissionsChanged struct {
	UserID      string   `json:"userId"`
	Permissions []string `json:"permissions"`
}

// MemberRemoved records that a user left the organization.
type MemberRemoved struct {
	UserID string `json:"userId"`
}

// CheckoutStarted records that a member opened a Stripe Checkout session.
// RequestedBy and IdempotencyKey let a repeated request (a double click)
// send Stripe the same key; Supersedes lists the organization's earlier
// open sessions, which the service expires.
type CheckoutStarted struct {
	Tier              Tier     `json:"tier"`
	CheckoutSessionID string   `json:"checkoutSessionId"`
	RequestedBy       string   `json:"requestedBy,omitempty"`
	IdempotencyKey    string   `json:"idempotencyKey,omitempty"`
	Supersedes        []string `json:"supersedes,omitempty"`
}

// PortalOpened records that a member opened the Stripe Customer Portal.
type PortalOpened struct {
	PortalSessionID string `json:"portalSessionId"`
}

// PlanActivated is Stripe's checkout.session.completed: the organization is
// linked to a customer and subscription and the bought tier applies.
//
// PaymentStatus is the session's payment_status: "" (events recorded
// before it was kept) and "paid" confirm active; "no_payment_required" (a
// trial) and "unpaid" (an asynchronous payment method) leave the status to
// the subscription's facts.
type PlanActivated struct {
	CheckoutSessionID string `json:"checkoutSessionId"`
	CustomerID        string `json:"customerId"`
	SubscriptionID    string `json:"subscriptionId"`
	Tier              Tier   `json:"tier"`
	PaymentStatus     string `json:"paymentStatus,omitempty"`
}

// SubscriptionRefreshed is Stripe's customer.subscription.updated. Tier is
// empty when the subscription's price is not one of ours.
type SubscriptionRefreshed SubscriptionObject

// SubscriptionCanceled is Stripe's customer.subscription.deleted.
type SubscriptionCanceled struct {
	CustomerID       string    `json:"customerId"`
	SubscriptionID   string    `json:"subscriptionId"`
	CurrentPeriodEnd time.Time `json:"currentPeriodEnd"`
}

// Invoice is what the ledger keeps of a Stripe invoice. Amounts are in the
// currency's minor unit.
type Invoice struct {
	InvoiceID        string `json:"invoiceId"`
	Number           string `json:"number,omitempty"`
	CustomerID       string `json:"customerId"`
	SubscriptionID   string `json:"subscriptionId,omitempty"`
	AmountPaid       int64  `json:"amountPaid"`
	AmountDue        int64  `json:"amountDue"`
	Currency         string `json:"currency"`
	AttemptCount     int64  `json:"attemptCount"`
	HostedInvoiceURL string `json:"hostedInvoiceUrl,omitempty"`
	InvoicePDF       string `json:"invoicePdf,omitempty"`
}

// PaymentSucceeded is Stripe's invoice.paid.
type PaymentSucceeded struct {
	Invoice
}

// PaymentFailed is Stripe's invoice.payment_failed.
type PaymentFailed struct {
	Invoice
}

// SubscriptionSynced records the subscription as read from the Stripe API,
// when webhooks alone could not decide the state or a reconciliation found
// drift. Reason says which.
type SubscriptionSynced struct {
	SubscriptionObject
	Reason string `json:"reason"`
	// Current: reconcile made this subscription the organization's
	// current one (the current one had ended and this one alone is live).
	Current bool `json:"current,omitempty"`
}

// Reasons for a [SubscriptionSynced].
const (
	SyncReasonAmbiguousOrder = "ambiguous_order"
	SyncReasonReconcile      = "reconcile"
	// SyncReasonExtraSubscription records a live subscription of the
	// organization's customer other than its current one, as reconcile
	// found it; it changes nothing the organization sees.
	SyncReasonExtraSubscription = "extra_subscription"
)

func (OrgCreated) EventType() string               { return TypeOrgCreated }
func (MemberAdded) EventType() string              { return TypeMemberAdded }
func (MemberPermissionsChanged) EventType() string { return TypeMemberPermissionsChanged }
func (MemberRemoved) EventType() string            { return TypeMemberRemoved }
func (CheckoutStarted) EventType() string          { return TypeCheckoutStarted }
func (PortalOpened) EventType() string             { return TypePortalOpened }
func (PlanActivated) EventType() string            { return TypePlanActivated }
func (SubscriptionRefreshed) EventType() string    { return TypeSubscriptionRefreshed }
func (SubscriptionCanceled) EventType() string     { return TypeSubscriptionCanceled }
func (PaymentSucceeded) EventType() string         { return TypePaymentSucceeded }
func (PaymentFailed) EventType() string            { return TypePaymentFailed }
func (SubscriptionSynced) EventType() string       { return TypeSubscriptionSynced }
