package application

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// Actor is who acts: a logged-in user, or the operator (UserID "").
type Actor struct {
	UserID    string
	RequestID string
}

func (a Actor) meta() ports.Metadata {
	if a.UserID == "" {
		return ports.Metadata{Actor: "system:cli"}
	}
	return ports.Metadata{Actor: "user:" + a.UserID, RequestID: a.RequestID}
}

func (a Actor) domainActor() string {
	if a.UserID == "" {
		return billing.SystemActor
	}
	return a.UserID
}

// Authorize returns the caller's membership of the org when it grants
// every permission in need (none: any member). An unknown org and a
// foreign org are both ErrForbidden, so ids cannot be probed.
func (s *Service) Authorize(ctx context.Context, userID, orgID string, need ...string) (ports.Membership, error) {
	m, err := s.member.Membership(ctx, orgID, userID)
	if errors.Is(err, ports.ErrNotFound) {
		return ports.Membership{}, ErrForbidden
	}
	if err != nil {
		return ports.Membership{}, err
	}
	for _, p := range need {
		if !member(m).Has(p) {
			return ports.Membership{}, ErrForbidden
		}
	}
	return m, nil
}

// authorizedAccount reads the org's account as the ledger has committed it
// and authorizes the user on the members it holds, as [Service.Authorize]
// would: the memberships read model is a function of the same account,
// committed with it, so one read answers both. An unknown org has no
// members: 403, as a foreign one.
func (s *Service) authorizedAccount(ctx context.Context, userID, orgID string, need ...string) (*billing.Account, error) {
	acc, err := s.store.Account(ctx, orgID)
	if err != nil {
		return nil, err
	}
	m, ok := acc.Member(userID)
	if !ok {
		return nil, ErrForbidden
	}
	for _, p := range need {
		if !m.Has(p) {
			return nil, ErrForbidden
		}
	}
	return acc, nil
}

// member is m as the domain's permission rule reads it.
func member(m ports.Membership) billing.Member {
	return billing.Member{UserID: m.UserID, Email: m.Email, Role: m.Role, Permissions: m.Permissions}
}

// AuthorizeAny is Authorize for a caller who needs one of the
// permissions in anyOf (none: no caller passes).
func (s *Service) AuthorizeAny(ctx context.Context, userID, orgID string, anyOf ...string) (ports.Membership, error) {
	m, err := s.Authorize(ctx, userID, orgID)
	if err != nil {
		return m, err
	}
	if slices.ContainsFunc(anyOf, member(m).Has) {
		return m, nil
	}
	return ports.Membership{}, ErrForbidden
}

// CreateOrg creates an organization owned by the user with ownerEmail (the
// acting user for the API) and returns its id.
func (s *Service) CreateOrg(ctx context.Context, actor Actor, name, ownerEmail string) (string, error) {
	name = strings.TrimSpace(name)
	if err := checkText("name", name); err != nil {
		return "", err
	}
	if name == "" || len(name) > 200 {
		return "", invalid("name", "must be 1 to 200 characters")
	}
	owner, err := s.userByEmail(ctx, ownerEmail, "owner")
	if err != nil {
		return "", err
	}
	org := NewID("org")
	_, err = s.update(ctx, org, actor.meta(), func(acc *billing.Account) ([]billing.Event, error) {
		return acc.CreateOrg(name, billing.Member{UserID: owner.ID, Email: owner.Email}, s.clock.Now())
	})
	return org, err
}

func (s *Service) userByEmail(ctx context.Context, email, field string) (ports.User, error) {
	if err := checkText(field, email); err != nil {
		return ports.User{}, err
	}
	u, err := s.users.UserByEmail(ctx, email)
	if errors.Is(err, ports.ErrNotFound) {
		return ports.User{}, invalid(field, "no user has this email")
	}
	return u, err
}

// Members lists an org's members (any member may).
func (s *Service) Members(ctx context.Context, userID, orgID string) ([]ports.Membership, error) {
	if _, err := s.Authorize(ctx, userID, orgID); err != nil {
		return nil, err
	}
	return s.member.Members(ctx, orgID)
}

