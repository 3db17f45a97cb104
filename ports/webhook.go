package ports

import "errors"

// Errors of an inbound webhook delivery refused before anything in it is
// used: the delivery is answered 400 and nothing is recorded. The parser
// that verifies and reads a delivery (adapters/stripe) wraps them; the
// HTTP adapter that answers it checks them. They live here so that
// neither adapter imports the other.
var (
	// ErrBadSignature means the delivery's signature does not verify over
	// its exact payload, or its timestamp is out of bounds.
	ErrBadSignature = errors.New("invalid webhook signature")
	// ErrMalformedEvent means a correctly signed payload is not an event
	// the parser can read.
	ErrMalformedEvent = errors.New("malformed webhook event")
)
