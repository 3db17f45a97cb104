package billing

import (
	"fmt"
	"time"
)

// SubscriptionAnswer is the current subscription as Stripe answered a
// change made in the app. Status and CurrentPeriodEnd are empty when the
// answer did not show the change (so says nothing the ledger can trust).
type SubscriptionAnswer struct {
	CustomerID        string    `json:"customerId"`
	SubscriptionID    string    `json:"subscriptionId"`
	Tier              Tier      `json:"tier"`
	PriceID           string    `json:"priceId,omitempty"`
	Status            Status    `json:"status,omitempty"`
	CurrentPeriodEnd  time.Time `json:"currentPeriodEnd,omitzero"`
	CancelAtPeriodEnd bool      `json:"cancelAtPeriodEnd"`
	ItemID            string    `json:"itemId,omitempty"` // the subscription's item, when the answer named it
}

// PlanChangeRequested records a member's plan change made in the app, with
// the subscription as Stripe answered it.
type PlanChangeRequested struct {
	SubscriptionAnswer
	FromTier      Tier      `json:"fromTier"`
	ProrationDate time.Time `json:"prorationDate,omitzero"`
}

// CancellationRequested records that a member asked for the subscription
// to end at the period's end.
type CancellationRequested struct {
	SubscriptionAnswer
}

// CancellationWithdrawn records that a member withdrew a cancellation at
// the period's end.
type CancellationWithdrawn struct {
	SubscriptionAnswer
}

// Event type names of changes made in the app.
const (
	TypePlanChangeRequested   = "PlanChangeRequested"
	TypeCancellationRequested = "CancellationRequested"
	TypeCancellationWithdrawn = "CancellationWithdrawn"
)

func (PlanChangeRequested) EventType() string   { return TypePlanChangeRequested }
func (CancellationRequested) EventType() string { return TypeCancellationRequested }
func (CancellationWithdrawn) EventType() string { return TypeCancellationWithdrawn }

// answerPatch is what a change made in the app sets: the requested tier
// and cancel flag, and the status and period end when Stripe's answer
// showed them.
func answerPatch(a SubscriptionAnswer) patch {
	p := patch{customer: some(a.CustomerID), subscription: some(a.SubscriptionID), tier: some(a.Tier),
		cancelAtPeriodEnd: some(a.CancelAtPeriodEnd)}
	if a.Status != "" {
		p.status = some(a.Status)
	}
	if !a.CurrentPeriodEnd.IsZero() {
		p.periodEnd = some(a.CurrentPeriodEnd.UTC())
	}
	return p.withItem(a.ItemID)
}

// CanChangePlan reports, as an error, why the current subscription may not
// move to tier: a tier that is not paid, no live subscription (use
// checkout), or the tier already in force.
func (a *Account) CanChangePlan(tier Tier) error {
	if !tier.Paid() {
		return fmt.Errorf("%w: %q", ErrInvalidTier, tier)
	}
	if err := a.CanChangeSubscription(); err != nil {
		return err
	}
	if tier == a.Tier() {
		return ErrSamePlan
	}
	return nil
}

// CanChangeSubscription reports, as an error, why the current subscription
// may not be changed, canceled or resumed in the app: it needs one that is
// live.
func (a *Account) CanChangeSubscription() error {
	if a.SubscriptionID() == "" || !a.Status().Live() {
		return ErrNoSubscription
	}
	return nil
}

// RecordSubscriptionAnswer checks a change made in the app against the
// account and returns the event that records it, stamped at (see
// [Account.ReadAt]).
func (a *Account) RecordSubscriptionAnswer(c Change, at time.Time) (Event, error) {
	var ans SubscriptionAnswer
	switch c := c.(type) {
	case PlanChangeRequested:
		if err := a.CanChangePlan(c.Tier); err != nil {
			return Event{}, err
		}
		ans = c.SubscriptionAnswer
	case CancellationRequested:
		ans = c.SubscriptionAnswer
	case CancellationWithdrawn:
		ans = c.SubscriptionAnswer
	default:
		return Event{}, fmt.Errorf("%w: %s is not a change made in the app", ErrInvalidFact, c.EventType())
	}
	if err := a.CanChangeSubscription(); err != nil {
		return Event{}, err
	}
	if ans.SubscriptionID != a.SubscriptionID() {
		return Event{}, fmt.Errorf("%w: the change names %s, not the current subscription", ErrInvalidFact, ans.SubscriptionID)
	}
	return a.RecordStripeFact(c, at)
}
