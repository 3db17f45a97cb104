package application

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// History page sizes.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// HistoryPage is one page of an org's ledger.
type HistoryPage struct {
	Events     []ports.StoredEvent
	NextCursor string // "" on the last page
}

// EncodeCursor makes the opaque cursor that resumes after version.
func EncodeCursor(version int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("v1:" + strconv.FormatInt(version, 10)))
}

// DecodeCursor reads a cursor made by EncodeCursor.
func DecodeCursor(c string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, invalid("after", "is not a cursor from this API")
	}
	v, ok := strings.CutPrefix(string(b), "v1:")
	n, err := strconv.ParseInt(v, 10, 64)
	if !ok || err != nil || n < 0 {
		return 0, invalid("after", "is not a cursor from this API")
	}
	return n, nil
}

// History returns a page of the org's ledger (billing or audit holders).
func (s *Service) History(ctx context.Context, userID string, q ports.HistoryQuery) (HistoryPage, error) {
	if _, err := s.AuthorizeAny(ctx, userID, q.OrgID, billing.PermBilling, billing.PermAudit); err != nil {
		return HistoryPage{}, err
	}
	if q.Limit < 1 || q.Limit > MaxPageSize {
		return HistoryPage{}, invalid("limit", "must be 1 to %d", MaxPageSize)
	}
	want := q.Limit
	q.Limit++ // one more tells whether there is a next page
	events, err := s.history.History(ctx, q)
	if err != nil {
		return HistoryPage{}, err
	}
	page := HistoryPage{Events: events}
	if len(events) > want {
		page.Events = events[:want]
		page.NextCursor = EncodeCursor(page.Events[want-1].Version)
	}
	return page, nil
}

// StatusAt answers what the org's status was made of the facts that had
// happened by asOf (their occurredAt: Stripe's time for Stripe facts) and
// that the service had recorded by knownAt. A zero bound is no bound.
func (s *Service) StatusAt(ctx context.Context, userID, orgID string, asOf, knownAt time.Time) (ports.BillingStatus, error) {
	if _, err := s.Authorize(ctx, userID, orgID); err != nil {
		return ports.BillingStatus{}, err
	}
	known, err := s.history.AccountAt(ctx, orgID, asOf, knownAt)
	if err != nil {
		return ports.BillingStatus{}, err
	}
	return known.Account.View(known.UpdatedAt), nil
}