// AddMember adds the user with the email to the org with perms (owners
// only), or sets their permissions when they are a member already. A new
// member is refused with billing.ErrLimitReached while the org has as many
// members as its entitlements' members limit, or more: the decision is the
// store's, on the committed account, so two concurrent adds cannot both
// pass it.
func (s *Service) AddMember(ctx context.Context, actor Actor, orgID, email string, perms []string) (ports.Membership, error) {
	if err := s.mustOwn(ctx, actor, orgID); err != nil {
		return ports.Membership{}, err
	}
	u, err := s.userByEmail(ctx, email, "email")
	if err != nil {
		return ports.Membership{}, err
	}
	if err := s.membershipUpdate(ctx, actor, orgID, func(acc *billing.Account) ([]billing.Event, error) {
		now := s.clock.Now()
		return acc.AddMember(actor.domainActor(), billing.Member{UserID: u.ID, Email: u.Email}, perms, s.entitlements(acc, now), now)
	}); err != nil {
		return ports.Membership{}, err
	}
	return s.member.Membership(ctx, orgID, u.ID)
}

// GrantPermission gives the user with the email perm in the org, adding
// them as a member if needed, within the members limit as AddMember
// (operator command).
func (s *Service) GrantPermission(ctx context.Context, orgID, email, perm string) error {
	if ok, err := s.orgs.OrgExists(ctx, orgID); err != nil || !ok {
		if err == nil {
			err = invalid("org", "no organization has this id")
		}
		return err
	}
	u, err := s.userByEmail(ctx, email, "email")
	if err != nil {
		return err
	}
	return s.membershipUpdate(ctx, Actor{}, orgID, func(acc *billing.Account) ([]billing.Event, error) {
		now := s.clock.Now()
		return acc.GrantPermission(billing.SystemActor, billing.Member{UserID: u.ID, Email: u.Email}, perm, s.entitlements(acc, now), now)
	})
}

// SetPermissions replaces a member's permissions (owners only).
func (s *Service) SetPermissions(ctx context.Context, actor Actor, orgID, userID string, perms []string) (ports.Membership, error) {
	if err := s.mustOwn(ctx, actor, orgID); err != nil {
		return ports.Membership{}, err
	}
	if err := s.membershipUpdate(ctx, actor, orgID, func(acc *billing.Account) ([]billing.Event, error) {
		return acc.SetPermissions(actor.domainActor(), userID, perms, s.clock.Now())
	}); err != nil {
		return ports.Membership{}, err
	}
	return s.member.Membership(ctx, orgID, userID)
}

// RemoveMember removes a member (owners only).
func (s *Service) RemoveMember(ctx context.Context, actor Actor, orgID, userID string) error {
	if err := s.mustOwn(ctx, actor, orgID); err != nil {
		return err
	}
	return s.membershipUpdate(ctx, actor, orgID, func(acc *billing.Account) ([]billing.Event, error) {
		return acc.RemoveMember(actor.domainActor(), userID, s.clock.Now())
	})
}

// mustOwn: a non-member gets ErrForbidden like an unknown org; a member
// who is not an owner too.
func (s *Service) mustOwn(ctx context.Context, actor Actor, orgID string) error {
	m, err := s.Authorize(ctx, actor.UserID, orgID)
	if err != nil {
		return err
	}
	if m.Role != billing.RoleOwner {
		return ErrForbidden
	}
	return nil
}

func (s *Service) membershipUpdate(ctx context.Context, actor Actor, orgID string, decide ports.Decide) error {
	_, err := s.update(ctx, orgID, actor.meta(), decide)
	switch {
	case errors.Is(err, billing.ErrNotOwner):
		return ErrForbidden
	case errors.Is(err, billing.ErrNotMember):
		return ports.ErrNotFound
	case errors.Is(err, billing.ErrInvalidPermission):
		return invalid("permissions", "each must be billing or audit")
	case errors.Is(err, billing.ErrOwnerPermissions):
		return invalid("permissions", "owners always hold billing and audit")
	case errors.Is(err, billing.ErrLastOwner):
		return invalid("userId", "an organization keeps at least one owner")
	}
	return err
}

// OrgsOf returns the user's organizations.
func (s *Service) OrgsOf(ctx context.Context, userID string) ([]ports.Membership, error) {
	return s.member.OrgsOf(ctx, userID)
}
