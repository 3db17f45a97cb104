package application

import (
	"errors"
	"fmt"
)

// Errors of the use cases, beyond the domain's and the ports'.
var (
	ErrUnauthenticated    = errors.New("not authenticated")
	ErrInvalidCredentials = errors.New("invalid email or password")
	ErrForbidden          = errors.New("forbidden")
	ErrRateLimited        = errors.New("too many attempts")
)

// InputError is a request that is not acceptable, naming the field.
type InputError struct {
	Field   string
	Message string
}

func (e *InputError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Message) }

func invalid(field, format string, args ...any) error {
	return &InputError{Field: field, Message: fmt.Sprintf(format, args...)}
}
