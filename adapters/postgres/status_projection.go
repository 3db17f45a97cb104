package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	gojson "github.com/goccy/go-json"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/jackc/pgx/v5"
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
}

var (
	_ Projection                = (*StatusProjection)(nil)
	_ ports.BillingStatusReader = (*StatusProjection)(nil)
)

// NewStatusProjection returns the projection, reading through db.
func NewStatusProjection(db *bun.DB) *StatusProjection { return &StatusProjection{db: db} }

type statusRow struct {
	bun.BaseModel `bun:"table:billing_status"`

	OrgID                string     `bun:"org_id,pk"`
	PlanTier             string     `bun:"plan_tier"`
	Status               string     `bun:"status"`
	CurrentPeriodEnd     *time.Time `bun:"current_period_end"`
	CancelAtPeriodEnd    bool       `bun:"cancel_at_period_end,notnull"`
	StripeCustomerID     *string    `bun:"stripe_customer_id"`
	StripeSubscriptionID *string    `bun:"stripe_subscription_id"`
	LedgerVersion        int64      `bun:"ledger_version"`
	UpdatedAt            time.Time  `bun:"updated_at"`
	Snapshot             jsonText   `bun:"snapshot"`
}

// Name implements [Projection].
func (*StatusProjection) Name() string { return "billing_status" }

// Table implements [Projection].
func (*StatusProjection) Table() string { return "billing_status" }

// StreamColumn implements [Projection].
func (*StatusProjection) StreamColumn() string { return "org_id" }

// stage implements [Projection]: the account after the events, with its
// snapshot.
func (p *StatusProjection) stage(b *batch, a appended) error {
	row, err := newStatusRow(a.after, a.events[len(a.events)-1].RecordedAt)
	if err != nil {
		return err
	}
	b.add(`INSERT INTO billing_status (org_id, plan_tier, status, current_period_end, cancel_at_period_end,
		stripe_customer_id, stripe_subscription_id, ledger_version, updated_at, snapshot)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (org_id) DO UPDATE SET plan_tier = EXCLUDED.plan_tier, status = EXCLUDED.status,
		current_period_end = EXCLUDED.current_period_end, cancel_at_period_end = EXCLUDED.cancel_at_period_end,
		stripe_customer_id = EXCLUDED.stripe_customer_id, stripe_subscription_id = EXCLUDED.stripe_subscription_id,
		ledger_version = EXCLUDED.ledger_version, updated_at = EXCLUDED.updated_at, snapshot = EXCLUDED.snapshot`,
		row.OrgID, row.PlanTier, row.Status, row.CurrentPeriodEnd, row.CancelAtPeriodEnd,
		row.StripeCustomerID, row.StripeSubscriptionID, row.LedgerVersion, row.UpdatedAt, row.Snapshot)
	return nil
}

// newStatusRow is the account's row. Snapshots are encoded with
// goccy/go-json everywhere (live and rebuilt rows alike, byte for byte, as
// the rebuild's exactness test holds), and read back with encoding/json.
func newStatusRow(acc *billing.Account, updatedAt time.Time) (statusRow, error) {
	snap, err := acc.MarshalSnapshotWith(gojson.Marshal)
	if err != nil {
		return statusRow{}, err
	}
	r := statusRow{
		OrgID: acc.OrgID(), PlanTier: string(acc.Tier()), Status: string(acc.Status()),
		CancelAtPeriodEnd: acc.CancelAtPeriodEnd(), LedgerVersion: acc.Version(),
		UpdatedAt: updatedAt, Snapshot: snap,
	}
	if t := acc.CurrentPeriodEnd(); !t.IsZero() {
		r.CurrentPeriodEnd = &t
	}
	if c := acc.CustomerID(); c != "" {
		r.StripeCustomerID = &c
	}
	if s := acc.SubscriptionID(); s != "" {
		r.StripeSubscriptionID = &s
	}
	return r, nil
}

func upsertStatus(ctx context.Context, db bun.IDB, table string, rows []statusRow) error {
	_, err := db.NewInsert().Model(&rows).ModelTableExpr(table).
		On("CONFLICT (org_id) DO UPDATE").
		Set("plan_tier = EXCLUDED.plan_tier").
		Set("status = EXCLUDED.status").
		Set("current_period_end = EXCLUDED.current_period_end").
		Set("cancel_at_period_end = EXCLUDED.cancel_at_period_end").
		Set("stripe_customer_id = EXCLUDED.stripe_customer_id").
		Set("stripe_subscription_id = EXCLUDED.stripe_subscription_id").
		Set("ledger_version = EXCLUDED.ledger_version").
		Set("updated_at = EXCLUDED.updated_at").
		Set("snapshot = EXCLUDED.snapshot").
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("upsert %s: %w", table, err)
	}
	return nil
}

