package billing

import (
	"fmt"
	"slices"
	"time"
)

// Event type names of the subscription lifecycle beyond the first five
// Stripe events.
const (
	TypeTrialWillEnd          = "TrialWillEnd"
	TypeSubscriptionPaused    = "SubscriptionPaused"
	TypeSubscriptionResumed   = "SubscriptionResumed"
	TypePaymentActionRequired = "PaymentActionRequired"
	TypeCheckoutExpired       = "CheckoutExpired"
	TypeAsyncPaymentSucceeded = "AsyncPaymentSucceeded"
	TypeAsyncPaymentFailed    = "AsyncPaymentFailed"
)

// A completed checkout's payment_status ([PlanActivated.PaymentStatus]).
const (
	PaymentStatusPaid              = "paid"
	PaymentStatusUnpaid            = "unpaid"
	PaymentStatusNoPaymentRequired = "no_payment_required"
)

// SubscriptionObject is a Stripe subscription as a lifecycle event carries
// it: the same fields as [SubscriptionRefreshed].
type SubscriptionObject struct {
	CustomerID        string    `json:"customerId"`
	SubscriptionID    string    `json:"subscriptionId"`
	Status            Status    `json:"status"`
	Tier              Tier      `json:"tier,omitempty"`
	PriceID           string    `json:"priceId,omitempty"`
	CurrentPeriodEnd  time.Time `json:"currentPeriodEnd"`
	CancelAtPeriodEnd bool      `json:"cancelAtPeriodEnd"`
	TrialEnd          time.Time `json:"trialEnd,omitzero"`
	ItemID            string    `json:"itemId,omitempty"` // its (first) item, which a plan change names
}

// TrialWillEnd is Stripe's customer.subscription.trial_will_end (three
// days before a trial ends), with the subscription as it is.
type TrialWillEnd struct{ SubscriptionObject }

// SubscriptionPaused is Stripe's customer.subscription.paused.
type SubscriptionPaused struct{ SubscriptionObject }

// SubscriptionResumed is Stripe's customer.subscription.resumed.
type SubscriptionResumed struct{ SubscriptionObject }

// PaymentActionRequired is Stripe's invoice.payment_action_required: the
// customer must confirm the payment (3-D Secure) on the invoice's hosted
// page, until a paid invoice of the subscription.
type PaymentActionRequired struct {
	Invoice
}

// CheckoutExpired is Stripe's checkout.session.expired: the session can no
// longer be paid.
type CheckoutExpired struct {
	CheckoutSessionID string `json:"checkoutSessionId"`
	CustomerID        string `json:"customerId,omitempty"`
}

// CheckoutPayment is a checkout whose asynchronous payment settled.
type CheckoutPayment struct {
	CheckoutSessionID string `json:"checkoutSessionId"`
	CustomerID        string `json:"customerId"`
	SubscriptionID    string `json:"subscriptionId"`
	Tier              Tier   `json:"tier,omitempty"`
}

// AsyncPaymentSucceeded is Stripe's checkout.session.async_payment_succeeded.
type AsyncPaymentSucceeded struct{ CheckoutPayment }

// AsyncPaymentFailed is Stripe's checkout.session.async_payment_failed.
type AsyncPaymentFailed struct{ CheckoutPayment }

func (TrialWillEnd) EventType() string          { return TypeTrialWillEnd }
func (SubscriptionPaused) EventType() string    { return TypeSubscriptionPaused }
func (SubscriptionResumed) EventType() string   { return TypeSubscriptionResumed }
func (PaymentActionRequired) EventType() string { return TypePaymentActionRequired }
func (CheckoutExpired) EventType() string       { return TypeCheckoutExpired }
func (AsyncPaymentSucceeded) EventType() string { return TypeAsyncPaymentSucceeded }
func (AsyncPaymentFailed) EventType() string    { return TypeAsyncPaymentFailed }

// objectPatch sets everything a subscription object tells.
func objectPatch(o SubscriptionObject) patch {
	p := subscriptionPatch(o.CustomerID, o.SubscriptionID, o.Status, o.Tier, o.CurrentPeriodEnd, o.CancelAtPeriodEnd)
	if !o.TrialEnd.IsZero() {
		p.trialEnd = some(o.TrialEnd.UTC())
	}
	return p.withItem(o.ItemID)
}

// activationPatch is what a completed checkout sets: the org's customer,
// its current subscription and the tier bought. A paid checkout confirms
// active (below any subscription fact of the same second); a trial or an
// asynchronous payment leaves the status to the subscription's facts, with
// trialing or incomplete shown until one arrives.
func activationPatch(e PlanActivated) patch {
	p := patch{customer: some(e.CustomerID), subscription: some(e.SubscriptionID), tier: some(e.Tier), selects: true}
	switch e.PaymentStatus {
	case PaymentStatusNoPaymentRequired:
		p.provisional = some(StatusTrialing)
	case PaymentStatusUnpaid:
		p.provisional = some(StatusIncomplete)
	default:
		p.status, p.confirms = some(StatusActive), true
	}
	return p
}

