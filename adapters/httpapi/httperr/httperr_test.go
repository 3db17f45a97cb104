package httperr_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/safeclose/billing/adapters/httpapi/httperr"
	"github.com/safeclose/billing/application"
	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// TestOf: every error the HTTP adapters answer, bare and wrapped, gets the
// contract's status and code.
func TestOf(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		code   string
	}{
		{httperr.New(http.StatusBadRequest, "invalid_json", "The body is not valid JSON."), 400, "invalid_json"},
		{&application.InputError{Field: "name", Message: "is required"}, 400, "invalid_request"},
		{ports.ErrMalformedEvent, 400, "invalid_request"},
		{ports.ErrBadSignature, 400, "invalid_signature"},
		{application.ErrUnauthenticated, 401, "unauthenticated"},
		{application.ErrInvalidCredentials, 401, "invalid_credentials"},
		{application.ErrForbidden, 403, "forbidden"},
		{ports.ErrNotFound, 404, "not_found"},
		{billing.ErrSubscriptionExists, 409, "subscription_exists"},
		{billing.ErrNoCustomer, 409, "no_customer"},
		{billing.ErrLimitReached, 409, "limit_reached"},
		{&http.MaxBytesError{Limit: 1 << 20}, 413, "body_too_large"},
		{httperr.New(http.StatusUnsupportedMediaType, "unsupported_media_type", "Send the body as application/json."), 415, "unsupported_media_type"},
		{application.ErrRateLimited, 429, "rate_limited"},
		{ports.ErrProviderUnavailable, 502, "stripe_unavailable"},
		{httperr.Wrap(errors.New("connection refused"), http.StatusServiceUnavailable, "unavailable", "The database is unreachable."), 503, "unavailable"},
		// An answer the route chose wins over the mapping of its cause.
		{httperr.Wrap(ports.ErrProviderUnavailable, http.StatusServiceUnavailable, "stripe_unavailable", "Try later."), 503, "stripe_unavailable"},
		// The database out of reach, however the driver says it.
		{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, 503, "unavailable"},
		{io.ErrUnexpectedEOF, 503, "unavailable"},
		{&pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}, 503, "unavailable"},
		{&pgconn.PgError{Code: "57P03", Message: "the database system is starting up"}, 503, "unavailable"},
		{&pgconn.PgError{Code: "08006"}, 503, "unavailable"},
		{&pgconn.PgError{Code: "53300", Message: "too many connections"}, 503, "unavailable"},
		{&pgconn.PgError{Code: "25006", Message: "cannot execute INSERT in a read-only transaction"}, 503, "unavailable"},
		{&pgconn.PgError{Code: "23505", Message: "duplicate key"}, 500, "internal"},
		{errors.New("pq: relation does not exist"), 500, "internal"},
		{httperr.Internal(ports.ErrNotFound), 500, "internal"},
	} {
		for _, err := range []error{tc.err, fmt.Errorf("do something: %w", tc.err)} {
			a := httperr.Of(err)
			if a.Status != tc.status || a.Code != tc.code || a.Message == "" {
				t.Errorf("%v: %d %q %q, want %d %q", err, a.Status, a.Code, a.Message, tc.status, tc.code)
			}
		}
	}
	if a := httperr.Of(&application.InputError{Field: "name", Message: "is required"}); a.Message != `Field "name" is required.` {
		t.Errorf("input error message %q", a.Message)
	}
}

// TestWrite: the contract's body; a 5xx logged once with the request id
// and its cause, which the client never sees; a 4xx not logged.
func TestWrite(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		logged bool
		level  zapcore.Level // of the one log line
	}{
		{application.ErrForbidden, 403, false, 0},
		{errors.New("pq: secret detail"), 500, true, zap.ErrorLevel},
		{fmt.Errorf("open portal: %w: stripe answered 500", ports.ErrProviderUnavailable), 502, true, zap.WarnLevel},
	} {
		core, logs := observer.New(zap.DebugLevel)
		r := httptest.NewRequest(http.MethodPost, "/api/billing/portal", nil)
		r = r.WithContext(httperr.WithRequestID(r.Context(), "req_1"))
		rec := httptest.NewRecorder()
		httperr.Write(rec, r, zap.New(core), tc.err)
		var body struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if rec.Code != tc.status || rec.Header().Get("Content-Type") != "application/json" || json.Unmarshal(rec.Body.Bytes(), &body) != nil ||
			body.Error.Code == "" || body.Error.Message == "" {
			t.Errorf("%v: %d %q %s", tc.err, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
		if strings.Contains(rec.Body.String(), "pq:") || strings.Contains(rec.Body.String(), "stripe answered") {
			t.Errorf("%v: detail in the body: %s", tc.err, rec.Body)
		}
		lines := logs.All()
		if !tc.logged {
			if len(lines) != 0 {
				t.Errorf("%v: logged %v", tc.err, lines)
			}
			continue
		}
		if len(lines) != 1 {
			t.Fatalf("%v: %d log lines, want 1", tc.err, len(lines))
		}
		f := lines[0].ContextMap()
		if lines[0].Level != tc.level || f["requestId"] != "req_1" || f["status"] != int64(tc.status) || !strings.Contains(fmt.Sprint(f["error"]), tc.err.Error()) {
			t.Errorf("%v: log line %v %v", tc.err, lines[0].Level, f)
		}
	}
}
