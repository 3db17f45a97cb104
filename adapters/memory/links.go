package memory

import (
	"context"

	"github.com/safeclose/billing/ports"
)

// Links tells which org each Stripe customer and subscription the store's
// ledger names belongs to: the first org whose account held the id, old
// subscriptions included, as the Postgres projection keeps them. It is
// safe for concurrent use.
type Links struct{ store *Store }

var _ ports.StripeLinks = Links{}

// Links returns the store's Stripe links.
func (s *Store) Links() Links { return Links{store: s} }

// OrgsOf implements [ports.StripeLinks].
func (l Links) OrgsOf(_ context.Context, stripeIDs ...string) (map[string]string, error) {
	s := l.store
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for _, id := range stripeIDs {
		if org, ok := s.links[id]; ok {
			out[id] = org
		}
	}
	return out, nil
}

// Orgs tells which organizations the store's ledger has created. It is
// safe for concurrent use.
type Orgs struct{ store *Store }

var _ ports.OrgDirectory = Orgs{}

// Orgs returns the store's org directory.
func (s *Store) Orgs() Orgs { return Orgs{store: s} }

// OrgExists implements [ports.OrgDirectory]: an org exists once its
// account is created (OrgCreated), not merely because its stream has
// events.
func (o Orgs) OrgExists(_ context.Context, orgID string) (bool, error) {
	s := o.store
	s.mu.Lock()
	defer s.mu.Unlock()
	acc, ok := s.accounts[orgID]
	return ok && !acc.CreatedAt().IsZero(), nil
}
