package application

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"time"

	"go.uber.org/zap"

	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// RepeatWindow is how long a user's repeated checkout request for the
// same tier (a double click, a second tab) sends Stripe the key of the
// session it started, so that Stripe answers with that same session while
// it is open.
const RepeatWindow = 5 * time.Minute

// BillingPageURL is where Stripe sends the user back to.
func (s *Service) BillingPageURL(orgID string) string {
	return s.base + "/orgs/" + url.PathEscape(orgID) + "/billing"
}

// StartCheckout opens a Stripe Checkout session for tier and records
// CheckoutStarted. It refuses (billing.ErrSubscriptionExists) when the
// org already has a live subscription: it must use the portal. The org's
// other open sessions are expired in Stripe, so that only one checkout can
// still be paid: after answering, in the background (see [Service.Drain]),
// since the answer does not depend on it.
//
// The idempotency key is the one of the same user's open session for the
// same tier started within [RepeatWindow] (a repeated request), else one
// made of the account's version: a new intent always comes after the
// CheckoutStarted of the one before it, so it never repeats a key, while
// concurrent repeats read the same version and send the same key.
func (s *Service) StartCheckout(ctx context.Context, actor Actor, orgID, tierName string) (string, error) {
	tier, err := billing.ParsePaidTier(tierName)
	if err != nil {
		return "", invalid("planTier", "must be STARTER, PRO or ENTERPRISE")
	}
	acc, err := s.authorizedAccount(ctx, actor.UserID, orgID, billing.PermBilling)
	if err != nil {
		return "", err
	}
	if err := acc.CanStartCheckout(tier); err != nil {
		return "", err
	}
	key, repeated := acc.RepeatedCheckoutKey(tier, actor.UserID, s.clock.Now(), RepeatWindow)
	if !repeated {
		sum := sha256.Sum256(fmt.Appendf(nil, "checkout|%s|%s|%s|%s|%d", orgID, tier, acc.CustomerID(), actor.UserID, acc.Version()))
		key = "checkout-" + hex.EncodeToString(sum[:16])
	}
	page := s.BillingPageURL(orgID)
	sess, err := s.pay.CreateCheckoutSession(ctx, ports.CheckoutSessionRequest{
		OrgID: orgID, Tier: string(tier), CustomerID: acc.CustomerID(),
		SuccessURL: page + "?checkout=success&session_id={CHECKOUT_SESSION_ID}", CancelURL: page + "?checkout=canceled",
		IdempotencyKey: key, TrialDays: s.trialDays(acc, tier),
	})
	if err != nil {
		return "", err
	}
	var superseded []string
	_, err = s.update(ctx, orgID, actor.meta(), func(acc *billing.Account) ([]billing.Event, error) {
		ev, err := acc.StartCheckout(billing.CheckoutStarted{Tier: tier, CheckoutSessionID: sess.ID,
			RequestedBy: actor.UserID, IdempotencyKey: key}, s.clock.Now())
		if err == nil {
			superseded = ev.Change.(billing.CheckoutStarted).Supersedes
		}
		return []billing.Event{ev}, err
	})
	if err != nil {
		return "", err
	}
	if len(superseded) > 0 {
		s.afterAnswer(ctx, func(ctx context.Context) {
			for _, id := range superseded {
				if err := s.pay.ExpireCheckoutSession(ctx, id); err != nil {
					// Already paid, expired or unreachable: if it completes
					// anyway, the most recent completed checkout is the
					// current one.
					s.logger(ctx).Warn("could not expire a superseded checkout session", zap.String("orgId", orgID),
						zap.String("checkoutSessionId", id), zap.Error(err))
				}
			}
		})
	}
	return sess.URL, nil
}

// trialDays is the trial a checkout for tier starts with: the catalogue's
// trialDays, once per org (none once the org ever had a trialing
// subscription, also after it ended).
func (s *Service) trialDays(acc *billing.Account, tier billing.Tier) int {
	if acc.TrialUsed() {
		return 0
	}
	plan, ok := s.catalogue.Plan(tier)
	if !ok || plan.TrialDays <= 0 {
		return 0
	}
	return plan.TrialDays
}

// CheckoutExpired reports whether Stripe expired the org's checkout
// session (checkout.session.expired recorded): a page waiting on it stops
// waiting. Any member may ask.
func (s *Service) CheckoutExpired(ctx context.Context, userID, orgID, sessionID string) (bool, error) {
	if _, err := s.Authorize(ctx, userID, orgID); err != nil {
		return false, err
	}
	if sessionID == "" {
		return false, nil
	}
	acc, err := s.store.Account(ctx, orgID)
	if err != nil {
		return false, err
	}
	return acc.CheckoutExpired(sessionID), nil
}

// OpenPortal opens a Customer Portal session returning to the billing
// page and records PortalOpened. It refuses (billing.ErrNoCustomer) before
// any checkout completed.
func (s *Service) OpenPortal(ctx context.Context, actor Actor, orgID string) (string, error) {
	acc, err := s.authorizedAccount(ctx, actor.UserID, orgID, billing.PermBilling)
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
	_, err = s.update(ctx, orgID, actor.meta(), func(acc *billing.Account) ([]billing.Event, error) {
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
