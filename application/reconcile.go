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

// Drift is one field where the ledger and Stripe disagree.
type Drift struct {
	OrgID, Field, Ledger, Stripe string
}

// Reconcile compares each linked org's ledger state (orgID's only when it
// is not "") with its subscription as the Stripe API reports it now. Each
// drifted field is passed to report. With apply, a SubscriptionSynced
// event citing the run (causationId) records Stripe's state. Orgs whose
// subscription could not be read are counted as failed; the caller decides
// whether that fails the run.
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
		acc, err := s.loadAccount(ctx, org)
		if err != nil {
			return run, err
		}
		sub, err := s.subs.Subscription(ctx, acc.SubscriptionID())
		if err != nil {
			s.logger(ctx).Warn("reconcile: cannot read the subscription", zap.String("orgId", org), zap.Error(err))
			run.Failed++
			continue
		}
		drifts := compare(acc, sub)
		if len(drifts) == 0 {
			continue
		}
		run.Drifted++
		for _, d := range drifts {
			report(d)
		}
		if apply {
			if err := s.SyncSubscription(ctx, org, sub.ID, billing.SyncReasonReconcile, "reconcile:"+run.ID); err != nil {
				run.Failed++
				continue
			}
			run.Corrected++
		}
	}
	run.FinishedAt = s.clock.Now()
	return run, rec.RecordRun(ctx, run)
}

// compare lists the fields where the ledger differs from Stripe, reading
// Stripe's subscription the way the fold would.
func compare(acc *billing.Account, sub ports.Subscription) []Drift {
	tier, cancel := billing.Tier(sub.Tier), sub.CancelAtPeriodEnd
	if billing.Status(sub.Status).Ended() {
		tier, cancel = billing.TierFree, false
	}
	if tier == "" {
		tier = acc.Tier() // a price that is not ours says nothing of the tier
	}
	var out []Drift
	add := func(field, ledger, stripe string) {
		if ledger != stripe {
			out = append(out, Drift{OrgID: acc.OrgID(), Field: field, Ledger: ledger, Stripe: stripe})
		}
	}
	add("status", string(acc.Status()), sub.Status)
	add("planTier", string(acc.Tier()), string(tier))
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
