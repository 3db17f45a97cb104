package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/safeclose/billing/ports"
)

// Maintenance removes what the service no longer needs, in small batches,
// each its own short transaction, so that no lock is held for long while
// the service runs. It is safe for concurrent use.
type Maintenance struct{ db *bun.DB }

var _ ports.Maintenance = (*Maintenance)(nil)

// NewMaintenance returns the maintenance of db.
func NewMaintenance(db *bun.DB) *Maintenance { return &Maintenance{db: db} }

// DeleteExpiredSessions implements [ports.Maintenance].
func (m *Maintenance) DeleteExpiredSessions(ctx context.Context, now time.Time, batch int) (int64, error) {
	return m.inBatches(ctx, batch, `DELETE FROM sessions WHERE token_hash IN (
		SELECT token_hash FROM sessions WHERE expires_at <= ? LIMIT ? FOR UPDATE SKIP LOCKED)`, now)
}

// PruneInboxPayloads implements [ports.Maintenance]: the payload and the
// fact of every settled event received before cutoff go; its row (id,
// type, outcome, org) stays. Parked events keep theirs: they are still to
// be applied.
func (m *Maintenance) PruneInboxPayloads(ctx context.Context, cutoff time.Time, batch int) (int64, error) {
	return m.inBatches(ctx, batch, `UPDATE stripe_inbox SET payload = NULL, fact = NULL WHERE id IN (
		SELECT id FROM stripe_inbox WHERE received_at < ? AND payload IS NOT NULL AND outcome NOT IN ('parked', 'received')
		LIMIT ? FOR UPDATE SKIP LOCKED)`, cutoff)
}

// inBatches runs query (whose last placeholder is the batch size) until
// it affects fewer rows than a batch.
func (m *Maintenance) inBatches(ctx context.Context, batch int, query string, arg any) (int64, error) {
	if batch <= 0 {
		batch = 1000
	}
	var total int64
	for {
		res, err := m.db.ExecContext(ctx, query, arg, batch)
		if err != nil {
			return total, fmt.Errorf("maintenance: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("maintenance: %w", err)
		}
		total += n
		if n < int64(batch) {
			return total, nil
		}
	}
}
