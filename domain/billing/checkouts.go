package billing

import (
	"fmt"
	"slices"
	"time"
)

// CheckoutLifetime is how long a Stripe Checkout session stays open.
const CheckoutLifetime = 24 * time.Hour

// checkout is what the ledger knows of one Checkout session.
type checkout struct {
	Tier           Tier      `json:"tier,omitempty"`
	StartedAt      time.Time `json:"startedAt,omitzero"`
	RequestedBy    string    `json:"requestedBy,omitempty"`
	IdempotencyKey string    `json:"idempotencyKey,omitempty"`
	Superseded     bool      `json:"superseded,omitempty"` // a later checkout expired it
	Completed      bool      `json:"completed,omitempty"`  // checkout.session.completed arrived
	Expired        bool      `json:"expired,omitempty"`    // checkout.session.expired arrived
}

// closed reports whether the session can no longer be paid whatever the
// time: superseded, completed or expired. The flags only ever turn on.
func (c checkout) closed() bool { return c.Superseded || c.Completed || c.Expired }

// compact is c without what only an open session needs (when it started,
// who asked, its idempotency key: for its lifetime and a repeated
// request) once it is closed; the tier stays, for a superseded session
// that Stripe completes anyway. It depends on c's flags alone, which only
// turn on, so the fold stays order-independent, and an org that starts
// many checkouts keeps a small account.
func (c checkout) compact() checkout {
	if c.closed() {
		c.StartedAt, c.RequestedBy, c.IdempotencyKey = time.Time{}, "", ""
	}
	return c
}

// open reports whether the session may still be paid, as far as the
// ledger knows.
func (c checkout) open(now time.Time) bool {
	return !c.StartedAt.IsZero() && !c.closed() && now.Sub(c.StartedAt) < CheckoutLifetime
}

// StartCheckout records that a checkout session was opened. It refuses a
// tier that is not paid and an organization that already has a live
// subscription, so that nobody pays twice. The organization's other open
// sessions are listed as superseded: the caller expires them in Stripe.
func (a *Account) StartCheckout(s CheckoutStarted, at time.Time) (Event, error) {
	if err := a.CanStartCheckout(s.Tier); err != nil {
		return Event{}, err
	}
	if s.CheckoutSessionID == "" {
		return Event{}, fmt.Errorf("%w: empty checkout session id", ErrInvalidFact)
	}
	s.Supersedes = nil
	for _, id := range a.OpenCheckouts(at) {
		if id != s.CheckoutSessionID {
			s.Supersedes = append(s.Supersedes, id)
		}
	}
	return Event{Change: s, OccurredAt: at}, nil
}

// OpenCheckouts returns the checkout sessions that may still be paid at
// now (started within [CheckoutLifetime], neither completed nor
// superseded), sorted.
func (a *Account) OpenCheckouts(now time.Time) []string {
	var out []string
	for id, c := range a.checkouts {
		if c.open(now) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// RepeatedCheckoutKey returns the idempotency key of the newest open
// session that the same user started for the same tier at most window
// before now: a repeated request (a double click) sends it again, so
// Stripe answers with the same session.
func (a *Account) RepeatedCheckoutKey(tier Tier, userID string, now time.Time, window time.Duration) (string, bool) {
	var best checkout
	for _, c := range a.checkouts {
		if c.open(now) && c.Tier == tier && c.RequestedBy == userID && c.IdempotencyKey != "" &&
			now.Sub(c.StartedAt) <= window && c.StartedAt.After(best.StartedAt) {
			best = *c
		}
	}
	return best.IdempotencyKey, best.IdempotencyKey != ""
}

// checkout is what the ledger knows of session id (nothing: the zero
// checkout).
func (a *Account) checkout(id string) checkout {
	if c := a.checkouts[id]; c != nil {
		return *c
	}
	return checkout{}
}

// entry returns m's value for key, made (and m with it, if nil) when m
// has none.
func entry[V any](m *map[string]*V, key string) *V {
	v := (*m)[key]
	if v == nil {
		if *m == nil {
			*m = map[string]*V{}
		}
		v = new(V)
		(*m)[key] = v
	}
	return v
}

// applyCheckout folds a started or completed checkout.
func (a *Account) applyCheckout(e Event) {
	switch c := e.Change.(type) {
	case CheckoutStarted:
		ck := entry(&a.checkouts, c.CheckoutSessionID)
		ck.Tier, ck.RequestedBy, ck.IdempotencyKey = c.Tier, c.RequestedBy, c.IdempotencyKey
		if ck.StartedAt.IsZero() || e.OccurredAt.Before(ck.StartedAt) {
			ck.StartedAt = e.OccurredAt
		}
		*ck = ck.compact()
		a.lastCheckout = c.Tier
		for _, id := range c.Supersedes {
			old := entry(&a.checkouts, id)
			old.Superseded = true
			*old = old.compact()
		}
	case PlanActivated:
		ck := entry(&a.checkouts, c.CheckoutSessionID)
		ck.Completed = true
		*ck = ck.compact()
	case CheckoutExpired:
		ck := entry(&a.checkouts, c.CheckoutSessionID)
		ck.Expired = true
		*ck = ck.compact()
	}
}
