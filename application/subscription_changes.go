package application

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// Preview is what a plan change would cost now: Stripe's upcoming invoice
// with the subscription on the new tier at ProrationDate.
type Preview struct {
	OrgID         string
	Tier          string
	AmountDue     int64
	Currency      string
	ProrationDate time.Time
	Lines         []ports.InvoiceLine
}

// PreviewPlanChange asks Stripe what moving the org's current subscription
// to tierName would invoice, prorated at now (to the second); the change
// made with that ProrationDate charges what the preview said.
func (s *Service) PreviewPlanChange(ctx context.Context, actor Actor, orgID, tierName string) (Preview, error) {
	tier, acc, err := s.planChangeAccount(ctx, actor, orgID, tierName)
	if err != nil {
		return Preview{}, err
	}
	at := s.clock.Now().UTC().Truncate(time.Second)
	inv, err := s.pay.PreviewPriceChange(ctx, ports.PriceChange{SubscriptionID: acc.SubscriptionID(), ItemID: acc.ItemID(), Tier: string(tier), ProrationDate: at})
	if err != nil {
		return Preview{}, prorationError(err)
	}
	return Preview{OrgID: orgID, Tier: string(tier), AmountDue: inv.AmountDue, Currency: inv.Currency, ProrationDate: at, Lines: inv.Lines}, nil
}

// ChangePlan moves the org's current subscription to tierName, prorated
// at prorationDate (from a preview; now when zero), and records
// PlanChangeRequested with the subscription as Stripe answered, so the
// status is on the new tier at once. The Stripe idempotency key is made of
// the account's version: a repeated request before the first is recorded
// sends the same key; after it, the tier is in force (same_plan).
func (s *Service) ChangePlan(ctx context.Context, actor Actor, orgID, tierName string, prorationDate time.Time) (ports.BillingStatus, error) {
	tier, acc, err := s.planChangeAccount(ctx, actor, orgID, tierName)
	if err != nil {
		return ports.BillingStatus{}, err
	}
	sub, err := s.pay.ChangePrice(ctx, ports.PriceChange{SubscriptionID: acc.SubscriptionID(), ItemID: acc.ItemID(), Tier: string(tier),
		ProrationDate: prorationDate, IdempotencyKey: changeKey("change", acc, string(tier), prorationDate.Unix())})
	if err != nil {
		return ports.BillingStatus{}, prorationError(err)
	}
	from := acc.Tier()
	return s.recordAnswer(ctx, actor, orgID, func(ans billing.SubscriptionAnswer) billing.Change {
		ans.Tier = tier
		if billing.Tier(sub.Tier) != tier {
			// The answer is not on the price asked for: it says nothing
			// of the change's status or period.
			ans.Status, ans.CurrentPeriodEnd = "", time.Time{}
		}
		return billing.PlanChangeRequested{SubscriptionAnswer: ans, FromTier: from, ProrationDate: prorationDate.UTC()}
	}, sub)
}

// CancelAtPeriodEnd asks Stripe to end the org's current subscription at
// the period's end and records CancellationRequested: the plan stays until
// then.
func (s *Service) CancelAtPeriodEnd(ctx context.Context, actor Actor, orgID string) (ports.BillingStatus, error) {
	return s.setCancel(ctx, actor, orgID, true)
}

// ResumeSubscription withdraws a cancellation at the period's end and
// records CancellationWithdrawn. It never unpauses.
func (s *Service) ResumeSubscription(ctx context.Context, actor Actor, orgID string) (ports.BillingStatus, error) {
	return s.setCancel(ctx, actor, orgID, false)
}

func (s *Service) setCancel(ctx context.Context, actor Actor, orgID string, cancel bool) (ports.BillingStatus, error) {
	acc, err := s.authorizedAccount(ctx, actor.UserID, orgID, billing.PermBilling)
	if err != nil {
		return ports.BillingStatus{}, err
	}
	if err := acc.CanChangeSubscription(); err != nil {
		return ports.BillingStatus{}, err
	}
	what := "resume"
	if cancel {
		what = "cancel"
	}
	sub, err := s.pay.SetCancelAtPeriodEnd(ctx, acc.SubscriptionID(), cancel, changeKey(what, acc, "", 0))
	if err != nil {
		return ports.BillingStatus{}, err
	}
	return s.recordAnswer(ctx, actor, orgID, func(ans billing.SubscriptionAnswer) billing.Change {
		ans.CancelAtPeriodEnd = cancel
		if sub.CancelAtPeriodEnd != cancel {
			ans.Status, ans.CurrentPeriodEnd = "", time.Time{} // not an answer to this request
		}
		if cancel {
			return billing.CancellationRequested{SubscriptionAnswer: ans}
		}
		return billing.CancellationWithdrawn{SubscriptionAnswer: ans}
	}, sub)
}

// planChangeAccount authorizes a plan change or its preview and checks it
// against the account as the ledger has committed it.
func (s *Service) planChangeAccount(ctx context.Context, actor Actor, orgID, tierName string) (billing.Tier, *billing.Account, error) {
	tier, err := billing.ParsePaidTier(tierName)
	if err != nil {
		return "", nil, invalid("planTier", "must be STARTER, PRO or ENTERPRISE")
	}
	acc, err := s.authorizedAccount(ctx, actor.UserID, orgID, billing.PermBilling)
	if err != nil {
		return "", nil, err
	}
	if err := acc.CanChangePlan(tier); err != nil {
		return "", nil, err
	}
	return tier, acc, nil
}

// recordAnswer records the change Stripe answered, built by change from the
// answer as the current subscription's (the org's own ids, whatever the
// answer says of them), and returns the status after it.
func (s *Service) recordAnswer(ctx context.Context, actor Actor, orgID string, change func(billing.SubscriptionAnswer) billing.Change, sub ports.Subscription) (ports.BillingStatus, error) {
	res, err := s.update(ctx, orgID, actor.meta(), func(acc *billing.Account) ([]billing.Event, error) {
		ans := billing.SubscriptionAnswer{CustomerID: acc.CustomerID(), SubscriptionID: acc.SubscriptionID(), Tier: acc.Tier(),
			PriceID: sub.PriceID, Status: billing.Status(sub.Status), CurrentPeriodEnd: sub.CurrentPeriodEnd.UTC(),
			CancelAtPeriodEnd: acc.CancelAtPeriodEnd()}
		if sub.ID == acc.SubscriptionID() {
			ans.ItemID = sub.ItemID // so that the next change needs no read of it
		}
		if _, err := billing.ParseStatus(sub.Status); err != nil || sub.ID != acc.SubscriptionID() {
			ans.Status, ans.CurrentPeriodEnd = "", time.Time{}
		}
		ev, err := acc.RecordSubscriptionAnswer(change(ans), acc.ReadAt(s.clock.Now()))
		return []billing.Event{ev}, err
	})
	if err != nil {
		return ports.BillingStatus{}, err
	}
	return res.Account.View(res.Events[len(res.Events)-1].RecordedAt), nil
}

// changeKey is the Stripe idempotency key of a change decided on acc: the
// same for a repeated request, never for a new one (the first one's event
// moves the version).
func changeKey(what string, acc *billing.Account, tier string, at int64) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s|%s|%s|%s|%d|%d", what, acc.OrgID(), acc.SubscriptionID(), tier, at, acc.Version()))
	return what + "-" + hex.EncodeToString(sum[:16])
}

// prorationError names the field a refused proration date came from.
func prorationError(err error) error {
	if errors.Is(err, ports.ErrProrationDateRefused) {
		return invalid("prorationDate", "Stripe refused this proration date; preview the change again")
	}
	return err
}
