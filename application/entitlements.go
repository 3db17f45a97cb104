package application

import (
	"context"
	"time"

	"github.com/safeclose/billing/domain/billing"
)

// Entitlements returns what the org may use (any member): its plan's
// features and limits while its subscription is active or trialing, or in
// the grace period after a failed payment; FREE's otherwise. With a zero
// asOf it is the committed account judged now; else the account made of
// the facts that had happened by asOf (their occurredAt), judged at asOf.
// Either way with today's catalogue and grace period.
func (s *Service) Entitlements(ctx context.Context, userID, orgID string, asOf time.Time) (billing.Entitlements, error) {
	if asOf.IsZero() {
		// One read: the committed account, which holds its members too.
		acc, err := s.authorizedAccount(ctx, userID, orgID)
		if err != nil {
			return billing.Entitlements{}, err
		}
		return s.entitlements(acc, s.clock.Now()), nil
	}
	if _, err := s.Authorize(ctx, userID, orgID); err != nil {
		return billing.Entitlements{}, err
	}
	known, err := s.history.AccountAt(ctx, orgID, asOf, time.Time{})
	if err != nil {
		return billing.Entitlements{}, err
	}
	return s.entitlements(known.Account, asOf), nil
}

// entitlements judges acc at the instant at with the service's catalogue
// and grace period: the one rule for the query and for the members limit.
func (s *Service) entitlements(acc *billing.Account, at time.Time) billing.Entitlements {
	return acc.Entitlements(s.catalogue, s.grace, at)
}
