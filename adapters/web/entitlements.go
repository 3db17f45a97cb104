package web

import (
	"context"
	"time"

	"github.com/safeclose/billing/domain/billing"
)

// graceView is the grace period the billing page announces: the tier whose
// features stay, and the day they stay until.
type graceView struct {
	Tier, Ends string
}

// seatsView is the members note: the org has Members members on a plan
// for Limit, so it cannot add more (Over: it has more than Limit, after a
// move to a smaller plan).
type seatsView struct {
	Members int
	Limit   int64
	Over    bool
}

// entitlements fills what the org's entitlements (judged now) tell the
// page: the grace banner while a failed payment leaves the plan in force
// for a while, and the members note while the plan has no room for
// another member. The past-due banner stays for a past_due org whose
// grace is over.
func (p *Pages) entitlements(ctx context.Context, userID, org string, v *billingView) error {
	e, err := p.App.Entitlements(ctx, userID, org, time.Time{})
	if err != nil {
		return err
	}
	// A payment waiting for confirmation has its own banner, which says
	// what to do; the grace banner would compete with it.
	if e.Access == billing.AccessGrace && v.Lifecycle.ActionURL == "" {
		v.Grace = &graceView{Tier: string(e.PlanTier), Ends: e.GraceEndsAt.UTC().Format("2 January 2006")}
	}
	limit, ok := e.MemberLimit()
	if !ok {
		return nil
	}
	members, err := p.App.Members(ctx, userID, org)
	if err != nil {
		return err
	}
	if n := len(members); int64(n) >= limit {
		v.Seats = &seatsView{Members: n, Limit: limit, Over: int64(n) > limit}
	}
	return nil
}
