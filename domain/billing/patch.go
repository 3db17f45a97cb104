package billing

import (
	"fmt"
	"time"
)

// patch is the part of the account state one Stripe fact sets; a part the
// fact does not set is not ok.
type patch struct {
	customer          opt[string]
	subscription      opt[string]
	tier              opt[Tier]
	status            opt[Status]
	periodEnd         opt[time.Time]
	cancelAtPeriodEnd opt[bool]
	item              opt[string]
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
	trialEnd     opt[time.Time]
	provisional  opt[Status]
	actionURL    opt[string]
	failed, paid bool
}

// opt is a value that may be unset: a patch's parts are values, not
// pointers, so that reading a fact allocates nothing.
type opt[T any] struct {
	v  T
	ok bool
}

func some[T any](v T) opt[T] { return opt[T]{v: v, ok: true} }

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
		p.paid = p.subscription.ok
		if p.paid {
			p.actionURL = some("")
		}
		return p, true
	case PaymentFailed:
		p := invoicePatch(e.Invoice, StatusPastDue)
		p.failed = p.subscription.ok
		return p, true
	case PaymentActionRequired:
		p := invoicePatch(e.Invoice, "")
		if p.subscription.ok {
			p.actionURL = some(e.HostedInvoiceURL)
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
		customer:          some(customer),
		subscription:      some(sub),
		status:            some(st),
		cancelAtPeriodEnd: some(cancel),
	}
	if !periodEnd.IsZero() {
		p.periodEnd = some(periodEnd.UTC())
	}
	if tier != "" {
		p.tier = some(tier)
	}
	if st.Ended() {
		p.tier = some(TierFree)
		p.cancelAtPeriodEnd = some(false)
	}
	return p
}

// withItem sets the subscription's item when the fact names one.
func (p patch) withItem(id string) patch {
	if id != "" {
		p.item = some(id)
	}
	return p
}

// invoicePatch: an invoice of a subscription confirms (paid) or flags
// (failed) its status (st, none when ""); an invoice outside any
// subscription changes nothing.
func invoicePatch(inv Invoice, st Status) patch {
	p := patch{customer: some(inv.CustomerID)}
	if inv.SubscriptionID != "" {
		p.subscription = some(inv.SubscriptionID)
		if st != "" {
			p.status, p.confirms = some(st), true
		}
	}
	return p
}

// rank orders facts of the same Stripe second: one that ends the
// subscription comes after one that does not, and a status inferred from
// an invoice or a checkout before both.
func (p patch) rank() int {
	switch {
	case p.status.ok && p.status.v.Ended():
		return 1
	case p.confirms:
		return -1
	}
	return 0
}

func (p patch) validate() error {
	if !p.customer.ok || p.customer.v == "" {
		return fmt.Errorf("%w: no customer", ErrInvalidFact)
	}
	if p.subscription.ok && p.subscription.v == "" {
		return fmt.Errorf("%w: no subscription", ErrInvalidFact)
	}
	if p.tier.ok && p.tier.v != TierFree && !p.tier.v.Paid() {
		return fmt.Errorf("%w: %q", ErrInvalidTier, p.tier.v)
	}
	if p.status.ok {
		if _, err := ParseStatus(string(p.status.v)); err != nil || p.status.v == StatusNone {
			return fmt.Errorf("%w: status %q", ErrInvalidFact, p.status.v)
		}
	}
	if p.trialEnd.ok && (p.trialEnd.v.Year() < 1 || p.trialEnd.v.Year() > 9999) {
		return fmt.Errorf("%w: trial end outside the years 1 to 9999", ErrInvalidFact)
	}
	return nil
}
