package billing

import "errors"

// Sentinel errors returned by the account's commands.
var (
	ErrInvalidTier        = errors.New("invalid plan tier")
	ErrSubscriptionExists = errors.New("organization already has a live subscription")
	ErrNoCustomer         = errors.New("organization has no Stripe customer yet")
	ErrCustomerMismatch   = errors.New("fact names a different Stripe customer than the one linked")
	ErrInvalidFact        = errors.New("invalid billing fact")
	ErrUnknownEventType   = errors.New("unknown event type")
)
