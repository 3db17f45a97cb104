package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	gojson "github.com/goccy/go-json"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/uptrace/bun"

	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// StatusProjection keeps billing_status, the read model behind
// GET /api/billing/status. Each row carries the account's snapshot, so an
// append folds only its new events. It also serves [ports.BillingStatusReader].
type StatusProjection struct {
	db *bun.DB
	// heads is the store's, when a store keeps this projection.
	heads *lru.Cache[string, streamHead]
	// every is how far apart its periodic snapshots are (SnapshotEvery).
	every int64
}

var (
	_ Projection                = (*StatusProjection)(nil)
	_ ports.BillingStatusReader = (*StatusProjection)(nil)
)

// NewStatusProjection returns the projection, reading through db.
func NewStatusProjection(db *bun.DB) *StatusProjection {
	return &StatusProjection{db: db, every: SnapshotEvery}
}

// Table implements [Projection].
func (*StatusProjection) Table() string { return "billing_status" }

// StreamColumn implements [Projection].
func (*StatusProjection) StreamColumn() string { return "org_id" }

var statusShape = newShape("billing_status", []string{"org_id", "plan_tier", "status", "current_period_end", "cancel_at_period_end",
	"stripe_customer_id", "stripe_subscription_id", "ledger_version", "updated_at", "snapshot", "trial_end", "payment_action_url"}, []string{"org_id"}, false)

// statusSnapshotColumn is where the snapshot is in a status row.
var statusSnapshotColumn = slices.Index(statusShape.columns, "snapshot")

func (*StatusProjection) shape() shape { return statusShape }

// rows implements [Projection]: the account's status, with its snapshot.
// Snapshots are encoded with goccy/go-json (live and rebuilt rows alike,
// byte for byte, as the rebuild's exactness test holds), and read back
// with encoding/json.
func (*StatusProjection) rows(acc *billing.Account, updatedAt time.Time) ([][]any, error) {
	snap, err := acc.MarshalSnapshotWith(gojson.Marshal)
	if err != nil {
		return nil, err
	}
	v := acc.View(updatedAt)
	return [][]any{{v.OrgID, v.PlanTier, v.Status, nullable(v.CurrentPeriodEnd), v.CancelAtPeriodEnd,
		nullable(v.StripeCustomerID), nullable(v.StripeSubscriptionID), v.LedgerVersion, v.UpdatedAt, jsonText(snap),
		nullable(v.TrialEnd), nullable(v.PaymentActionURL)}}, nil
}

// stage implements [Projection]: the account after the events, and a
// periodic snapshot of it when the append crosses a multiple of the
// interval (the same snapshot, encoded once).
func (p *StatusProjection) stage(b *batch, a appended) error {
	rows, err := p.rows(a.after, a.events[len(a.events)-1].RecordedAt)
	if err != nil {
		return err
	}
	b.add(statusShape.live, rows[0]...)
	if first, last := a.events[0], a.events[len(a.events)-1]; crossesSnapshot(first.Version-1, last.Version, p.every) {
		b.add(snapshotInsert, last.StreamID, last.Version, rows[0][statusSnapshotColumn])
	}
	return nil
}

// Status implements [ports.BillingStatusReader]: the row without its
// snapshot, which only the store reads.
func (p *StatusProjection) Status(ctx context.Context, orgID string) (ports.BillingStatus, error) {
	var (
		s                                            ports.BillingStatus
		periodEnd, trialEnd                          sql.NullTime
		customerID, subscriptionID, paymentActionURL sql.NullString
	)
	err := p.db.DB.QueryRowContext(ctx, `SELECT org_id, plan_tier, status, current_period_end, cancel_at_period_end,
		stripe_customer_id, stripe_subscription_id, ledger_version, updated_at, trial_end, payment_action_url
		FROM billing_status WHERE org_id = $1`, prepared(orgID)...).Scan(&s.OrgID, &s.PlanTier, &s.Status, &periodEnd, &s.CancelAtPeriodEnd,
		&customerID, &subscriptionID, &s.LedgerVersion, &s.UpdatedAt, &trialEnd, &paymentActionURL)
	if errors.Is(err, sql.ErrNoRows) {
		return ports.BillingStatus{}, ports.ErrNotFound
	}
	if err != nil {
		return ports.BillingStatus{}, fmt.Errorf("read billing status: %w", err)
	}
	// NULL is the zero time or "", as the status body leaves them out.
	s.UpdatedAt, s.CurrentPeriodEnd, s.TrialEnd = s.UpdatedAt.UTC(), utcOrZero(periodEnd), utcOrZero(trialEnd)
	s.StripeCustomerID, s.StripeSubscriptionID, s.PaymentActionURL = customerID.String, subscriptionID.String, paymentActionURL.String
	return s, nil
}

// utcOrZero is t in UTC, or the zero time for NULL.
func utcOrZero(t sql.NullTime) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

// Snapshot returns the stream's account snapshot, or ports.ErrNotFound.
// The snapshot is written in the
// same transaction as the events it folds, so its version is the stream's.
// The hash of the event at that version comes with it, for the store's
// next append (see [Store]).
func (p *StatusProjection) Snapshot(ctx context.Context, stream string) ([]byte, error) {
	var (
		snap, hash []byte
		version    int64
	)
	err := p.db.DB.QueryRowContext(ctx, `SELECT st.snapshot, st.ledger_version, e.hash FROM billing_status st
		LEFT JOIN billing_events e ON e.stream_id = st.org_id AND e.stream_version = st.ledger_version
		WHERE st.org_id = $1`, prepared(stream)...).Scan(&snap, &version, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ports.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read snapshot: %w", err)
	}
	if p.heads != nil && hash != nil {
		p.heads.Add(stream, streamHead{version: version, hash: hash})
	}
	return snap, nil
}
