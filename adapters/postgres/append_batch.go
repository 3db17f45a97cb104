package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"

	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/domain/ledger"
	"github.com/safeclose/billing/ports"
)

// headCacheSize bounds the streams whose last hash a Store remembers
// (about 100 bytes each).
const headCacheSize = 100_000

// streamHead is a stream's version and the hash of the event at that
// version. Events never change, so a head stays true for its version
// however far the stream has moved since.
type streamHead struct {
	version int64
	hash    []byte
}

// batchable is a Projection that can write its part of an append without
// reading, from the stream's account before the events: its statements
// join the append's single round trip.
type batchable interface {
	// batch adds the projection's statements for events, folded (decoded)
	// on top of prior. false sends the append down the transactional path.
	batch(b *batch, prior *billing.Account, events []ports.StoredEvent, decoded []billing.Event) (bool, error)
}

// batch is SQL statements sent as one simple-protocol query, which
// Postgres runs as one implicit transaction: the first error undoes them
// all. Values are formatted by bun, escaped.
type batch struct {
	db  *bun.DB
	sql []byte
	n   int // statements
}

func (b *batch) add(q bun.Query) error {
	if len(b.sql) > 0 {
		b.sql = append(b.sql, ";\n"...)
	}
	var err error
	b.sql, err = q.AppendQuery(b.db.QueryGen(), b.sql)
	b.n++
	return err
}

func (b *batch) raw(query string, args ...any) error {
	return b.add(b.db.NewRaw(query, args...))
}

// appendBatched appends in one round trip when the request carries the
// account it was decided on: the events with the stream's head move, the
// idempotency key, the inbox row and every read model's rows as one
// implicit transaction. The checks are the constraints:
//   - the head moves only from the expected version and last hash; when
//     it does not, the events get no version and violate NOT NULL;
//   - UNIQUE (stream_id, stream_version) and the streams' primary key stop
//     a concurrent append at the same version;
//   - the keys' primary key stops a second append with the same key.
//
// done is false, with nothing written, when a read model needs the
// transactional path.
func (s *Store) appendBatched(ctx context.Context, req ports.AppendRequest, meta json.RawMessage) (_ ports.AppendResult, done bool, _ error) {
	prev, err := s.prevHash(ctx, req.StreamID, req.ExpectedVersion)
	if err != nil {
		return ports.AppendResult{}, true, err
	}
	now := s.clock.Now().Truncate(ledger.Precision)
	rows, err := newEventRows(req, meta, prev, now)
	if err != nil {
		return ports.AppendResult{}, true, err
	}
	stored := make([]ports.StoredEvent, len(rows))
	decoded := make([]billing.Event, len(rows))
	for i, r := range rows {
		stored[i] = r.stored(req.Metadata)
		if decoded[i], err = billing.DecodeEvent(r.Type, r.SchemaVersion, r.Data, stored[i].OccurredAt); err != nil {
			return ports.AppendResult{}, true, fmt.Errorf("event %d: %w", r.Version, err)
		}
	}
	// The key first: a repeated key is a duplicate whatever the version.
	b := &batch{db: s.db}
	if req.IdempotencyKey != "" {
		if err := b.raw("INSERT INTO billing_event_keys (key, stream_id, recorded_at) VALUES (?, ?, ?)",
			req.IdempotencyKey, req.StreamID, now); err != nil {
			return ports.AppendResult{}, true, err
		}
	}
	returning := b.n
	if err := b.add(s.eventsInsert(req, prev, rows)); err != nil {
		return ports.AppendResult{}, true, err
	}
	if req.Inbox != nil {
		if err := b.add(keepAppliedQuery(s.db, *req.Inbox, req.StreamID, now)); err != nil {
			return ports.AppendResult{}, true, err
		}
	}
	for _, p := range s.projections {
		bp, ok := p.(batchable)
		if !ok {
			return ports.AppendResult{}, false, nil
		}
		if ok, err := bp.batch(b, req.Prior, stored, decoded); err != nil || !ok {
			return ports.AppendResult{}, err != nil, err
		}
	}
	positions, err := s.run(ctx, b.sql, returning)
	switch {
	case uniqueViolation(err, "billing_event_keys_pkey"):
		return ports.AppendResult{Duplicate: true}, true, nil
	case uniqueViolation(err, "billing_events_stream_version_key"), uniqueViolation(err, "billing_streams_pkey"),
		notNullViolation(err, "recorded_at"):
		s.heads.Remove(req.StreamID)
		return ports.AppendResult{}, true, ports.ErrVersionConflict
	case err != nil:
		s.heads.Remove(req.StreamID)
		return ports.AppendResult{}, true, fmt.Errorf("append: %w", err)
	case len(positions) != len(stored):
		return ports.AppendResult{}, true, fmt.Errorf("append: %d positions for %d events", len(positions), len(stored))
	}
	for i := range stored {
		stored[i].Position = positions[i]
	}
	s.remember(stored)
	return ports.AppendResult{Events: stored}, true, nil
}

