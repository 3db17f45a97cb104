package postgres

import (
	"context"
	"fmt"
	"math"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/jackc/pgx/v5"
	"github.com/uptrace/bun"

	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// SnapshotEvery is how many versions a stream's periodic account
// snapshots (billing_account_snapshots) are apart, at least: an append
// that crosses a multiple of it stores the account after it. An asOf or
// knownAt answer reads at most about two intervals of events past the
// snapshot it starts from, plus the stream's newest events since its last
// snapshot.
const SnapshotEvery = 100

// snapshotInsert stores the account after an append ($3, the status
// row's snapshot) at the append's last version $2, for the segment since
// the stream's previous periodic snapshot: the events of the segment were
// inserted by an earlier statement of the same batch, so they are read
// here. Maxima over the prefix come from the previous snapshot's and the
// segment's; nothing else is read.
const snapshotInsert = `WITH prev AS (
	SELECT stream_version, max_occurred_at, max_recorded_at FROM billing_account_snapshots
	WHERE stream_id = $1 AND stream_version < $2 ORDER BY stream_version DESC LIMIT 1
), seg AS (
	SELECT coalesce((SELECT stream_version FROM prev), 0) AS from_version
)
INSERT INTO billing_account_snapshots (stream_id, stream_version, from_version, max_occurred_at, max_recorded_at, min_occurred_at, min_recorded_at, snapshot)
SELECT $1, $2, seg.from_version,
	greatest(max(e.occurred_at), (SELECT max_occurred_at FROM prev)), greatest(max(e.recorded_at), (SELECT max_recorded_at FROM prev)),
	min(e.occurred_at), min(e.recorded_at), $3::json
FROM seg JOIN billing_events e ON e.stream_id = $1 AND e.stream_version > seg.from_version AND e.stream_version <= $2
GROUP BY seg.from_version
ON CONFLICT (stream_id, stream_version) DO NOTHING`

// crossesSnapshot reports whether an append from version from to version
// to crosses a multiple of every.
func crossesSnapshot(from, to, every int64) bool { return every > 0 && from/every != to/every }

var snapshotColumns = []string{"stream_id", "stream_version", "from_version", "max_occurred_at", "max_recorded_at",
	"min_occurred_at", "min_recorded_at", "snapshot"}

// track follows a stream through a rebuild's fold: m is its segment since
// its last periodic snapshot (From, and the times of the events folded
// since, maxima over the whole prefix). It takes the event just folded
// into acc; when the stream crossed a multiple of every it returns the
// snapshot of acc, as a row of billing_account_snapshots, and starts the
// next segment. The rule is the live appends' (one per interval).
func (m *snapshotMeta) track(acc *billing.Account, stream string, version int64, occurred, recorded time.Time, every int64) ([]any, error) {
	if m.MinOccurred.IsZero() || occurred.Before(m.MinOccurred) {
		m.MinOccurred = occurred
	}
	if m.MinRecorded.IsZero() || recorded.Before(m.MinRecorded) {
		m.MinRecorded = recorded
	}
	if occurred.After(m.MaxOccurred) {
		m.MaxOccurred = occurred
	}
	if recorded.After(m.MaxRecorded) {
		m.MaxRecorded = recorded
	}
	if !crossesSnapshot(version-1, version, every) {
		return nil, nil
	}
	snap, err := acc.MarshalSnapshotWith(gojson.Marshal)
	if err != nil {
		return nil, err
	}
	row := []any{stream, version, m.From, m.MaxOccurred, m.MaxRecorded, m.MinOccurred, m.MinRecorded, string(snap)}
	m.From, m.MinOccurred, m.MinRecorded = version, time.Time{}, time.Time{}
	return row, nil
}

// replaceSnapshots puts the rebuild's periodic snapshots in place of the
// table's, in one transaction. Rows live appends write meanwhile are past
// the versions the rebuild folded, so they never collide with these; the
// ones this deletes were only a cache.
func (s *Store) replaceSnapshots(ctx context.Context, shards []*shard) error {
	var rows [][]any
	for _, sh := range shards {
		rows = append(rows, sh.snapshots...)
	}
	return s.withPgx(ctx, func(pc *pgx.Conn) error {
		return pgx.BeginFunc(ctx, pc, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "DELETE FROM billing_account_snapshots"); err != nil {
				return fmt.Errorf("rebuild billing_account_snapshots: %w", err)
			}
			if len(rows) == 0 {
				return nil
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"billing_account_snapshots"}, snapshotColumns, pgx.CopyFromRows(rows)); err != nil {
				return fmt.Errorf("rebuild billing_account_snapshots: %w", err)
			}
			return nil
		})
	})
}

