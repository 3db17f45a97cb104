// Package httperr is how the HTTP adapters (adapters/httpapi and
// adapters/web) answer a failed request: one mapping from the
// application's, the ports' and the domain's errors to an HTTP status, the
// contract's error code and a message for the client ([Of]); a 5xx logged
// once, with the request id ([Answer]); and the contract's error body
// ([Write]). It serves no route and imports no adapter, so both adapters
// use it without depending on each other.
package httperr

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/safeclose/billing/application"
	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// Error is the answer to a failed request: its status, the contract's
// error code and a message for the client. Cause, when set, is what went
// wrong underneath: it is logged with a 5xx answer and never shown.
type Error struct {
	Status  int
	Code    string
	Message string
	Cause   error
}

// Error implements error.
func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%d %s: %s: %v", e.Status, e.Code, e.Message, e.Cause)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

// New returns an answer the adapter decides itself, about the request's
// form (a body that is not JSON, a missing query parameter), with the
// message formatted from format and args.
func New(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns the answer status, code and message to cause, for a route
// that answers an error otherwise than [Of] would: the webhook answers 503
// to whatever keeps it from recording an event, so that Stripe delivers
// it again.
func Wrap(cause error, status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message, Cause: cause}
}

// Internal is the answer to an error no one expected: a 500 whose detail
// (cause) goes to the log only.
func Internal(cause error) *Error {
	return Wrap(cause, http.StatusInternalServerError, "internal", "Something went wrong on our side; try again.")
}

// Of maps err to its answer. An [*Error] in err's chain is the answer
// already; the errors of the use cases, the ports and the domain have
// theirs here; any other error is [Internal].
func Of(err error) *Error {
	var (
		answer *Error
		tooBig *http.MaxBytesError
		input  *application.InputError
	)
	switch {
	case errors.As(err, &answer):
		return answer
	case errors.As(err, &tooBig):
		return Wrap(err, http.StatusRequestEntityTooLarge, "body_too_large", "The request body is larger than 1 MiB.")
	case errors.As(err, &input):
		return Wrap(err, http.StatusBadRequest, "invalid_request", fmt.Sprintf("Field %q %s.", input.Field, input.Message))
	case errors.Is(err, ports.ErrBadSignature):
		return Wrap(err, http.StatusBadRequest, "invalid_signature", "The Stripe-Signature header does not verify.")
	case errors.Is(err, ports.ErrMalformedEvent):
		return Wrap(err, http.StatusBadRequest, "invalid_request", "The payload is not a Stripe event we can read.")
	case errors.Is(err, application.ErrUnauthenticated):
		return Wrap(err, http.StatusUnauthorized, "unauthenticated", "Log in first.")
	case errors.Is(err, application.ErrInvalidCredentials):
		return Wrap(err, http.StatusUnauthorized, "invalid_credentials", "The email or password is wrong.")
	case errors.Is(err, application.ErrForbidden):
		return Wrap(err, http.StatusForbidden, "forbidden", "You may not do this in this organization.")
	case errors.Is(err, application.ErrRateLimited):
		return Wrap(err, http.StatusTooManyRequests, "rate_limited", "Too many attempts; wait a minute.")
	case errors.Is(err, billing.ErrSubscriptionExists):
		return Wrap(err, http.StatusConflict, "subscription_exists", "This organization already has a subscription; manage it in the Customer Portal.")
	case errors.Is(err, billing.ErrNoCustomer):
		return Wrap(err, http.StatusConflict, "no_customer", "This organization has no Stripe customer yet; complete a checkout first.")
	case errors.Is(err, billing.ErrNoSubscription):
		return Wrap(err, http.StatusConflict, "no_subscription", "This organization has no live subscription; start a checkout.")
	case errors.Is(err, billing.ErrSamePlan):
		return Wrap(err, http.StatusConflict, "same_plan", "This organization is on that plan already.")
	case errors.Is(err, billing.ErrLimitReached):
		return Wrap(err, http.StatusConflict, "limit_reached", "This organization has as many members as its plan allows; remove members or change plan to add new ones.")
	case errors.Is(err, ports.ErrProviderUnavailable):
		return Wrap(err, http.StatusBadGateway, "stripe_unavailable", "Stripe could not be reached; try again.")
	case errors.Is(err, ports.ErrNotFound):
		return Wrap(err, http.StatusNotFound, "not_found", "No such member.")
	case unavailable(err):
		return Wrap(err, http.StatusServiceUnavailable, "unavailable", "The service cannot reach its database right now; try again.")
	}
	return Internal(err)
}

// unavailable reports whether err says the database cannot be reached or
// written at the moment (not that a request was wrong): a network error
// (refused, reset, timed out), a connection cut mid-answer, or one of the
// SQLSTATEs a server gives while it cannot serve: class 08 (connection
// exception), class 53 (insufficient resources: too many connections),
// 57P01–57P03 (shutting down, crashed, starting up) and 25006 (read-only:
// a standby, as during a failover).
func unavailable(err error) bool {
	var (
		netErr net.Error
		coded  interface{ SQLState() string }
	)
	switch {
	case errors.As(err, &netErr), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, driver.ErrBadConn):
		return true
	case errors.As(err, &coded):
		code := coded.SQLState()
		return strings.HasPrefix(code, "08") || strings.HasPrefix(code, "53") || strings.HasPrefix(code, "57P") || code == "25006"
	}
	return false
}

// Answer maps err to its answer (see [Of]) and logs a 5xx answer, once,
// with the request id: at error level a 500 (a failure no one expected),
// at warning level another 5xx (a dependency, Stripe or the database, out
// of reach; the caller is told to try again). Other answers are the
// client's business and are not logged. log may carry fields of the
// route (the webhook's Stripe event id).
func Answer(log *zap.Logger, r *http.Request, err error) *Error {
	a := Of(err)
	if a.Status >= 500 {
		level := zap.WarnLevel
		if a.Status == http.StatusInternalServerError {
			level = zap.ErrorLevel
		}
		log.Log(level, "request failed", zap.String("requestId", RequestID(r.Context())), zap.String("method", r.Method),
			zap.String("path", r.URL.Path), zap.Int("status", a.Status), zap.String("code", a.Code), zap.Error(err))
	}
	return a
}

// body is the contract's error body.
type body struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// Write answers err in the contract's error body,
// {"error":{"code":…,"message":…}}, with the status and code of [Answer],
// which logs it if it is a 5xx. It is the one way the JSON routes answer
// an error.
func Write(w http.ResponseWriter, r *http.Request, log *zap.Logger, err error) {
	a := Answer(log, r, err)
	var b body
	b.Error.Code, b.Error.Message = a.Code, a.Message
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(a.Status)
	_ = json.NewEncoder(w).Encode(b)
}

type requestIDKey struct{}

// WithRequestID returns ctx carrying the id of the request being served,
// which [Answer] logs a 5xx with.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the id of the request being served, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}
