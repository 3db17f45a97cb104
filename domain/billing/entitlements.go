package billing

import "time"

// Access is how much of its plan an organization may use.
type Access string

// Access levels.
const (
	// AccessFull: the subscription is active or trialing.
	AccessFull Access = "full"
	// AccessGrace: payment failed less than the grace period ago; the
	// plan still applies until GraceEndsAt.
	AccessGrace Access = "grace"
	// AccessFree: anything else: FREE's features and limits.
	AccessFree Access = "free"
)

// LimitMembers is the limit that bounds an organization's members, owners
// included.
const LimitMembers = "members"

// Entitlements is what an organization may use at an instant.
type Entitlements struct {
	OrgID       string
	PlanTier    Tier
	Access      Access
	Features    []string
	Limits      map[string]int64
	TrialEndsAt time.Time // zero when not trialing
	GraceEndsAt time.Time // zero when not in grace
}

// Entitlements returns what the account grants at the instant at, with
// the catalogue's features and limits: the current tier's while its
// subscription is active or trialing, or past_due or unpaid for less than
// grace since its unpaid period began ([Account.UnpaidSince]); FREE's
// otherwise.
func (a *Account) Entitlements(cat Catalogue, grace time.Duration, at time.Time) Entitlements {
	e := Entitlements{OrgID: a.orgID, PlanTier: TierFree, Access: AccessFree}
	tier := a.Tier()
	switch st := a.Status(); {
	case !tier.Paid():
	case st == StatusActive:
		e.PlanTier, e.Access = tier, AccessFull
	case st == StatusTrialing:
		e.PlanTier, e.Access, e.TrialEndsAt = tier, AccessFull, a.TrialEnd()
	case st == StatusPastDue || st == StatusUnpaid:
		if since := a.UnpaidSince(); !since.IsZero() {
			if ends := since.Add(grace); at.Before(ends) {
				e.PlanTier, e.Access, e.GraceEndsAt = tier, AccessGrace, ends
			}
		}
	}
	plan, _ := cat.Plan(e.PlanTier)
	e.Features, e.Limits = plan.Features, plan.Limits
	if e.Features == nil {
		e.Features = []string{}
	}
	if e.Limits == nil {
		e.Limits = map[string]int64{}
	}
	return e
}

// MemberLimit returns the members limit of the entitlements, and whether
// there is one.
func (e Entitlements) MemberLimit() (int64, bool) {
	n, ok := e.Limits[LimitMembers]
	return n, ok
}