// eventsInsert inserts the events and moves the stream's head, in one
// statement: from expected (with last hash prev) to the last event, or
// created there for a new stream. The events' recorded_at is read from
// the head's move: when the head did not move it is NULL, which NOT NULL
// refuses, so the whole batch fails.
func (s *Store) eventsInsert(req ports.AppendRequest, prev []byte, rows []eventRow) bun.Query {
	last := rows[len(rows)-1]
	var head *bun.RawQuery
	if req.ExpectedVersion == 0 {
		head = s.db.NewRaw("INSERT INTO billing_streams (id, version, last_hash) VALUES (?, ?, ?) RETURNING 1",
			req.StreamID, last.Version, last.Hash)
	} else {
		head = s.db.NewRaw("UPDATE billing_streams SET version = ?, last_hash = ? WHERE id = ? AND version = ? AND last_hash = ? RETURNING 1",
			last.Version, last.Hash, req.StreamID, req.ExpectedVersion, prev)
	}
	return s.db.NewInsert().With("head", head).Model(&rows).
		Value("recorded_at", "(SELECT ?::timestamptz FROM head)", last.RecordedAt).
		Returning("position")
}

// prevHash is the hash of the stream's event at version: remembered, or
// read.
func (s *Store) prevHash(ctx context.Context, stream string, version int64) ([]byte, error) {
	if version == 0 {
		return nil, nil
	}
	if h, ok := s.heads.Get(stream); ok && h.version == version {
		return h.hash, nil
	}
	var hash []byte
	err := s.db.QueryRowContext(ctx, "SELECT hash FROM billing_events WHERE stream_id = ? AND stream_version = ?", stream, version).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ports.ErrVersionConflict
	}
	if err != nil {
		return nil, fmt.Errorf("read stream head: %w", err)
	}
	return hash, nil
}

// remember keeps the head after events just appended.
func (s *Store) remember(stored []ports.StoredEvent) {
	last := stored[len(stored)-1]
	s.heads.Add(last.StreamID, streamHead{version: last.Version, hash: last.Hash})
}

// run sends the batch as one query on a pooled connection and returns the
// positions its statement number returning returned.
func (s *Store) run(ctx context.Context, query []byte, returning int) ([]int64, error) {
	conn, err := s.db.DB.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var positions []int64
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("append: driver connection %T is not pgx", dc)
		}
		results, err := c.Conn().PgConn().Exec(ctx, string(query)).ReadAll()
		if err != nil {
			return err
		}
		for _, row := range results[returning].Rows {
			p, err := strconv.ParseInt(string(row[0]), 10, 64)
			if err != nil {
				return err
			}
			positions = append(positions, p)
		}
		return nil
	})
	return positions, err
}

// notNullViolation reports whether err is Postgres error 23502 on the named column.
func notNullViolation(err error, column string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23502" && pe.ColumnName == column
}