// snapshotMeta is a periodic snapshot's row as an answer reads it
// (Snapshot only on the one it starts from), and a rebuild's segment in
// progress (see track).
type snapshotMeta struct {
	Version, From            int64
	MaxOccurred, MaxRecorded time.Time
	MinOccurred, MinRecorded time.Time
	Snapshot                 []byte
}

// snapshotsFrom reads, in one query, the newest periodic snapshot whose
// prefix lies wholly within the bounds ($2 asOf, $3 knownAt; NULL: none),
// with its snapshot, and every later one without: the answer starts from
// the first and skips the segments of the others that lie past the bounds.
// Without such a snapshot, every snapshot comes without its own.
const snapshotsFrom = `WITH base AS (
	SELECT coalesce(max(stream_version), 0) AS v FROM billing_account_snapshots
	WHERE stream_id = $1 AND ($2::timestamptz IS NULL OR max_occurred_at <= $2) AND ($3::timestamptz IS NULL OR max_recorded_at <= $3)
)
SELECT s.stream_version, s.from_version, s.max_occurred_at, s.max_recorded_at, s.min_occurred_at, s.min_recorded_at,
	CASE WHEN s.stream_version = base.v THEN s.snapshot END AS snapshot
FROM billing_account_snapshots s, base WHERE s.stream_id = $1 AND s.stream_version >= base.v ORDER BY s.stream_version`

// AccountAt implements [ports.History] from the periodic snapshots: it
// starts from the newest snapshot whose prefix lies wholly within the
// bounds (every event of it selected), or from the start, and folds onto
// it the selected events after it, reading none of the segments whose
// events all lie past the bounds. That is the fold of exactly the events
// Known selects, in version order.
func (h *History) AccountAt(ctx context.Context, orgID string, asOf, knownAt time.Time) (ports.KnownAccount, error) {
	db, err := h.seal(ctx, orgID, knownAt)
	if err != nil {
		return ports.KnownAccount{}, err
	}
	metas, err := readSnapshots(ctx, db, orgID, nullTime(asOf), nullTime(knownAt))
	if err != nil {
		return ports.KnownAccount{}, err
	}
	acc, updated, start := billing.NewAccount(orgID), time.Time{}, int64(0)
	if len(metas) > 0 && metas[0].Snapshot != nil {
		restored, err := billing.RestoreAccount(metas[0].Snapshot)
		if err == nil && restored.OrgID() == orgID && restored.Version() == metas[0].Version {
			acc, updated, start = restored, metas[0].MaxRecorded, metas[0].Version
		} // else another format (an upgrade): from the start
	}
	past := func(m snapshotMeta) bool {
		return (!asOf.IsZero() && m.MinOccurred.After(asOf)) || (!knownAt.IsZero() && m.MinRecorded.After(knownAt))
	}
	// The version ranges after start that may hold selected events: all
	// of them but the segments wholly past the bounds.
	var lo, hi []int64
	next := start // everything after next is still to be read
	for _, m := range metas {
		if !past(m) || m.Version <= next {
			continue
		}
		if from := max(m.From, next); from > next {
			lo, hi = append(lo, next), append(hi, from)
		}
		next = m.Version
	}
	sel := selectEvents(orgID)
	if len(lo) == 0 {
		// One range, the usual case (facts come in about in order): a
		// plain range scan of the stream's index.
		sel.and("stream_version > ?", next)
	} else {
		lo, hi = append(lo, next), append(hi, math.MaxInt64)
		sel.join = sel.bind(" JOIN unnest(?::bigint[], ?::bigint[]) AS r(lo, hi) ON stream_version > r.lo AND stream_version <= r.hi", lo, hi)
	}
	events, err := sel.bounded(asOf, knownAt).query(ctx, db)
	if err != nil {
		return ports.KnownAccount{}, err
	}
	return ports.FoldKnown(acc, updated, events)
}

// readSnapshots reads snapshotsFrom.
func readSnapshots(ctx context.Context, db *bun.DB, orgID string, asOf, knownAt *time.Time) ([]snapshotMeta, error) {
	rows, err := db.DB.QueryContext(ctx, snapshotsFrom, prepared(orgID, asOf, knownAt)...)
	if err != nil {
		return nil, fmt.Errorf("read snapshots: %w", err)
	}
	defer rows.Close()
	var metas []snapshotMeta
	for rows.Next() {
		var m snapshotMeta
		if err := rows.Scan(&m.Version, &m.From, &m.MaxOccurred, &m.MaxRecorded, &m.MinOccurred, &m.MinRecorded, &m.Snapshot); err != nil {
			return nil, fmt.Errorf("read snapshots: %w", err)
		}
		metas = append(metas, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read snapshots: %w", err)
	}
	return metas, nil
}

// nullTime is t, or NULL for the zero time.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