// Status implements [ports.BillingStatusReader].
func (p *StatusProjection) Status(ctx context.Context, orgID string) (ports.BillingStatus, error) {
	var r statusRow
	err := p.db.NewSelect().Model(&r).Where("org_id = ?", orgID).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return ports.BillingStatus{}, ports.ErrNotFound
	}
	if err != nil {
		return ports.BillingStatus{}, fmt.Errorf("read billing status: %w", err)
	}
	return r.status(), nil
}

func (r statusRow) status() ports.BillingStatus {
	s := ports.BillingStatus{
		OrgID: r.OrgID, PlanTier: r.PlanTier, Status: r.Status, CancelAtPeriodEnd: r.CancelAtPeriodEnd,
		LedgerVersion: r.LedgerVersion, UpdatedAt: r.UpdatedAt.UTC(),
	}
	if r.CurrentPeriodEnd != nil {
		s.CurrentPeriodEnd = r.CurrentPeriodEnd.UTC()
	}
	if r.StripeCustomerID != nil {
		s.StripeCustomerID = *r.StripeCustomerID
	}
	if r.StripeSubscriptionID != nil {
		s.StripeSubscriptionID = *r.StripeSubscriptionID
	}
	return s
}

// NewBuilder implements [Projection].
func (*StatusProjection) NewBuilder() Builder {
	return &statusBuilder{accounts: map[string]*statusAcc{}}
}

type statusAcc struct {
	acc       *billing.Account
	updatedAt time.Time
	version   int64
}

type statusBuilder struct {
	accounts map[string]*statusAcc
}

func (b *statusBuilder) Add(e ports.StoredEvent, de billing.Event) error {
	sa := b.accounts[e.StreamID]
	if sa == nil {
		sa = &statusAcc{acc: billing.NewAccount(e.StreamID)}
		b.accounts[e.StreamID] = sa
	}
	if e.Version > sa.version {
		sa.version, sa.updatedAt = e.Version, e.RecordedAt
	}
	sa.acc.Apply(de)
	return nil
}

func (b *statusBuilder) Write(ctx context.Context, db bun.IDB, table string) error {
	const batch = 1000
	rows := make([]statusRow, 0, batch)
	for _, sa := range b.accounts {
		r, err := newStatusRow(sa.acc, sa.updatedAt)
		if err != nil {
			return err
		}
		rows = append(rows, r)
		if len(rows) == batch {
			if err := upsertStatus(ctx, db, table, rows); err != nil {
				return err
			}
			rows = rows[:0]
		}
	}
	if len(rows) > 0 {
		return upsertStatus(ctx, db, table, rows)
	}
	return nil
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
	err := p.db.QueryRowContext(ctx, `SELECT st.snapshot, st.ledger_version, e.hash FROM billing_status st
		LEFT JOIN billing_events e ON e.stream_id = st.org_id AND e.stream_version = st.ledger_version
		WHERE st.org_id = ?`, stream).Scan(&snap, &version, &hash)
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

// Copy implements [Copier]: the rebuilt rows by COPY, snapshots encoded
// as [newStatusRow] encodes them.
func (b *statusBuilder) Copy(ctx context.Context, conn *pgx.Conn, table string) error {
	rows := make([][]any, 0, len(b.accounts))
	for _, sa := range b.accounts {
		acc := sa.acc
		snap, err := acc.MarshalSnapshotWith(gojson.Marshal)
		if err != nil {
			return err
		}
		var end, cus, sub any
		if t := acc.CurrentPeriodEnd(); !t.IsZero() {
			end = t
		}
		if c := acc.CustomerID(); c != "" {
			cus = c
		}
		if s := acc.SubscriptionID(); s != "" {
			sub = s
		}
		rows = append(rows, []any{acc.OrgID(), string(acc.Tier()), string(acc.Status()), end, acc.CancelAtPeriodEnd(),
			cus, sub, acc.Version(), sa.updatedAt, string(snap)})
	}
	_, err := conn.CopyFrom(ctx, pgx.Identifier{table}, []string{"org_id", "plan_tier", "status", "current_period_end",
		"cancel_at_period_end", "stripe_customer_id", "stripe_subscription_id", "ledger_version", "updated_at", "snapshot"},
		pgx.CopyFromRows(rows))
	return err
}
