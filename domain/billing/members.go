package billing

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Roles and permissions of an organization's members.
const (
	RoleOwner  = "owner"
	RoleMember = "member"

	PermBilling = "billing" // start checkout, open the portal, read history
	PermAudit   = "audit"   // read history
)

// AllPermissions returns every permission, in their canonical order (a new
// slice each time).
func AllPermissions() []string { return []string{PermAudit, PermBilling} }

// Member is a member of the organization as the ledger knows them.
type Member struct {
	UserID      string   `json:"userId"`
	Email       string   `json:"email"`
	Role        string   `json:"role"`
	Permissions []string `json:"permissions"`
}

// Has reports whether the member holds perm. Owners hold every permission.
func (m Member) Has(perm string) bool {
	return m.Role == RoleOwner || slices.Contains(m.Permissions, perm)
}

// NormalizePermissions checks and sorts a permission set.
func NormalizePermissions(perms []string) ([]string, error) {
	out := []string{}
	for _, p := range perms {
		if !slices.Contains(AllPermissions(), p) {
			return nil, fmt.Errorf("%w: %q", ErrInvalidPermission, p)
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Members returns the organization's members, ordered by user id.
func (a *Account) Members() []Member {
	out := make([]Member, 0, len(a.members))
	for _, m := range a.members {
		out = append(out, m)
	}
	slices.SortFunc(out, func(x, y Member) int {
		if x.UserID < y.UserID {
			return -1
		}
		if x.UserID > y.UserID {
			return 1
		}
		return 0
	})
	return out
}

// MembersChangedSince returns, sorted by user id, the members whose role or
// permissions differ from prior's (new ones included) and the user ids of
// prior's members the account no longer has. It allocates nothing when
// nothing changed, which is every Stripe fact.
func (a *Account) MembersChangedSince(prior *Account) (changed []Member, removed []string) {
	for id, m := range a.members {
		if old, ok := prior.members[id]; !ok || old.Role != m.Role || !slices.Equal(old.Permissions, m.Permissions) {
			changed = append(changed, m)
		}
	}
	for id := range prior.members {
		if _, ok := a.members[id]; !ok {
			removed = append(removed, id)
		}
	}
	slices.SortFunc(changed, func(x, y Member) int { return strings.Compare(x.UserID, y.UserID) })
	slices.Sort(removed)
	return changed, removed
}

// Member returns the member with the user id.
func (a *Account) Member(userID string) (Member, bool) {
	m, ok := a.members[userID]
	return m, ok
}

// Name returns the organization's name.
func (a *Account) Name() string { return a.name }

func (a *Account) applyMembership(c Change) {
	if a.members == nil {
		a.members = map[string]Member{}
	}
	switch e := c.(type) {
	case MemberAdded:
		a.members[e.UserID] = Member{UserID: e.UserID, Email: e.Email, Role: e.Role, Permissions: PermissionsOf(e.Role, e.Permissions)}
	case MemberPermissionsChanged:
		if m, ok := a.members[e.UserID]; ok {
			m.Permissions = PermissionsOf(m.Role, e.Permissions)
			a.members[e.UserID] = m
		}
	case MemberRemoved:
		delete(a.members, e.UserID)
	}
}

// PermissionsOf returns what a member of role holds when granted perms:
// owners hold every permission.
func PermissionsOf(role string, perms []string) []string {
	if role == RoleOwner {
		return AllPermissions()
	}
	return slices.Clone(perms)
}

// CreateOrg opens the organization's stream with its owner.
func (a *Account) CreateOrg(name string, owner Member, at time.Time) ([]Event, error) {
	if a.version != 0 {
		return nil, ErrOrgExists
	}
	if name == "" || owner.UserID == "" {
		return nil, fmt.Errorf("%w: an organization needs a name and an owner", ErrInvalidMembership)
	}
	return []Event{
		{Change: OrgCreated{Name: name, OwnerUserID: owner.UserID}, OccurredAt: at},
		{Change: MemberAdded{UserID: owner.UserID, Email: owner.Email, Role: RoleOwner, Permissions: AllPermissions()}, OccurredAt: at},
	}, nil
}

// AddMember adds a user as a member with perms, or, when already a
// member, sets their permissions. Only owners manage members. A new member
// is refused with ErrLimitReached while the organization has as many
// members as the members limit of plan (its entitlements at the time, see
// [Account.Entitlements]) or more; changing an existing member's
// permissions never is.
func (a *Account) AddMember(actor string, user Member, perms []string, plan Entitlements, at time.Time) ([]Event, error) {
	if err := a.mustOwn(actor); err != nil {
		return nil, err
	}
	perms, err := NormalizePermissions(perms)
	if err != nil {
		return nil, err
	}
	if m, ok := a.members[user.UserID]; ok {
		return a.setPermissions(m, perms, at)
	}
	if a.AtMemberLimit(plan) {
		limit, _ := plan.MemberLimit()
		return nil, fmt.Errorf("%w: %d members on the %s plan, which allows %d", ErrLimitReached, len(a.members), plan.PlanTier, limit)
	}
	return []Event{{Change: MemberAdded{UserID: user.UserID, Email: user.Email, Role: RoleMember, Permissions: perms}, OccurredAt: at}}, nil
}

// MemberCount returns how many members the organization has, owners
// included.
func (a *Account) MemberCount() int { return len(a.members) }

// AtMemberLimit reports whether plan's members limit leaves no room for
// another member: the organization has that many members or more (after a
// move to a smaller plan it keeps them all). No members limit: false.
func (a *Account) AtMemberLimit(plan Entitlements) bool {
	limit, ok := plan.MemberLimit()
	return ok && int64(len(a.members)) >= limit
}

// GrantPermission adds one permission to a member, adding the user as a
// member first when needed (within plan's members limit, as
// [Account.AddMember]).
func (a *Account) GrantPermission(actor string, user Member, perm string, plan Entitlements, at time.Time) ([]Event, error) {
	perms := []string{perm}
	if m, ok := a.members[user.UserID]; ok {
		if m.Has(perm) {
			if _, err := NormalizePermissions(perms); err != nil {
				return nil, err
			}
			return nil, a.mustOwn(actor)
		}
		perms = append(perms, m.Permissions...)
	}
	return a.AddMember(actor, user, perms, plan, at)
}

// SetPermissions replaces a member's permissions. Owners always hold
// every permission: changing theirs is refused.
func (a *Account) SetPermissions(actor, userID string, perms []string, at time.Time) ([]Event, error) {
	if err := a.mustOwn(actor); err != nil {
		return nil, err
	}
	perms, err := NormalizePermissions(perms)
	if err != nil {
		return nil, err
	}
	m, ok := a.members[userID]
	if !ok {
		return nil, ErrNotMember
	}
	return a.setPermissions(m, perms, at)
}

func (a *Account) setPermissions(m Member, perms []string, at time.Time) ([]Event, error) {
	if m.Role == RoleOwner {
		if !slices.Equal(perms, AllPermissions()) {
			return nil, ErrOwnerPermissions
		}
		return nil, nil
	}
	if slices.Equal(perms, m.Permissions) {
		return nil, nil
	}
	return []Event{{Change: MemberPermissionsChanged{UserID: m.UserID, Permissions: perms}, OccurredAt: at}}, nil
}

// RemoveMember removes a member. The organization keeps at least one owner.
func (a *Account) RemoveMember(actor, userID string, at time.Time) ([]Event, error) {
	if err := a.mustOwn(actor); err != nil {
		return nil, err
	}
	m, ok := a.members[userID]
	if !ok {
		return nil, ErrNotMember
	}
	if m.Role == RoleOwner {
		owners := 0
		for _, o := range a.members {
			if o.Role == RoleOwner {
				owners++
			}
		}
		if owners <= 1 {
			return nil, ErrLastOwner
		}
	}
	return []Event{{Change: MemberRemoved{UserID: userID}, OccurredAt: at}}, nil
}

// mustOwn refuses anyone but an owner; SystemActor (operator commands)
// acts as an owner.
func (a *Account) mustOwn(actor string) error {
	if actor == SystemActor {
		return nil
	}
	if m, ok := a.members[actor]; ok && m.Role == RoleOwner {
		return nil
	}
	return ErrNotOwner
}

// SystemActor is the actor of operator commands run on the server.
const SystemActor = "system"
