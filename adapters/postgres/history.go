package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/safeclose/billing/domain/ledger"
	"github.com/safeclose/billing/ports"
)

// History reads the ledger for auditors, from the read database (a
// replica when DATABASE_READ_URL names one). A knownAt answer may first
// seal its instant on the primary (see [History.Known]). It is safe for
// concurrent use.
type History struct {
	db, primary *bun.DB
}

var _ ports.History = (*History)(nil)

// NewHistory returns the history reader over read, sealing knownAt
// instants on primary (the same database when there is no replica).
func NewHistory(read, primary *bun.DB) *History { return &History{db: read, primary: primary} }

// History implements [ports.History]. It walks the (stream_id,
// stream_version) unique index, so a deep page costs what a first one does.
func (h *History) History(ctx context.Context, q ports.HistoryQuery) ([]ports.StoredEvent, error) {
	sel := selectEvents(q.OrgID).and("stream_version > ?", q.AfterVersion)
	if len(q.Types) > 0 {
		sel.and("type = ANY(?::text[])", q.Types)
	}
	if !q.From.IsZero() {
		sel.and("occurred_at >= ?", q.From)
	}
	if !q.To.IsZero() {
		sel.and("occurred_at < ?", q.To)
	}
	return sel.limit(q.Limit).query(ctx, h.db)
}

// Known implements [ports.History]. An answer with a knownAt bound never
// changes once given: the instant is sealed first (see [History.seal]).
func (h *History) Known(ctx context.Context, orgID string, asOf, knownAt time.Time) ([]ports.StoredEvent, error) {
	db, err := h.seal(ctx, orgID, knownAt)
	if err != nil {
		return nil, err
	}
	return selectEvents(orgID).bounded(asOf, knownAt).query(ctx, db)
}

// seal makes an answer for knownAt final, and returns the database to read
// it from. Appends record their events after the stream's sealed_at
// ([Store] refuses to move the head otherwise), and raising sealed_at
// waits for the row lock an append in flight holds until it commits. So
// once sealed_at is at knownAt, every event recorded by knownAt is
// committed, and none can come later. The raise is written on the primary
// (and the answer read there); a replica that already shows the stream
// sealed that far has replayed every such event, and answers itself. An
// instant the database's clock has not reached is sealed only up to now:
// what is recorded later may still be recorded by it.
func (h *History) seal(ctx context.Context, orgID string, knownAt time.Time) (*bun.DB, error) {
	if knownAt.IsZero() {
		return h.db, nil
	}
	at := knownAt.Truncate(ledger.Precision)
	var sealed bool
	err := h.db.DB.QueryRowContext(ctx, "SELECT coalesce(sealed_at >= least($1::timestamptz, clock_timestamp()), false) FROM billing_streams WHERE id = $2",
		prepared(at, orgID)...).Scan(&sealed)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return h.db, nil // no stream: nothing recorded, nothing in flight
	case err != nil:
		return nil, fmt.Errorf("read seal: %w", err)
	case sealed:
		return h.db, nil
	}
	if _, err := h.primary.ExecContext(ctx, "UPDATE billing_streams SET sealed_at = greatest(sealed_at, least(?::timestamptz, clock_timestamp())) WHERE id = ?", at, orgID); err != nil {
		return nil, fmt.Errorf("seal %s: %w", orgID, err)
	}
	return h.primary, nil
}

// eventSelect is a SELECT of one stream's events in version order, built
// condition by condition, each ? becoming the next $n, and run as a
// prepared statement (the few shapes a caller builds are each prepared
// once per connection).
type eventSelect struct {
	join, tail string
	conds      []string
	args       []any
}

// selectEvents selects the events of stream.
func selectEvents(stream string) *eventSelect {
	q := &eventSelect{}
	return q.and("stream_id = ?", stream)
}

// bind replaces each ? of s with the $n of the next of args.
func (q *eventSelect) bind(s string, args ...any) string {
	var b strings.Builder
	for _, r := range s {
		if r == '?' {
			q.args = append(q.args, args[0])
			args = args[1:]
			b.WriteString("$" + strconv.Itoa(len(q.args)))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (q *eventSelect) and(cond string, args ...any) *eventSelect {
	q.conds = append(q.conds, q.bind(cond, args...))
	return q
}

// bounded keeps the events that occurred by asOf and were recorded by
// knownAt (a zero bound: no bound).
func (q *eventSelect) bounded(asOf, knownAt time.Time) *eventSelect {
	if !asOf.IsZero() {
		q.and("occurred_at <= ?", asOf)
	}
	if !knownAt.IsZero() {
		q.and("recorded_at <= ?", knownAt)
	}
	return q
}

func (q *eventSelect) limit(n int) *eventSelect {
	q.tail = q.bind(" LIMIT ?", n)
	return q
}

func (q *eventSelect) query(ctx context.Context, db *bun.DB) ([]ports.StoredEvent, error) {
	text := "SELECT " + eventColumns + " FROM billing_events" + q.join + " WHERE " + strings.Join(q.conds, " AND ") + " ORDER BY stream_version" + q.tail
	rows, err := db.DB.QueryContext(ctx, text, prepared(q.args...)...)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	var out []ports.StoredEvent
	if err := scanEvents(rows, func(e ports.StoredEvent) error { out = append(out, e); return nil }); err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return out, nil
}
