package billing

import (
	"slices"
	"time"
)

// subscription is what the facts of one Stripe subscription set, each part
// a register stamped with the Stripe time that set it.
type subscription struct {
	Customer          register[string]    `json:"customer"`
	Tier              register[Tier]      `json:"tier"`
	Status            register[Status]    `json:"status"`
	CurrentPeriodEnd  register[time.Time] `json:"currentPeriodEnd"`
	CancelAtPeriodEnd register[bool]      `json:"cancelAtPeriodEnd"`
	TrialEnd          register[time.Time] `json:"trialEnd,omitzero"`
	// Provisional is the status shown until a fact sets Status.
	Provisional register[Status] `json:"provisional,omitzero"`
	ActionURL   register[string] `json:"actionUrl,omitzero"`
	Dunning     dunning          `json:"dunning,omitzero"`
	// Item is the subscription's item (items.data[0].id), which a plan
	// change names. It is no part of what the organization sees, so two
	// facts of one second that disagree on it ask for no sync: the item is
	// then unknown (read from Stripe when needed) until a newer fact.
	Item register[string] `json:"item,omitzero"`
}

func (s *subscription) conflicted() bool {
	return s.Customer.Conflict || s.Tier.Conflict || s.Status.Conflict || s.CurrentPeriodEnd.Conflict || s.CancelAtPeriodEnd.Conflict || s.TrialEnd.Conflict
}

// status is the subscription's status as its facts tell, the provisional
// one before any, or "".
func (s subscription) status() Status {
	if s.Status.Value != "" {
		return s.Status.Value
	}
	return s.Provisional.Value
}

// state is every part of the account that Stripe facts set. Facts are kept
// per subscription; the plan, status, period end and cancel flag shown are
// those of the current subscription only, so a late fact of an old,
// replaced subscription changes nothing the organization sees.
//
// The current subscription is the one the most recent completed checkout
// created (by Stripe time), or the one reconcile chose; before any, the
// first subscription a fact names. Both are registers too, so the fold
// stays independent of delivery order.
type state struct {
	Current  register[string]         `json:"current"`
	First    register[string]         `json:"first"`
	Customer register[string]         `json:"customer"`       // the newest customer named, for an org without subscription
	Subs     map[string]*subscription `json:"subs,omitempty"` // by pointer: a fact updates its subscription in place
}

// offerEarliest keeps the value of the earliest time (the smaller value on
// a tie), whatever the order of the offers.
func (r *register[T]) offerEarliest(v T, at time.Time, key func(T) string) {
	if r.At.IsZero() || at.Before(r.At) || (at.Equal(r.At) && key(v) < key(r.Value)) {
		r.Value, r.At = v, at
	}
}

// apply folds what a Stripe fact of time at sets.
func (s *state) apply(p patch, at time.Time) {
	rank := p.rank()
	s.Customer.offer(p.customer.v, at, rank, stringKey[string])
	if !p.subscription.ok {
		return // an invoice outside any subscription
	}
	id := p.subscription.v
	s.First.offerEarliest(id, at, stringKey[string])
	if p.selects {
		// Which of two checkouts of one second is current cannot be told
		// from the facts; the register's choice is deterministic, and
		// asking Stripe would not say either, so it is no conflict.
		s.Current.offer(id, at, 0, stringKey[string])
		s.Current.Conflict = false
	}
	sub := entry(&s.Subs, id)
	sub.Customer.offer(p.customer.v, at, rank, stringKey[string])
	if p.tier.ok {
		sub.Tier.offer(p.tier.v, at, rank, stringKey[Tier])
	}
	if p.status.ok {
		sub.Status.offer(p.status.v, at, rank, stringKey[Status])
	}
	if p.periodEnd.ok {
		sub.CurrentPeriodEnd.offer(p.periodEnd.v, at, rank, timeKey)
	}
	if p.cancelAtPeriodEnd.ok {
		sub.CancelAtPeriodEnd.offer(p.cancelAtPeriodEnd.v, at, rank, boolKey)
	}
	sub.applyLifecycle(p, at)
	if p.item.ok {
		sub.Item.offer(p.item.v, at, rank, stringKey[string])
	}
}

// currentID is the current subscription's id, or "".
func (s *state) currentID() string {
	if s.Current.Value != "" {
		return s.Current.Value
	}
	return s.First.Value
}

// SubscriptionIDs returns every Stripe subscription the ledger has facts
// about, sorted; the current one is [Account.SubscriptionID].
func (a *Account) SubscriptionIDs() []string {
	out := make([]string, 0, len(a.state.Subs))
	for id := range a.state.Subs {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// CustomerIDs returns every Stripe customer the ledger has facts about,
// sorted.
func (a *Account) CustomerIDs() []string {
	var out []string
	add := func(id string) {
		if id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	add(a.state.Customer.Value)
	for _, sub := range a.state.Subs {
		add(sub.Customer.Value)
	}
	slices.Sort(out)
	return out
}

// StripeIDs returns every Stripe customer and subscription id a fact
// folded into the account named, sorted: the ids routed to the org.
func (a *Account) StripeIDs() []string {
	out := make([]string, 0, len(a.stripeIDs))
	for id := range a.stripeIDs {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// StripeIDsSince returns, sorted, the Stripe ids the account holds and
// prior did not (nil when none, which is most facts).
func (a *Account) StripeIDsSince(prior *Account) []string {
	var out []string
	for id := range a.stripeIDs {
		if !prior.stripeIDs[id] {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// StripeIDCount is how many Stripe ids facts folded into the account
// named: it grows only when a fact names a new one.
func (a *Account) StripeIDCount() int { return len(a.stripeIDs) }

// holdStripeIDs remembers the ids a fact names.
func (a *Account) holdStripeIDs(p patch) {
	if a.stripeIDs == nil {
		a.stripeIDs = map[string]bool{}
	}
	for _, id := range [...]opt[string]{p.customer, p.subscription} {
		if id.ok && id.v != "" && !a.stripeIDs[id.v] {
			a.stripeIDs[id.v] = true
		}
	}
}

// knowsCustomer reports whether any fact named the customer.
func (s *state) knowsCustomer(id string) bool {
	if s.Customer.Value == id {
		return true
	}
	for _, sub := range s.Subs {
		if sub.Customer.Value == id {
			return true
		}
	}
	return false
}

// customerMismatch reports whether a fact's customer contradicts what the
// ledger knows: the customer of the subscription it names, or, for a
// subscription not seen yet, every customer of the organization.
func (s *state) customerMismatch(p patch) bool {
	if p.subscription.ok {
		if sub, ok := s.Subs[p.subscription.v]; ok && sub.Customer.Value != "" {
			return sub.Customer.Value != p.customer.v
		}
	}
	if s.Customer.Value == "" {
		return false
	}
	return !s.knowsCustomer(p.customer.v)
}
