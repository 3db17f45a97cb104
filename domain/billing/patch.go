package billing

import (
	"fmt"
	"time"
)

// patch is the part of the account state one Stripe fact sets.
type patch struct {
	customer          *string
	subscription      *string
	tier              *Tier
	status            *Status
	periodEnd         *time.Time
	cancelAtPeriodEnd *bool
	// selects: the fact makes its subscription the current one (a
	// completed checkout, or reconcile's choice).
	selects bool
}

func ptr[T any](v T) *T { return &v }

// patchOf returns what a Stripe fact sets; ok is false for other events.
func patchOf(c Change) (p patch, ok bool) {
	switch e := c.(type) {
	case PlanActivated:
		return patch{
			customer:     ptr(e.CustomerID),
			subscription: ptr(e.SubscriptionID),
			tier:         ptr(e.Tier),
			status:       ptr(StatusActive),
			selects:      true,
		}, true
	case SubscriptionRefreshed:
		return subscriptionPatch(e.CustomerID, e.SubscriptionID, e.Status, e.Tier, e.CurrentPeriodEnd, e.CancelAtPeriodEnd), true
	case SubscriptionSynced:
		p := subscriptionPatch(e.CustomerID, e.SubscriptionID, e.Status, e.Tier, e.CurrentPeriodEnd, e.CancelAtPeriodEnd)
		p.selects = e.Current
		return p, true
	case SubscriptionCanceled:
		return subscriptionPatch(e.CustomerID, e.SubscriptionID, StatusCanceled, TierFree, e.CurrentPeriodEnd, false), true
	case PaymentSucceeded:
		return invoicePatch(e.Invoice, StatusActive), true
	case PaymentFailed:
		return invoicePatch(e.Invoice, StatusPastDue), true
	case PlanChangeRequested:
		return answerPatch(e.SubscriptionAnswer), true
	case CancellationRequested:
		return answerPatch(e.SubscriptionAnswer), true
	case CancellationWithdrawn:
		return answerPatch(e.SubscriptionAnswer), true
	}
	return patch{}, false
}

// subscriptionPatch sets everything a subscription object tells. An ended
// subscription puts the organization back on FREE whatever its price, and
// no longer cancels at period end. An unknown price leaves the tier as is.
func subscriptionPatch(customer, sub string, st Status, tier Tier, periodEnd time.Time, cancel bool) patch {
	p := patch{
		customer:          ptr(customer),
		subscription:      ptr(sub),
		status:            ptr(st),
		cancelAtPeriodEnd: ptr(cancel),
	}
	if !periodEnd.IsZero() {
		p.periodEnd = ptr(periodEnd.UTC())
	}
	if tier != "" {
		p.tier = ptr(tier)
	}
	if st.Ended() {
		p.tier = ptr(TierFree)
		p.cancelAtPeriodEnd = ptr(false)
	}
	return p
}

// invoicePatch: an invoice of a subscription confirms (paid) or flags
// (failed) its status; an invoice outside any subscription changes nothing.
func invoicePatch(inv Invoice, st Status) patch {
	p := patch{customer: ptr(inv.CustomerID)}
	if inv.SubscriptionID != "" {
		p.subscription = ptr(inv.SubscriptionID)
		p.status = ptr(st)
	}
	return p
}

// rank orders facts of the same Stripe second: one that ends the
// subscription comes after one that does not.
func (p patch) rank() int {
	if p.status != nil && p.status.Ended() {
		return 1
	}
	return 0
}

func (p patch) validate() error {
	if p.customer == nil || *p.customer == "" {
		return fmt.Errorf("%w: no customer", ErrInvalidFact)
	}
	if p.subscription != nil && *p.subscription == "" {
		return fmt.Errorf("%w: no subscription", ErrInvalidFact)
	}
	if p.tier != nil && *p.tier != TierFree && !p.tier.Paid() {
		return fmt.Errorf("%w: %q", ErrInvalidTier, *p.tier)
	}
	if p.status != nil {
		if _, err := ParseStatus(string(*p.status)); err != nil || *p.status == StatusNone {
			return fmt.Errorf("%w: status %q", ErrInvalidFact, *p.status)
		}
	}
	return nil
}

// StripeIDs returns the Stripe customer and subscription a fact names
// ("" for what it does not name, and for events that are not Stripe facts).
func StripeIDs(c Change) (customerID, subscriptionID string) {
	p, _ := patchOf(c)
	if p.customer != nil {
		customerID = *p.customer
	}
	if p.subscription != nil {
		subscriptionID = *p.subscription
	}
	return customerID, subscriptionID
}
