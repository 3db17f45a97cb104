package application

import (
	"context"
	"fmt"
	"sort"
	"time"

	"go.uber.org/zap"

	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// Drift is one field where the ledger and Stripe disagree. Finding, when
// set, replaces "LEDGER -> STRIPE" for drift that is not one value against
// another (an extra live subscription).
type Drift struct {
	OrgID, Field, Ledger, Stripe string
	Finding                      string
}

// String is the line reconcile prints: "ORG FIELD: LEDGER -> STRIPE".
func (d Drift) String() string {
	if d.Finding != "" {
		return fmt.Sprintf("%s %s: %s", d.OrgID, d.Field, d.Finding)
	}
	return fmt.Sprintf("%s %s: %s -> %s", d.OrgID, d.Field, d.Ledger, d.Stripe)
}

// Reconcile compares each linked org's ledger state (orgID's only when it
// is not "") with its current subscription as the Stripe API reports it
// now, and looks for other live subscriptions of the org's customers. Each
// drift is passed to report. With apply, SubscriptionSynced events citing
// the run (causationId) record what Stripe says: the current
// subscription's state, each extra live subscription as a finding, and,
// when the current subscription has ended and exactly one other is live,
// that one as the org's current subscription. Orgs whose subscriptions
// could not be read are counted as failed; the caller decides whether that
// fails the run.
func (s *Service) Reconcile(ctx context.Context, rec ports.Reconciliation, orgID string, apply bool, report func(Drift)) (ports.ReconcileRun, error) {
	run := ports.ReconcileRun{ID: NewID("rec"), StartedAt: s.clock.Now()}
	linked, err := rec.LinkedOrgs(ctx, orgID)
	if err != nil {
		return run, err
	}
	orgs := make([]string, 0, len(linked))
	for org := range linked {
		orgs = append(orgs, org)
	}
	sort.Strings(orgs)
	for _, org := range orgs {
		run.Orgs++
		acc, err := s.store.Account(ctx, org)
		if err != nil {
			return run, err
		}
		sub, extra, err := s.stripeSubscriptions(ctx, acc)
		if err != nil {
			s.logger(ctx).Warn("reconcile: cannot read the subscriptions", zap.String("orgId", org), zap.Error(err))
			run.Failed++
			continue
		}
		drifts := compare(acc, sub)
		for _, x := range extra {
			drifts = append(drifts, Drift{OrgID: org, Field: "subscription", Finding: "extra live " + x.ID})
		}
		if len(drifts) == 0 {
			continue
		}
		run.Drifted++
		for _, d := range drifts {
			report(d)
		}
		if apply {
			if err := s.correct(ctx, org, sub, extra, "reconcile:"+run.ID, len(drifts) > len(extra)); err != nil {
				s.logger(ctx).Warn("reconcile: cannot record the correction", zap.String("orgId", org), zap.Error(err))
				run.Failed++
				continue
			}
			run.Corrected++
		}
	}
	run.FinishedAt = s.clock.Now()
	return run, rec.RecordRun(ctx, run)
}

// stripeSubscriptions reads the org's current subscription and the other
// live subscriptions of its customers from Stripe.
func (s *Service) stripeSubscriptions(ctx context.Context, acc *billing.Account) (ports.Subscription, []ports.Subscription, error) {
	sub, err := s.subs.Subscription(ctx, acc.SubscriptionID())
	if err != nil {
		return sub, nil, err
	}
	var extra []ports.Subscription
	for _, cus := range acc.CustomerIDs() {
		all, err := s.subs.CustomerSubscriptions(ctx, cus)
		if err != nil {
			return sub, nil, err
		}
		for _, x := range all {
			if x.ID != sub.ID && x.CustomerID == cus && billing.Status(x.Status).Live() {
				extra = append(extra, x)
			}
		}
	}
	sort.Slice(extra, func(i, j int) bool { return extra[i].ID < extra[j].ID })
	return sub, extra, nil
}

// correct records what reconcile found: the current subscription's state
// when it drifted, and the extra live subscriptions, one of which becomes
// current when the current one has ended and it alone is live.
func (s *Service) correct(ctx context.Context, org string, sub ports.Subscription, extra []ports.Subscription, cause string, drifted bool) error {
	if drifted {
		if err := s.recordSubscription(ctx, org, sub, billing.SyncReasonReconcile, cause, false); err != nil {
			return err
		}
	}
	takeOver := billing.Status(sub.Status).Ended() && len(extra) == 1
	for _, x := range extra {
		reason := billing.SyncReasonExtraSubscription
		if takeOver {
			reason = billing.SyncReasonReconcile
		}
		if err := s.recordSubscription(ctx, org, x, reason, cause, takeOver); err != nil {
			return err
		}
	}
	return nil
}

// compare lists the fields where the ledger differs from Stripe, reading
// Stripe's subscription the way the fold would. A price that maps to no
// tier is drift of its own: the ledger cannot say what the org bought.
func compare(acc *billing.Account, sub ports.Subscription) []Drift {
	tier, cancel := billing.Tier(sub.Tier), sub.CancelAtPeriodEnd
	ended := billing.Status(sub.Status).Ended()
	if ended {
		tier, cancel = billing.TierFree, false
	}
	var out []Drift
	add := func(field, ledger, stripe string) {
		if ledger != stripe {
			out = append(out, Drift{OrgID: acc.OrgID(), Field: field, Ledger: ledger, Stripe: stripe})
		}
	}
	add("status", string(acc.Status()), sub.Status)
	switch {
	case tier != "":
		add("planTier", string(acc.Tier()), string(tier))
	case sub.PriceID != "":
		add("planTier", string(acc.Tier()), "unknown "+sub.PriceID)
	}
	if !sub.CurrentPeriodEnd.IsZero() { // unknown says nothing to correct
		add("currentPeriodEnd", stamp(acc.CurrentPeriodEnd()), stamp(sub.CurrentPeriodEnd))
	}
	add("cancelAtPeriodEnd", fmt.Sprint(acc.CancelAtPeriodEnd()), fmt.Sprint(cancel))
	return out
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return t.UTC().Format(time.RFC3339)
}
