package billing

import (
	"fmt"
	"time"
)

// Account is an organization's billing account: the event-sourced aggregate
// behind the billing status. Its state is a fold of the organization's
// ledger; commands check invariants against it and return the events to
// append. An Account is not safe for concurrent use.
type Account struct {
	orgID   string
	version int64
	lastAt  time.Time // OccurredAt of the newest event folded
	state   state
	name    string
	members map[string]Member
	// checkouts are the tiers of the checkout sessions started, by session
	// id, and the last one: a completed checkout whose metadata lost its
	// tier takes it from here.
	checkouts    map[string]Tier
	lastCheckout Tier
}

// state is every part of the account that Stripe facts set, each a register
// stamped with the Stripe time that set it.
type state struct {
	Customer          register[string]    `json:"customer"`
	Subscription      register[string]    `json:"subscription"`
	Tier              register[Tier]      `json:"tier"`
	Status            register[Status]    `json:"status"`
	CurrentPeriodEnd  register[time.Time] `json:"currentPeriodEnd"`
	CancelAtPeriodEnd register[bool]      `json:"cancelAtPeriodEnd"`
}

// NewAccount returns the account of an organization with an empty ledger:
// FREE, no subscription.
func NewAccount(orgID string) *Account { return &Account{orgID: orgID} }

// OrgID returns the organization the account belongs to.
func (a *Account) OrgID() string { return a.orgID }

// Version returns the number of events folded into the account.
func (a *Account) Version() int64 { return a.version }

// Tier returns the plan tier in force.
func (a *Account) Tier() Tier {
	if a.state.Tier.Value == "" {
		return TierFree
	}
	return a.state.Tier.Value
}

// Status returns the subscription status, [StatusNone] before any.
func (a *Account) Status() Status {
	if a.state.Status.Value == "" {
		return StatusNone
	}
	return a.state.Status.Value
}

// CustomerID returns the linked Stripe customer, or "".
func (a *Account) CustomerID() string { return a.state.Customer.Value }

// SubscriptionID returns the current Stripe subscription, or "".
func (a *Account) SubscriptionID() string { return a.state.Subscription.Value }

// CurrentPeriodEnd returns the end of the current billing period, or the zero time.
func (a *Account) CurrentPeriodEnd() time.Time { return a.state.CurrentPeriodEnd.Value }

// CancelAtPeriodEnd reports whether the subscription ends at the period's end.
func (a *Account) CancelAtPeriodEnd() bool { return a.state.CancelAtPeriodEnd.Value }

// LastEventAt returns the OccurredAt of the newest event folded in.
func (a *Account) LastEventAt() time.Time { return a.lastAt }

// NeedsSync reports whether two Stripe facts with the same time disagree
// about some part of the state, so that only the Stripe API can say which
// came last. It returns the subscription to fetch.
func (a *Account) NeedsSync() (subscriptionID string, ok bool) {
	s := a.state
	conflicted := s.Subscription.Conflict || s.Tier.Conflict || s.Status.Conflict ||
		s.CurrentPeriodEnd.Conflict || s.CancelAtPeriodEnd.Conflict || s.Customer.Conflict
	if !conflicted || s.Subscription.Value == "" {
		return "", false
	}
	return s.Subscription.Value, true
}

// Apply folds one event into the account. It never fails: events are facts
// already recorded. Stripe facts older than the part of the state they set
// leave it unchanged.
func (a *Account) Apply(e Event) {
	a.version++
	if e.OccurredAt.After(a.lastAt) {
		a.lastAt = e.OccurredAt
	}
	p, ok := patchOf(e.Change)
	if !ok {
		a.applyMembership(e.Change)
		return
	}
	at, rank := e.OccurredAt, p.rank()
	s := &a.state
	if p.customer != nil {
		s.Customer.offer(*p.customer, at, rank, stringKey[string])
	}
	if p.subscription != nil {
		s.Subscription.offer(*p.subscription, at, rank, stringKey[string])
	}
	if p.tier != nil {
		s.Tier.offer(*p.tier, at, rank, stringKey[Tier])
	}
	if p.status != nil {
		s.Status.offer(*p.status, at, rank, stringKey[Status])
	}
	if p.periodEnd != nil {
		s.CurrentPeriodEnd.offer(*p.periodEnd, at, rank, timeKey)
	}
	if p.cancelAtPeriodEnd != nil {
		s.CancelAtPeriodEnd.offer(*p.cancelAtPeriodEnd, at, rank, boolKey)
	}
}

