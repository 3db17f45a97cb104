package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/safeclose/billing/ports"
)

// Reconciliation implements [ports.Reconciliation] on billing_status and
// reconcile_runs. It is safe for concurrent use.
type Reconciliation struct {
	db *bun.DB
}

var _ ports.Reconciliation = (*Reconciliation)(nil)

// NewReconciliation returns the store over db.
func NewReconciliation(db *bun.DB) *Reconciliation { return &Reconciliation{db: db} }

// LinkedOrgs implements [ports.Reconciliation].
func (r *Reconciliation) LinkedOrgs(ctx context.Context, orgID string) (map[string]string, error) {
	q := r.db.NewSelect().Table("billing_status").Column("org_id", "stripe_subscription_id").
		Where("stripe_subscription_id IS NOT NULL").Order("org_id")
	if orgID != "" {
		q = q.Where("org_id = ?", orgID)
	}
	rows, err := q.Rows(ctx)
	if err != nil {
		return nil, fmt.Errorf("list linked orgs: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var org, sub string
		if err := rows.Scan(&org, &sub); err != nil {
			return nil, err
		}
		out[org] = sub
	}
	return out, rows.Err()
}

// RecordRun implements [ports.Reconciliation].
func (r *Reconciliation) RecordRun(ctx context.Context, run ports.ReconcileRun) error {
	_, err := r.db.ExecContext(ctx, `INSERT INTO reconcile_runs (id, started_at, finished_at, orgs, drifted, corrected, failed)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, run.ID, run.StartedAt, run.FinishedAt, run.Orgs, run.Drifted, run.Corrected, run.Failed)
	if err != nil {
		return fmt.Errorf("record reconcile run: %w", err)
	}
	return nil
}

// LastRun implements [ports.Reconciliation].
func (r *Reconciliation) LastRun(ctx context.Context) (ports.ReconcileRun, error) {
	var run ports.ReconcileRun
	err := r.db.QueryRowContext(ctx, `SELECT id, started_at, finished_at, orgs, drifted, corrected, failed
		FROM reconcile_runs ORDER BY finished_at DESC LIMIT 1`).
		Scan(&run.ID, &run.StartedAt, &run.FinishedAt, &run.Orgs, &run.Drifted, &run.Corrected, &run.Failed)
	if errors.Is(err, sql.ErrNoRows) {
		return run, ports.ErrNotFound
	}
	return run, err
}
