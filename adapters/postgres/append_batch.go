package postgres

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

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

// appended is what one append changes, for the projections: the events,
// stored and decoded, take the stream's account from prior to after.
type appended struct {
	prior, after *billing.Account
	events       []ports.StoredEvent
	decoded      []billing.Event
}

// batch is parameterized statements sent together in one round trip, as
// prepared statements of the connection (parsed and planned once per
// connection) followed by one Sync, so Postgres runs them as one implicit
// transaction: the first error undoes them all.
type batch struct {
	stmts []statement
}

type statement struct {
	sql  string
	args []any
}

func (b *batch) add(sql string, args ...any) {
	b.stmts = append(b.stmts, statement{sql, args})
}

// appendOnce appends in one round trip, from prior, the stream's account
// at the expected version (decoded are the request's events as the
// domain's, at ledger precision), and returns the account after them: the idempotency key, the events with the
// stream's head move, the inbox row and every read model's rows, as one
// implicit transaction. The checks are the constraints:
//   - the keys' primary key stops a second append with the same key
//     (checked first, so whatever the version);
//   - the head moves only from the expected version and last hash; when
//     it does not, the events get no recorded_at and violate NOT NULL;
//   - UNIQUE (stream_id, stream_version) and the streams' primary key stop
//     a concurrent append at the same version.
func (s *Store) appendOnce(ctx context.Context, req ports.AppendRequest, inbox *ports.InboxEntry, prior *billing.Account, decoded []billing.Event, meta json.RawMessage) (ports.AppendResult, *billing.Account, error) {
	prev, err := s.prevHash(ctx, req.StreamID, req.ExpectedVersion)
	if err != nil {
		return ports.AppendResult{}, nil, err
	}
	now := s.clock.Now().Truncate(ledger.Precision)
	rows, err := newEventRows(req, meta, prev, now)
	if err != nil {
		return ports.AppendResult{}, nil, err
	}
	a := appended{prior: prior, after: prior.Clone(), events: make([]ports.StoredEvent, len(rows)), decoded: decoded}
	for i, r := range rows {
		a.events[i] = r.stored(req.Metadata)
		a.after.Apply(decoded[i])
	}
	b := &batch{}
	if req.IdempotencyKey != "" {
		b.add("INSERT INTO billing_event_keys (key, stream_id, recorded_at) VALUES ($1, $2, $3)", req.IdempotencyKey, req.StreamID, now)
	}
	returning := len(b.stmts)
	addEventsInsert(b, req, prev, rows)
	if inbox != nil {
		addKeepApplied(b, *inbox, req.StreamID, now)
	}
	for _, p := range s.projections {
		if err := p.stage(b, a); err != nil {
			return ports.AppendResult{}, nil, fmt.Errorf("project %s: %w", p.Table(), err)
		}
	}
	positions, err := s.run(ctx, b, returning)
	switch {
	case uniqueViolation(err, "billing_event_keys_pkey"):
		return ports.AppendResult{Duplicate: true}, nil, nil
	case uniqueViolation(err, "billing_events_stream_version_key"), uniqueViolation(err, "billing_streams_pkey"),
		notNullViolation(err, "recorded_at"):
		s.heads.Remove(req.StreamID)
		return ports.AppendResult{}, nil, ports.ErrVersionConflict
	case err != nil:
		s.heads.Remove(req.StreamID)
		return ports.AppendResult{}, nil, fmt.Errorf("append: %w", err)
	case len(positions) != len(a.events):
		return ports.AppendResult{}, nil, fmt.Errorf("append: %d positions for %d events", len(positions), len(a.events))
	}
	for i := range a.events {
		a.events[i].Position = positions[i]
	}
	s.remember(a.events)
	return ports.AppendResult{Events: a.events}, a.after, nil
}

