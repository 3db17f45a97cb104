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
	orgID      string
	version    int64
	lastAt     time.Time // OccurredAt of the newest event folded
	lastFactAt time.Time // OccurredAt of the newest Stripe fact folded
	state      state
	stripeIDs  map[string]bool // every Stripe id a fact named
	name       string
	createdAt  time.Time
	members    map[string]Member
	// checkouts are the checkout sessions started or completed, by session
	// id, and lastCheckout the tier of the last one started: a completed
	// checkout whose metadata lost its tier takes it from here.
	checkouts    map[string]*checkout
	lastCheckout Tier
	trialUsed    bool // a fact showed a trial
}

// NewAccount returns the account of an organization with an empty ledger:
// FREE, no subscription.
func NewAccount(orgID string) *Account { return &Account{orgID: orgID} }

// OrgID returns the organization the account belongs to.
func (a *Account) OrgID() string { return a.orgID }

// Version returns the number of events folded into the account.
func (a *Account) Version() int64 { return a.version }

// current returns what the facts of the current subscription set.
func (a *Account) current() subscription {
	if sub := a.state.Subs[a.state.currentID()]; sub != nil {
		return *sub
	}
	return subscription{}
}

// Tier returns the plan tier in force: the current subscription's.
func (a *Account) Tier() Tier {
	if t := a.current().Tier.Value; t != "" {
		return t
	}
	return TierFree
}

// Status returns the current subscription's status, [StatusNone] before any.
func (a *Account) Status() Status {
	if st := a.current().status(); st != "" {
		return st
	}
	return StatusNone
}

// CustomerID returns the current subscription's Stripe customer; without
// a subscription, the customer named last; else "".
func (a *Account) CustomerID() string {
	if c := a.current().Customer.Value; c != "" {
		return c
	}
	return a.state.Customer.Value
}

// SubscriptionID returns the current Stripe subscription, or "".
func (a *Account) SubscriptionID() string { return a.state.currentID() }

// ItemID returns the current subscription's item as the newest Stripe fact
// naming one said, or "" when no fact did (an org linked by its checkout
// alone) or two facts of one second disagree.
func (a *Account) ItemID() string {
	if it := a.current().Item; !it.Conflict {
		return it.Value
	}
	return ""
}

// CurrentPeriodEnd returns the end of the current subscription's billing
// period, or the zero time.
func (a *Account) CurrentPeriodEnd() time.Time { return a.current().CurrentPeriodEnd.Value }

// CancelAtPeriodEnd reports whether the current subscription ends at the
// period's end.
func (a *Account) CancelAtPeriodEnd() bool { return a.current().CancelAtPeriodEnd.Value }

// LastEventAt returns the OccurredAt of the newest event folded in.
func (a *Account) LastEventAt() time.Time { return a.lastAt }

// ReadAt returns the time to stamp on what the service reads from
// Stripe's API at now (a sync, a reconcile): the later of now and one
// second after the newest Stripe fact folded, so that it outranks every
// fact known when it was read, whatever the clocks' skew.
func (a *Account) ReadAt(now time.Time) time.Time {
	if a.lastFactAt.IsZero() {
		return now
	}
	if next := a.lastFactAt.Add(time.Second); next.After(now) {
		return next
	}
	return now
}

// NeedsSync reports whether two Stripe facts with the same time disagree
// about some part of the current subscription, so that only the Stripe API
// can say which came last. It returns the subscription to fetch.
func (a *Account) NeedsSync() (subscriptionID string, ok bool) {
	id := a.state.currentID()
	if sub := a.state.Subs[id]; sub == nil || !sub.conflicted() {
		return "", false
	}
	return id, true
}

