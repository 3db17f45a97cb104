package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/safeclose/billing/ports"
)

// History reads the ledger for auditors, from the read database (a
// replica when DATABASE_READ_URL names one). It is safe for concurrent use.
type History struct {
	db *bun.DB
}

var _ ports.History = (*History)(nil)

// NewHistory returns the history reader over db.
func NewHistory(db *bun.DB) *History { return &History{db: db} }

// History implements [ports.History]. It walks the (stream_id,
// stream_version) unique index, so a deep page costs what a first one does.
func (h *History) History(ctx context.Context, q ports.HistoryQuery) ([]ports.StoredEvent, error) {
	sel := h.db.NewSelect().ColumnExpr(eventColumns).Table("billing_events").
		Where("stream_id = ?", q.OrgID).Where("stream_version > ?", q.AfterVersion).
		Order("stream_version").Limit(q.Limit)
	if len(q.Types) > 0 {
		sel = sel.Where("type IN (?)", bun.In(q.Types))
	}
	if !q.From.IsZero() {
		sel = sel.Where("occurred_at >= ?", q.From)
	}
	if !q.To.IsZero() {
		sel = sel.Where("occurred_at < ?", q.To)
	}
	return h.query(ctx, sel)
}

// Known implements [ports.History].
func (h *History) Known(ctx context.Context, orgID string, asOf, knownAt time.Time) ([]ports.StoredEvent, error) {
	sel := h.db.NewSelect().ColumnExpr(eventColumns).Table("billing_events").Where("stream_id = ?", orgID).Order("stream_version")
	if !asOf.IsZero() {
		sel = sel.Where("occurred_at <= ?", asOf)
	}
	if !knownAt.IsZero() {
		sel = sel.Where("recorded_at <= ?", knownAt)
	}
	return h.query(ctx, sel)
}

func (h *History) query(ctx context.Context, sel *bun.SelectQuery) ([]ports.StoredEvent, error) {
	rows, err := sel.Rows(ctx)
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	var out []ports.StoredEvent
	if err := scanEvents(rows, func(e ports.StoredEvent) error { out = append(out, e); return nil }); err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	return out, nil
}