// Fold returns the account made of events, in any order.
func Fold(orgID string, events []Event) *Account {
	a := NewAccount(orgID)
	for _, e := range events {
		a.Apply(e)
	}
	return a
}

// StartCheckout records that a checkout session for tier was opened. It
// refuses a tier that is not paid and an organization that already has a
// live subscription, so that nobody pays twice.
func (a *Account) StartCheckout(tier Tier, sessionID string, at time.Time) (Event, error) {
	if err := a.CanStartCheckout(tier); err != nil {
		return Event{}, err
	}
	if sessionID == "" {
		return Event{}, fmt.Errorf("%w: empty checkout session id", ErrInvalidFact)
	}
	return Event{Change: CheckoutStarted{Tier: tier, CheckoutSessionID: sessionID}, OccurredAt: at}, nil
}

// CanStartCheckout reports, as an error, why a checkout for tier may not
// start; nil when it may.
func (a *Account) CanStartCheckout(tier Tier) error {
	if !tier.Paid() {
		return fmt.Errorf("%w: %q", ErrInvalidTier, tier)
	}
	if a.Status().Live() {
		return ErrSubscriptionExists
	}
	return nil
}

// OpenPortal records that a Customer Portal session was opened. It refuses
// before any customer is linked.
func (a *Account) OpenPortal(sessionID string, at time.Time) (Event, error) {
	if err := a.CanOpenPortal(); err != nil {
		return Event{}, err
	}
	return Event{Change: PortalOpened{PortalSessionID: sessionID}, OccurredAt: at}, nil
}

// CanOpenPortal reports, as an error, why the portal may not open.
func (a *Account) CanOpenPortal() error {
	if a.CustomerID() == "" {
		return ErrNoCustomer
	}
	return nil
}

// RecordStripeFact validates a fact reported by Stripe at the given time
// and returns the event that records it. A fact older than the state it
// would set is still recorded, so the ledger keeps every fact, and the fold
// ignores it. A webhook fact naming another customer than the linked one is
// refused.
func (a *Account) RecordStripeFact(c Change, at time.Time) (Event, error) {
	if at.IsZero() {
		return Event{}, fmt.Errorf("%w: no Stripe time", ErrInvalidFact)
	}
	if pa, isActivation := c.(PlanActivated); isActivation && !pa.Tier.Paid() {
		pa.Tier = a.checkouts[pa.CheckoutSessionID]
		if pa.Tier == "" {
			pa.Tier = a.lastCheckout
		}
		if !pa.Tier.Paid() {
			return Event{}, fmt.Errorf("%w: checkout without a tier, and none started", ErrInvalidTier)
		}
		c = pa
	}
	p, ok := patchOf(c)
	if !ok {
		return Event{}, fmt.Errorf("%w: %s is not a Stripe fact", ErrInvalidFact, c.EventType())
	}
	if err := p.validate(); err != nil {
		return Event{}, err
	}
	// A sync is read from the Stripe API by our own subscription id: what it
	// says of the customer is the truth, not a claim to check.
	if _, synced := c.(SubscriptionSynced); !synced {
		if linked := a.CustomerID(); linked != "" && p.customer != nil && *p.customer != linked {
			return Event{}, ErrCustomerMismatch
		}
	}
	return Event{Change: c, OccurredAt: at}, nil
}