// Apply folds one event into the account. It never fails: events are facts
// already recorded. Stripe facts older than the part of the state they set
// leave it unchanged, and facts of a subscription other than the current
// one change nothing shown.
func (a *Account) Apply(e Event) {
	a.version++
	if e.OccurredAt.After(a.lastAt) {
		a.lastAt = e.OccurredAt
	}
	switch c := e.Change.(type) {
	case OrgCreated:
		a.name = c.Name
		if a.createdAt.IsZero() {
			a.createdAt = e.OccurredAt
		}
	case MemberAdded, MemberPermissionsChanged, MemberRemoved:
		a.applyMembership(c)
	case CheckoutStarted, PlanActivated, CheckoutExpired:
		a.applyCheckout(e)
	}
	if p, ok := patchOf(e.Change); ok {
		if e.OccurredAt.After(a.lastFactAt) {
			a.lastFactAt = e.OccurredAt
		}
		a.state.apply(p, e.OccurredAt)
		a.holdStripeIDs(p)
		a.trialUsed = a.trialUsed || p.trialed()
	}
}

// CreatedAt returns when the organization was created (its first
// OrgCreated), or the zero time.
func (a *Account) CreatedAt() time.Time { return a.createdAt }

// Fold returns the account made of events, in any order.
func Fold(orgID string, events []Event) *Account {
	a := NewAccount(orgID)
	for _, e := range events {
		a.Apply(e)
	}
	return a
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
// ignores it; so is a fact of a subscription other than the current one. A
// webhook fact naming another customer than the one its subscription has
// (or, for a new subscription, than every customer of the organization) is
// refused; a completed checkout may bring a new customer.
func (a *Account) RecordStripeFact(c Change, at time.Time) (Event, error) {
	if at.IsZero() {
		return Event{}, fmt.Errorf("%w: no Stripe time", ErrInvalidFact)
	}
	if pa, isActivation := c.(PlanActivated); isActivation && !pa.Tier.Paid() {
		pa.Tier = a.checkout(pa.CheckoutSessionID).Tier
		if pa.Tier == "" {
			pa.Tier = a.lastCheckout
		}
		if !pa.Tier.Paid() {
			return Event{}, fmt.Errorf("%w: checkout without a tier, and none started", ErrInvalidTier)
		}
		c = pa
	}
	if ce, ok := c.(CheckoutExpired); ok {
		return recordCheckoutExpired(ce, at)
	}
	p, ok := patchOf(c)
	if !ok {
		return Event{}, fmt.Errorf("%w: %s is not a Stripe fact", ErrInvalidFact, c.EventType())
	}
	if err := p.validate(); err != nil {
		return Event{}, err
	}
	// A sync is read from the Stripe API by our own subscription id: what it
	// says of the customer is the truth, not a claim to check. A completed
	// checkout was started for this organization, whichever customer
	// Checkout made.
	switch c.(type) {
	case SubscriptionSynced, PlanActivated, PlanChangeRequested, CancellationRequested, CancellationWithdrawn:
	default:
		if a.state.customerMismatch(p) {
			return Event{}, ErrCustomerMismatch
		}
	}
	return Event{Change: c, OccurredAt: at}, nil
}

// StatusView is what the billing status shows of an account.
type StatusView struct {
	OrgID                string
	PlanTier             string
	Status               string
	CurrentPeriodEnd     time.Time // zero when unknown
	CancelAtPeriodEnd    bool
	StripeCustomerID     string
	StripeSubscriptionID string
	LedgerVersion        int64
	UpdatedAt            time.Time
	TrialEnd             time.Time // zero unless trialing
	PaymentActionURL     string
}

// View returns the status the account shows; updatedAt is when the ledger
// recorded its newest event.
func (a *Account) View(updatedAt time.Time) StatusView {
	return StatusView{OrgID: a.orgID, PlanTier: string(a.Tier()), Status: string(a.Status()),
		CurrentPeriodEnd: a.CurrentPeriodEnd(), CancelAtPeriodEnd: a.CancelAtPeriodEnd(),
		StripeCustomerID: a.CustomerID(), StripeSubscriptionID: a.SubscriptionID(),
		LedgerVersion: a.version, UpdatedAt: updatedAt, TrialEnd: a.TrialEnd(), PaymentActionURL: a.PaymentActionURL()}
}
