package application

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"

	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// doubleClickWindow is how long a repeated checkout request reuses the
// same Stripe idempotency key, so a double click makes one session.
const doubleClickWindow = 60 // seconds

// BillingPageURL is where Stripe sends the user back to.
func (s *Service) BillingPageURL(orgID string) string {
	return s.base + "/orgs/" + url.PathEscape(orgID) + "/billing"
}

// StartCheckout opens a Stripe Checkout session for tier and records
// CheckoutStarted. It refuses (billing.ErrSubscriptionExists) when the
// org already has a live subscription: it must use the portal.
func (s *Service) StartCheckout(ctx context.Context, actor Actor, orgID, tierName string) (string, error) {
	tier, err := billing.ParsePaidTier(tierName)
	if err != nil {
		return "", invalid("planTier", "must be STARTER, PRO or ENTERPRISE")
	}
	if _, err := s.Authorize(ctx, actor.UserID, orgID, billing.PermBilling); err != nil {
		return "", err
	}
	acc, err := s.loadAccount(ctx, orgID)
	if err != nil {
		return "", err
	}
	if err := acc.CanStartCheckout(tier); err != nil {
		return "", err
	}
	now := s.clock.Now()
	key := sha256.Sum256(fmt.Appendf(nil, "checkout|%s|%s|%s|%s|%d", orgID, tier, acc.CustomerID(), actor.UserID, now.Unix()/doubleClickWindow))
	page := s.BillingPageURL(orgID)
	sess, err := s.pay.CreateCheckoutSession(ctx, ports.CheckoutSessionRequest{
		OrgID: orgID, Tier: string(tier), CustomerID: acc.CustomerID(),
		SuccessURL: page + "?checkout=success", CancelURL: page + "?checkout=canceled",
		IdempotencyKey: "checkout-" + hex.EncodeToString(key[:16]),
	})
	if err != nil {
		return "", err
	}
	_, err = s.update(ctx, orgID, actor.meta(), "", func(acc *billing.Account) ([]billing.Event, error) {
		ev, err := acc.StartCheckout(tier, sess.ID, s.clock.Now())
		return []billing.Event{ev}, err
	})
	if err != nil {
		return "", err
	}
	return sess.URL, nil
}

// OpenPortal opens a Customer Portal session returning to the billing
// page and records PortalOpened. It refuses (billing.ErrNoCustomer) before
// any checkout completed.
func (s *Service) OpenPortal(ctx context.Context, actor Actor, orgID string) (string, error) {
	if _, err := s.Authorize(ctx, actor.UserID, orgID, billing.PermBilling); err != nil {
		return "", err
	}
	acc, err := s.loadAccount(ctx, orgID)
	if err != nil {
		return "", err
	}
	if err := acc.CanOpenPortal(); err != nil {
		return "", err
	}
	sess, err := s.pay.CreatePortalSession(ctx, acc.CustomerID(), s.BillingPageURL(orgID))
	if err != nil {
		return "", err
	}
	_, err = s.update(ctx, orgID, actor.meta(), "", func(acc *billing.Account) ([]billing.Event, error) {
		ev, err := acc.OpenPortal(sess.ID, s.clock.Now())
		return []billing.Event{ev}, err
	})
	if err != nil {
		return "", err
	}
	return sess.URL, nil
}

// Status returns the org's billing status (any member).
func (s *Service) Status(ctx context.Context, userID, orgID string) (ports.BillingStatus, error) {
	if _, err := s.Authorize(ctx, userID, orgID); err != nil {
		return ports.BillingStatus{}, err
	}
	return s.status.Status(ctx, orgID)
}
