package postgres

import (
	"time"

	"github.com/safeclose/billing/domain/billing"
)

// OrgsProjection keeps orgs: every organization's name and creation time.
type OrgsProjection struct{}

var _ Projection = OrgsProjection{}

// Table implements [Projection].
func (OrgsProjection) Table() string { return "orgs" }

// StreamColumn implements [Projection].
func (OrgsProjection) StreamColumn() string { return "id" }

var orgsShape = newShape("orgs", []string{"id", "name", "created_at"}, []string{"id"}, false)

func (OrgsProjection) shape() shape { return orgsShape }

// rows implements [Projection]: the org's row once it is created.
func (OrgsProjection) rows(acc *billing.Account, _ time.Time) ([][]any, error) {
	if acc.CreatedAt().IsZero() {
		return nil, nil
	}
	return [][]any{{acc.OrgID(), acc.Name(), acc.CreatedAt()}}, nil
}

// stage implements [Projection]: the row, when the events created or
// renamed the org.
func (p OrgsProjection) stage(b *batch, a appended) error {
	if a.after.Name() == a.prior.Name() && a.after.CreatedAt().Equal(a.prior.CreatedAt()) {
		return nil
	}
	rows, _ := p.rows(a.after, time.Time{})
	for _, r := range rows {
		b.add(orgsShape.live, r...)
	}
	return nil
}

// MembershipsProjection keeps memberships: who belongs to which org, with
// which role and permissions. Authorization reads it.
type MembershipsProjection struct{}

var _ Projection = MembershipsProjection{}

// Table implements [Projection].
func (MembershipsProjection) Table() string { return "memberships" }

// StreamColumn implements [Projection].
func (MembershipsProjection) StreamColumn() string { return "org_id" }

var membershipsShape = newShape("memberships", []string{"org_id", "user_id", "role", "permissions"}, []string{"org_id", "user_id"}, false)

func (MembershipsProjection) shape() shape { return membershipsShape }

func membershipRow(org string, m billing.Member) []any {
	perms := m.Permissions
	if perms == nil {
		perms = []string{}
	}
	return []any{org, m.UserID, m.Role, perms}
}

// rows implements [Projection]: every member, as the account has them.
func (MembershipsProjection) rows(acc *billing.Account, _ time.Time) ([][]any, error) {
	members := acc.Members()
	out := make([][]any, len(members))
	for i, m := range members {
		out[i] = membershipRow(acc.OrgID(), m)
	}
	return out, nil
}

// stage implements [Projection]: the members whose row the events
// changed, and the removal of those they removed.
func (p MembershipsProjection) stage(b *batch, a appended) error {
	changed, removed := a.after.MembersChangedSince(a.prior)
	for _, m := range changed {
		b.add(membershipsShape.live, membershipRow(a.after.OrgID(), m)...)
	}
	for _, user := range removed {
		b.add("DELETE FROM memberships WHERE org_id = $1 AND user_id = $2", a.after.OrgID(), user)
	}
	return nil
}