// addEventsInsert inserts the events and moves the stream's head, in one
// statement: from expected (with last hash prev) to the last event, or
// created there for a new stream. The events' recorded_at is read from
// the head's move: when the head did not move it is NULL, which NOT NULL
// refuses, so the whole batch fails.
func addEventsInsert(b *batch, req ports.AppendRequest, prev []byte, rows []eventRow) {
	last := rows[len(rows)-1]
	var q strings.Builder
	var args []any
	if req.ExpectedVersion == 0 {
		q.WriteString("WITH head AS (INSERT INTO billing_streams (id, version, last_hash) VALUES ($1, $2, $3) RETURNING 1)")
		args = append(args, req.StreamID, last.Version, last.Hash)
	} else {
		q.WriteString("WITH head AS (UPDATE billing_streams SET version = $1, last_hash = $2 WHERE id = $3 AND version = $4 AND last_hash = $5 RETURNING 1)")
		args = append(args, last.Version, last.Hash, req.StreamID, req.ExpectedVersion, prev)
	}
	q.WriteString(" INSERT INTO billing_events (stream_id, stream_version, type, schema_version, data, metadata, occurred_at, recorded_at, hash) VALUES ")
	for i, r := range rows {
		if i > 0 {
			q.WriteString(", ")
		}
		n := len(args)
		fmt.Fprintf(&q, "($%d, $%d, $%d, $%d, $%d, $%d, $%d, (SELECT $%d::timestamptz FROM head), $%d)", n+1, n+2, n+3, n+4, n+5, n+6, n+7, n+8, n+9)
		args = append(args, r.StreamID, r.Version, r.Type, r.SchemaVersion, r.Data, r.Metadata, r.OccurredAt, r.RecordedAt, r.Hash)
	}
	q.WriteString(" RETURNING position")
	b.add(q.String(), args...)
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

// run sends the batch on a pooled connection, preparing its statements
// on the connection the first time, and returns the positions its
// statement number returning returned.
func (s *Store) run(ctx context.Context, b *batch, returning int) ([]int64, error) {
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
		var pb pgconn.Batch
		for _, st := range b.stmts {
			name := s.statementName(st.sql)
			if _, err := c.Conn().Prepare(ctx, name, st.sql); err != nil {
				return err
			}
			params := make([][]byte, len(st.args))
			for i, a := range st.args {
				if params[i], err = textParam(a); err != nil {
					return err
				}
			}
			pb.ExecPrepared(name, params, nil, nil)
		}
		results, err := c.Conn().PgConn().ExecBatch(ctx, &pb).ReadAll()
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

// statementName is the prepared statement's name for sql: the same on
// every connection, so a connection prepares each statement once. Names
// are remembered by the store.
func (s *Store) statementName(sql string) string {
	if name, ok := s.statements.Load(sql); ok {
		return name.(string)
	}
	sum := sha256.Sum256([]byte(sql))
	name := "safeclose_" + hex.EncodeToString(sum[:12])
	s.statements.Store(sql, name)
	return name
}

// textParam encodes a statement argument in Postgres's text format; nil
// is NULL.
func textParam(v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []byte(v), nil
	case *string:
		if v == nil {
			return nil, nil
		}
		return []byte(*v), nil
	case int:
		return strconv.AppendInt(nil, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(nil, v, 10), nil
	case bool:
		if v {
			return []byte("t"), nil
		}
		return []byte("f"), nil
	case time.Time:
		return v.UTC().AppendFormat(nil, "2006-01-02 15:04:05.999999Z07:00"), nil
	case *time.Time:
		if v == nil {
			return nil, nil
		}
		return textParam(*v)
	case jsonText:
		if v == nil {
			return nil, nil
		}
		return v, nil
	case []string: // text[]
		out := []byte{'{'}
		for i, e := range v {
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, '"')
			for _, c := range []byte(e) {
				if c == '"' || c == '\\' {
					out = append(out, '\\')
				}
				out = append(out, c)
			}
			out = append(out, '"')
		}
		return append(out, '}'), nil
	case []byte: // bytea
		if v == nil {
			return nil, nil
		}
		out := make([]byte, 2+hex.EncodedLen(len(v)))
		copy(out, `\x`)
		hex.Encode(out[2:], v)
		return out, nil
	}
	return nil, fmt.Errorf("append: no text encoding for %T", v)
}

// notNullViolation reports whether err is Postgres error 23502 on the named column.
func notNullViolation(err error, column string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23502" && pe.ColumnName == column
}
