package billing

import "errors"

// Sentinel errors returned by the account's commands.
var (
	ErrInvalidTier        = errors.New("invalid plan tier")
	ErrSubscriptionExists = errors.New("organization already has a live subscription")
	ErrNoCustomer         = errors.New("organization has no Stripe customer yet")
	ErrNoSubscription     = errors.New("organization has no live subscription")
	ErrSamePlan           = errors.New("the plan asked for is the plan in force")
	ErrCustomerMismatch   = errors.New("fact names a different Stripe customer than the one linked")
	ErrInvalidFact        = errors.New("invalid billing fact")
	ErrUnknownEventType   = errors.New("unknown event type")
	ErrOrgExists          = errors.New("organization already exists")
	ErrNotOwner           = errors.New("only owners manage members")
	ErrNotMember          = errors.New("not a member of the organization")
	ErrLastOwner          = errors.New("an organization keeps at least one owner")
	ErrOwnerPermissions   = errors.New("owners always hold every permission")
	ErrInvalidPermission  = errors.New("invalid permission")
	ErrInvalidMembership  = errors.New("invalid membership")
	ErrLimitReached       = errors.New("the plan's members limit is reached")
)
