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
	item              *string
	// selects: the fact makes its subscription the current one (a
	// completed checkout, or reconcile's choice).
	selects bool
	// confirms: the status is inferred from an invoice or a checkout, not
	// read from the subscription: any subscription fact of the same
	// second outranks it.
	confirms bool
	// trialEnd, the end of the subscription's trial; provisional, the
	// status shown until a fact sets one (a checkout with a trial or an
	// asynchronous payment); actionURL, the invoice page where a payment
	// waits for the customer ("" clears it); failed and paid, an invoice's
	// outcome, which bounds the unpaid period.
	trialEnd     *time.Time
	provisional  *Status
	actionURL    *string
	failed, paid bool
}

func ptr[T any](v T) *T { return &v }

// patchOf returns what a Stripe fact sets; ok is false for other events.
func patchOf(c Change) (p patch, ok bool) {
	switch e := c.(type) {
	case PlanActivated:
		return activationPatch(e), true
	case SubscriptionRefreshed:
		return objectPatch(SubscriptionObject(e)), true
	case SubscriptionSynced:
		p := objectPatch(e.SubscriptionObject)
		p.selects = e.Current
		return p, true
	case SubscriptionCanceled:
		return subscriptionPatch(e.CustomerID, e.SubscriptionID, StatusCanceled, TierFree, e.CurrentPeriodEnd, false), true
	case TrialWillEnd:
		return objectPatch(e.SubscriptionObject), true
	case SubscriptionPaused:
		return objectPatch(e.SubscriptionObject), true
	case SubscriptionResumed:
		return objectPatch(e.SubscriptionObject), true
	case PaymentSucceeded:
		p := invoicePatch(e.Invoice, StatusActive)
		p.paid = p.subscription != nil
		if p.paid {
			p.actionURL = ptr("")
		}
		return p, true
	case PaymentFailed:
		p := invoicePatch(e.Invoice, StatusPastDue)
		p.failed = p.subscription != nil
		return p, true
	case PaymentActionRequired:
		p := invoicePatch(e.Invoice, "")
		if p.subscription != nil {
			p.actionURL = ptr(e.HostedInvoiceURL)
		}
		return p, true
	case AsyncPaymentSucceeded:
		return checkoutPaymentPatch(e.CheckoutPayment, true), true
	case AsyncPaymentFailed:
		return checkoutPaymentPatch(e.CheckoutPayment, false), true
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

// withItem sets the subscription's item when the fact names one.
func (p patch) withItem(id string) patch {
	if id != "" {
		p.item = ptr(id)
	}
	return p
}

// invoicePatch: an invoice of a subscription confirms (paid) or flags
// (failed) its status (st, none when ""); an invoice outside any
// subscription changes nothing.
func invoicePatch(inv Invoice, st Status) patch {
	p := patch{customer: ptr(inv.CustomerID)}
	if inv.SubscriptionID != "" {
		p.subscription = ptr(inv.SubscriptionID)
		if st != "" {
			p.status, p.confirms = ptr(st), true
		}
	}
	return p
}

// rank orders facts of the same Stripe second: one that ends the
// subscription comes after one that does not, and a status inferred from
// an invoice or a checkout before both.
func (p patch) rank() int {
	switch {
	case p.status != nil && p.status.Ended():
		return 1
	case p.confirms:
		return -1
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
	if p.trialEnd != nil && (p.trialEnd.Year() < 1 || p.trialEnd.Year() > 9999) {
		return fmt.Errorf("%w: trial end outside the years 1 to 9999", ErrInvalidFact)
	}
	return nil
}