// checkoutPaymentPatch: a settled asynchronous payment confirms active
// (below any subscription fact of the same second); a failed one leaves
// the status to the subscription's facts.
func checkoutPaymentPatch(c CheckoutPayment, paid bool) patch {
	p := patch{customer: some(c.CustomerID), subscription: some(c.SubscriptionID)}
	if c.Tier != "" {
		p.tier = some(c.Tier)
	}
	if paid {
		p.status, p.confirms = some(StatusActive), true
	}
	return p
}

// dunning tracks the unpaid period of a subscription: Marks are the Stripe
// times of the failed payments (and of the facts that set past_due or
// unpaid) since the last paid invoice or good status (Settled). Kept as a
// set of times, it folds to the same value in any order.
type dunning struct {
	Settled time.Time   `json:"settled,omitzero"`
	Marks   []time.Time `json:"marks,omitempty"`
}

// mark records a failure (or a delinquent status) at t.
func (d *dunning) mark(t time.Time) {
	if !t.After(d.Settled) {
		return
	}
	i, found := slices.BinarySearchFunc(d.Marks, t, time.Time.Compare)
	if !found {
		// A new slice: accounts are cloned shallowly.
		d.Marks = slices.Insert(slices.Clip(d.Marks), i, t)
	}
}

// settle records a paid invoice (or a good status) at t: it ends the unpaid
// period of every mark at or before t.
func (d *dunning) settle(t time.Time) {
	if !t.After(d.Settled) {
		return
	}
	d.Settled = t
	i, _ := slices.BinarySearchFunc(d.Marks, t, time.Time.Compare)
	for i < len(d.Marks) && !d.Marks[i].After(t) {
		i++
	}
	d.Marks = slices.Clone(d.Marks[i:])
	if len(d.Marks) == 0 {
		d.Marks = nil
	}
}

// since is when the unpaid period began, or the zero time.
func (d dunning) since() time.Time {
	if len(d.Marks) == 0 {
		return time.Time{}
	}
	return d.Marks[0]
}

// applyLifecycle folds what a fact adds beyond the registers of
// [state.apply]: the trial's end, the payment action, the unpaid period.
func (s *subscription) applyLifecycle(p patch, at time.Time) {
	if p.trialEnd.ok {
		s.TrialEnd.offer(p.trialEnd.v, at, p.rank(), timeKey)
	}
	if p.provisional.ok {
		s.Provisional.offer(p.provisional.v, at, 0, stringKey[Status])
	}
	if p.actionURL.ok {
		// A paid invoice of the same second clears the action: rank 1.
		rank := 0
		if p.actionURL.v == "" {
			rank = 1
		}
		s.ActionURL.offer(p.actionURL.v, at, rank, stringKey[string])
	}
	switch {
	case p.failed:
		s.Dunning.mark(at)
	case p.paid:
		s.Dunning.settle(at)
	case p.status.ok && (p.status.v == StatusPastDue || p.status.v == StatusUnpaid):
		s.Dunning.mark(at)
	case p.status.ok && (p.status.v == StatusActive || p.status.v == StatusTrialing):
		s.Dunning.settle(at)
	}
}

// trialed reports whether a fact shows a trial.
func (p patch) trialed() bool {
	return (p.status.ok && p.status.v == StatusTrialing) || (p.provisional.ok && p.provisional.v == StatusTrialing) || p.trialEnd.ok
}

// TrialUsed reports whether the organization ever had a trialing
// subscription: its later checkouts start without a trial.
func (a *Account) TrialUsed() bool { return a.trialUsed }

// TrialEnd returns the end of the current subscription's trial while its
// status is trialing, else the zero time.
func (a *Account) TrialEnd() time.Time {
	if a.Status() != StatusTrialing {
		return time.Time{}
	}
	return a.current().TrialEnd.Value
}

// PaymentActionURL returns the hosted page of the current subscription's
// invoice that waits for the customer to confirm its payment, or "".
func (a *Account) PaymentActionURL() string { return a.current().ActionURL.Value }

// UnpaidSince returns when the current subscription's unpaid period began
// (the Stripe time of its first failed payment since the last paid
// invoice, else of the fact that made it past_due or unpaid, else of the
// fact that set its status) while its status is past_due or unpaid; else
// the zero time.
func (a *Account) UnpaidSince() time.Time {
	switch a.Status() {
	case StatusPastDue, StatusUnpaid:
		sub := a.current()
		if since := sub.Dunning.since(); !since.IsZero() {
			return since
		}
		return sub.Status.At
	}
	return time.Time{}
}

// CheckoutExpired reports whether Stripe expired the checkout session.
func (a *Account) CheckoutExpired(sessionID string) bool { return a.checkout(sessionID).Expired }

// recordCheckoutExpired validates a checkout.session.expired.
func recordCheckoutExpired(c CheckoutExpired, at time.Time) (Event, error) {
	if c.CheckoutSessionID == "" {
		return Event{}, fmt.Errorf("%w: no checkout session", ErrInvalidFact)
	}
	return Event{Change: c, OccurredAt: at}, nil
}
