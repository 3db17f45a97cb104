package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/uptrace/bun"

	"github.com/safeclose/billing/ports"
)

var _ ports.ProjectionRebuilder = (*Store)(nil)

// Rebuild remakes every projection's table from the ledger alone while the
// service keeps serving. Each table is built aside (`<table>_rebuild`) from
// one pass over the ledger in position order; then, in one transaction that
// holds writers off the live tables (readers go on), streams appended to
// during the pass are refolded from their own events, and the aside tables
// replace the live ones. progress, when not nil, is called as events are
// replayed with the position reached and the highest position.
func (s *Store) Rebuild(ctx context.Context, progress func(position, last int64)) (ports.RebuildStats, error) {
	var (
		stats   ports.RebuildStats
		lastPos int64
	)
	if len(s.projections) == 0 {
		return stats, nil
	}
	var last int64
	if err := s.db.QueryRowContext(ctx, "SELECT coalesce(max(position), 0) FROM billing_events").Scan(&last); err != nil {
		return stats, fmt.Errorf("rebuild: %w", err)
	}
	for _, p := range s.projections {
		if _, err := s.db.ExecContext(ctx, "DROP TABLE IF EXISTS ?", bun.Ident(aside(p))); err != nil {
			return stats, fmt.Errorf("rebuild %s: %w", p.Name(), err)
		}
		if _, err := s.db.ExecContext(ctx, "CREATE TABLE ? (LIKE ? INCLUDING ALL)", bun.Ident(aside(p)), bun.Ident(p.Table())); err != nil {
			return stats, fmt.Errorf("rebuild %s: %w", p.Name(), err)
		}
	}
	builders := make([]Builder, len(s.projections))
	for i, p := range s.projections {
		builders[i] = p.NewBuilder()
	}
	versions := map[string]int64{}
	err := s.ReadAll(ctx, 0, func(e ports.StoredEvent) error {
		for _, b := range builders {
			if err := b.Add(e); err != nil {
				return err
			}
		}
		if e.Version > versions[e.StreamID] {
			versions[e.StreamID] = e.Version
		}
		stats.Events++
		lastPos = e.Position
		if progress != nil && stats.Events%4096 == 0 {
			progress(e.Position, max(last, e.Position))
		}
		return nil
	})
	if err != nil {
		return stats, fmt.Errorf("rebuild: replay: %w", err)
	}
	if progress != nil {
		progress(max(last, lastPos), max(last, lastPos))
	}
	for i, p := range s.projections {
		if err := builders[i].Write(ctx, s.db, aside(p)); err != nil {
			return stats, fmt.Errorf("rebuild %s: %w", p.Name(), err)
		}
	}
	// Catch up once while writers still run, so that the locked catch-up
	// below has little left to do.
	moved, err := s.movedStreams(ctx, s.db, versions)
	if err == nil {
		err = s.catchUp(ctx, s.db, moved, versions)
	}
	if err != nil {
		return stats, fmt.Errorf("rebuild: catch up: %w", err)
	}
	stats.Streams = len(versions)
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		tables := make([]bun.Ident, len(s.projections))
		for i, p := range s.projections {
			tables[i] = bun.Ident(p.Table())
		}
		// ACCESS EXCLUSIVE from the start: a weaker lock would let a
		// writer's read of the table slip in and deadlock with the swap.
		// Readers wait for this transaction only, which refolds just the
		// streams appended to since the catch-up above.
		if _, err := tx.ExecContext(ctx, "LOCK TABLE ? IN ACCESS EXCLUSIVE MODE", bun.In(tables)); err != nil {
			return err
		}
		moved, err = s.movedStreams(ctx, tx, versions)
		if err != nil {
			return err
		}
		stats.CaughtUp += len(moved)
		if err := s.catchUp(ctx, tx, moved, versions); err != nil {
			return err
		}
		for _, p := range s.projections {
			if err := swap(ctx, tx, p.Table(), aside(p)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return stats, fmt.Errorf("rebuild: swap: %w", err)
	}
	return stats, nil
}

func aside(p Projection) string { return p.Table() + "_rebuild" }

// movedStreams lists the streams whose committed version differs from the
// one the replay folded: appended to (or created) during the replay.
func (s *Store) movedStreams(ctx context.Context, tx bun.IDB, folded map[string]int64) ([]string, error) {
	rows, err := tx.QueryContext(ctx, "SELECT id, version FROM billing_streams")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var moved []string
	for rows.Next() {
		var (
			id string
			v  int64
		)
		if err := rows.Scan(&id, &v); err != nil {
			return nil, err
		}
		if folded[id] != v {
			moved = append(moved, id)
		}
	}
	return moved, rows.Err()
}

// catchUp refolds streams from their own events into the aside tables and
// records the versions folded.
func (s *Store) catchUp(ctx context.Context, tx bun.IDB, streams []string, versions map[string]int64) error {
	for _, stream := range streams {
		events, err := loadStream(ctx, tx, stream)
		if err != nil {
			return err
		}
		if len(events) > 0 {
			versions[stream] = events[len(events)-1].Version
		}
		for _, p := range s.projections {
			// The stream's rows are remade from scratch (rows of removed
			// things must go too).
			if _, err := tx.ExecContext(ctx, "DELETE FROM ? WHERE ? = ?", bun.Ident(aside(p)), bun.Ident(p.StreamColumn()), stream); err != nil {
				return err
			}
			b := p.NewBuilder()
			for _, e := range events {
				if err := b.Add(e); err != nil {
					return err
				}
			}
			if err := b.Write(ctx, tx, aside(p)); err != nil {
				return err
			}
		}
	}
	return nil
}

// swap replaces table by its rebuilt copy and gives the copy's indexes the
// live table's names. Readers blocked on the old table go on with the new.
func swap(ctx context.Context, tx bun.Tx, table, rebuilt string) error {
	var indexes []string
	if err := tx.NewRaw("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = ?", rebuilt).
		Scan(ctx, &indexes); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "DROP TABLE ?", bun.Ident(table)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "ALTER TABLE ? RENAME TO ?", bun.Ident(rebuilt), bun.Ident(table)); err != nil {
		return err
	}
	for _, ix := range indexes {
		name := strings.Replace(ix, rebuilt, table, 1)
		if _, err := tx.ExecContext(ctx, "ALTER INDEX ? RENAME TO ?", bun.Ident(ix), bun.Ident(name)); err != nil {
			return err
		}
	}
	return nil
}
