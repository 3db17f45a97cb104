package postgres

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
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
//
// The head also does not move for events recorded by an instant a knownAt
// answer sealed; the append is then made again once, recorded after it.
func (s *Store) appendOnce(ctx context.Context, req ports.AppendRequest, inbox *ports.InboxEntry, prior *billing.Account, decoded []billing.Event, meta json.RawMessage) (ports.AppendResult, *billing.Account, error) {
	res, after, err := s.appendTry(ctx, req, inbox, prior, decoded, meta)
	if errors.Is(err, errSealed) {
		res, after, err = s.appendTry(ctx, req, inbox, prior, decoded, meta)
	}
	if errors.Is(err, errSealed) {
		s.heads.Remove(req.StreamID)
		err = ports.ErrVersionConflict
	}
	return res, after, err
}

// errSealed is an append refused for its recorded_at only (see learnSeal).
var errSealed = errors.New("recorded at or before a sealed instant")

func (s *Store) appendTry(ctx context.Context, req ports.AppendRequest, inbox *ports.InboxEntry, prior *billing.Account, decoded []billing.Event, meta json.RawMessage) (ports.AppendResult, *billing.Account, error) {
	prev, err := s.prevHash(ctx, req.StreamID, req.ExpectedVersion)
	if err != nil {
		return ports.AppendResult{}, nil, err
	}
	now := s.clock.Now().Truncate(ledger.Precision)
	if sealed, ok := s.seals.Get(req.StreamID); ok && !now.After(sealed) {
		// A knownAt answer was given for an instant this clock has not
		// passed: the events are recorded just after it.
		now = sealed.Add(ledger.Precision)
	}
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
	positions, err := s.commit(ctx, req.StreamID, b, returning)
	switch {
	case uniqueViolation(err, "billing_event_keys_pkey"):
		return ports.AppendResult{Duplicate: true}, nil, nil
	case notNullViolation(err, "recorded_at"):
		sealed, err := s.learnSeal(ctx, req.StreamID, req.ExpectedVersion, prev, now)
		if err != nil || sealed {
			return ports.AppendResult{}, nil, cmp.Or(err, errSealed)
		}
		s.heads.Remove(req.StreamID)
		return ports.AppendResult{}, nil, ports.ErrVersionConflict
	case uniqueViolation(err, "billing_events_stream_version_key"), uniqueViolation(err, "billing_streams_pkey"):
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
	if s.onAppend != nil {
		s.onAppend()
	}
	return ports.AppendResult{Events: a.events}, a.after, nil
}

// learnSeal reports whether the head did not move only because of the
// stream's sealed_at (a knownAt answer for an instant at or after
// recorded: the head is still at version, with hash prev), and then
// remembers it, so that the next attempt records its events after it.
func (s *Store) learnSeal(ctx context.Context, stream string, version int64, prev []byte, recorded time.Time) (bool, error) {
	var (
		at     int64
		last   []byte
		sealed sql.NullTime
	)
	err := s.db.QueryRowContext(ctx, "SELECT version, last_hash, sealed_at FROM billing_streams WHERE id = ?", stream).Scan(&at, &last, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("append: read seal: %w", err)
	}
	if at != version || !bytes.Equal(last, prev) || !sealed.Valid || sealed.Time.Before(recorded) {
		return false, nil
	}
	s.seals.Add(stream, sealed.Time.UTC())
	return true, nil
}

// addEventsInsert inserts the events and moves the stream's head, in one
// statement: from expected (with last hash prev) to the last event, or
// created there for a new stream. The head moves only when the events are
// recorded after the stream's sealed_at (see [History.seal]). The events'
// recorded_at is read from the head's move: when the head did not move it
// is NULL, which NOT NULL refuses, so the whole batch fails.
func addEventsInsert(b *batch, req ports.AppendRequest, prev []byte, rows []eventRow) {
	last := rows[len(rows)-1]
	args := make([]any, 0, 6+9*len(rows))
	if req.ExpectedVersion == 0 {
		args = append(args, req.StreamID, last.Version, last.Hash)
	} else {
		args = append(args, last.Version, last.Hash, req.StreamID, req.ExpectedVersion, prev, last.RecordedAt)
	}
	for _, r := range rows {
		args = append(args, r.StreamID, r.Version, r.Type, r.SchemaVersion, r.Data, r.Metadata, r.OccurredAt, r.RecordedAt, r.Hash)
	}
	b.add(eventsInsertSQL(req.ExpectedVersion == 0, len(rows)), args...)
}

// eventsInserts are the statements of addEventsInsert for appends of up
// to len events, built once: [0] moves a stream's head, [1] creates it.
var eventsInserts = func() (t [2][8]string) {
	for create := range 2 {
		for n := 1; n < len(t[create]); n++ {
			t[create][n] = buildEventsInsert(create == 1, n)
		}
	}
	return t
}()

func eventsInsertSQL(create bool, n int) string {
	i := 0
	if create {
		i = 1
	}
	if n < len(eventsInserts[i]) {
		return eventsInserts[i][n]
	}
	return buildEventsInsert(create, n)
}

func buildEventsInsert(create bool, n int) string {
	var q strings.Builder
	params := 6
	if create {
		q.WriteString("WITH head AS (INSERT INTO billing_streams (id, version, last_hash) VALUES ($1, $2, $3) RETURNING 1)")
		params = 3
	} else {
		q.WriteString("WITH head AS (UPDATE billing_streams SET version = $1, last_hash = $2 WHERE id = $3 AND version = $4 AND last_hash = $5" +
			" AND (sealed_at IS NULL OR sealed_at < $6::timestamptz) RETURNING 1)")
	}
	q.WriteString(" INSERT INTO billing_events (stream_id, stream_version, type, schema_version, data, metadata, occurred_at, recorded_at, hash) VALUES ")
	for i := range n {
		if i > 0 {
			q.WriteString(", ")
		}
		k := params + 9*i
		fmt.Fprintf(&q, "($%d, $%d, $%d, $%d, $%d, $%d, $%d, (SELECT $%d::timestamptz FROM head), $%d)", k+1, k+2, k+3, k+4, k+5, k+6, k+7, k+8, k+9)
	}
	q.WriteString(" RETURNING position")
	return q.String()
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
	positions, err := s.runReturning(ctx, b, []int{returning})
	if err != nil {
		return nil, err
	}
	return positions[0], nil
}

// runReturning is [Store.run] for a batch whose statements numbered
// returning (in increasing order) each return positions.
//
// The batch is written to the connection as the extended protocol's
// messages, a Bind and an Execute per statement (its parameters in text
// format, encoded straight into the message) and one Sync, from a buffer
// kept for the next batch: pgx's own Batch grows a new buffer each time,
// which was half of the bytes a webhook allocated. The answers are read
// with pgconn's ReceiveMessage, up to the ReadyForQuery after the Sync.
// Any failure to write or read leaves the connection in an unknown state:
// database/sql then closes it (driver.ErrBadConn).
func (s *Store) runReturning(ctx context.Context, b *batch, returning []int) ([][]int64, error) {
	conn, err := s.db.DB.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	positions := make([][]int64, len(returning))
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("append: driver connection %T is not pgx", dc)
		}
		bufp := wireBuffers.Get().(*[]byte)
		buf := (*bufp)[:0]
		defer func() {
			if cap(buf) <= maxKeptWireBuffer {
				*bufp = buf[:0]
				wireBuffers.Put(bufp)
			}
		}()
		for _, st := range b.stmts {
			name := s.statementName(st.sql)
			if _, err := c.Conn().Prepare(ctx, name, st.sql); err != nil {
				return err
			}
			if buf, err = appendBind(buf, name, st.args); err != nil {
				return err
			}
			buf = append(buf, 'E', 0, 0, 0, 9, 0, 0, 0, 0, 0) // Execute the unnamed portal, every row
		}
		buf = append(buf, 'S', 0, 0, 0, 4) // Sync
		pg := c.Conn().PgConn()
		if err := pg.SyncConn(ctx); err != nil {
			return fmt.Errorf("%w: %w", driver.ErrBadConn, err)
		}
		// ctx bounds the round trip as pgx's own context watching would,
		// without the goroutine pgx starts per call to watch a
		// cancellable context.
		stop := watchContext(ctx, pg.Conn())
		err := roundTrip(pg, buf, returning, positions)
		if stop() && err != nil && ctx.Err() != nil {
			return fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return err
	})
	return positions, err
}

// wireBuffers keep the batches' message buffers for the next ones; one
// larger than maxKeptWireBuffer (a Stripe payload of hundreds of KB) is
// left to the collector.
var wireBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

const maxKeptWireBuffer = 256 << 10

// roundTrip writes the batch's messages and reads the answers up to the
// ReadyForQuery that ends them: the positions of the statements numbered
// returning, and the first error Postgres reported.
func roundTrip(pg *pgconn.PgConn, msgs []byte, returning []int, positions [][]int64) error {
	if _, err := pg.Conn().Write(msgs); err != nil {
		return fmt.Errorf("%w: %w", driver.ErrBadConn, err)
	}
	var failed error
	for stmt, r := 0, 0; ; {
		msg, err := pg.ReceiveMessage(context.Background())
		if err != nil {
			return fmt.Errorf("%w: %w", driver.ErrBadConn, err)
		}
		switch m := msg.(type) {
		case *pgproto3.DataRow:
			if r < len(returning) && stmt == returning[r] && failed == nil {
				if len(m.Values) != 1 {
					failed = fmt.Errorf("append: %d columns returned, want the position", len(m.Values))
					continue
				}
				p, err := strconv.ParseInt(string(m.Values[0]), 10, 64)
				if err != nil {
					failed = err
					continue
				}
				positions[r] = append(positions[r], p)
			}
		case *pgproto3.CommandComplete:
			if r < len(returning) && stmt == returning[r] {
				r++
			}
			stmt++
		case *pgproto3.ErrorResponse:
			if failed == nil {
				failed = pgconn.ErrorResponseToPgError(m)
			}
		case *pgproto3.ReadyForQuery:
			return failed
		}
	}
}

// appendBind appends a Bind message of the unnamed portal to the prepared
// statement name, with args as parameters in text format (see
// appendTextParam) and results in text format.
func appendBind(buf []byte, name string, args []any) ([]byte, error) {
	if len(args) > math.MaxUint16 {
		return buf, fmt.Errorf("append: %d parameters in one statement", len(args))
	}
	start := len(buf)
	buf = append(buf, 'B', 0, 0, 0, 0, 0) // length to come; the unnamed portal
	buf = append(buf, name...)
	buf = append(buf, 0, 0, 0) // end of the name; no parameter format codes: all text
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(args)))
	for _, a := range args {
		at := len(buf)
		buf = append(buf, 0, 0, 0, 0)
		var (
			null bool
			err  error
		)
		if buf, null, err = appendTextParam(buf, a); err != nil {
			return buf, err
		}
		n := int32(len(buf) - at - 4)
		if null {
			n = -1
		}
		binary.BigEndian.PutUint32(buf[at:], uint32(n))
	}
	buf = append(buf, 0, 0) // no result format codes: all text
	binary.BigEndian.PutUint32(buf[start+1:], uint32(len(buf)-start-1))
	return buf, nil
}

// watchContext sets conn's deadline to now once ctx is done, until the
// returned stop is called; stop then clears the deadline if it was set,
// and reports whether it was.
func watchContext(ctx context.Context, conn net.Conn) (stop func() bool) {
	if ctx.Done() == nil {
		return func() bool { return false }
	}
	fired := make(chan struct{})
	stopAfter := context.AfterFunc(ctx, func() {
		_ = conn.SetDeadline(time.Now())
		close(fired)
	})
	return func() bool {
		if stopAfter() {
			return false
		}
		<-fired
		_ = conn.SetDeadline(time.Time{})
		return true
	}
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

// appendTextParam appends a statement argument in Postgres's text format
// to buf; null reports NULL (nil and nil pointers), which appends nothing.
func appendTextParam(buf []byte, v any) (out []byte, null bool, err error) {
	switch v := v.(type) {
	case nil:
		return buf, true, nil
	case string:
		return append(buf, v...), false, nil
	case *string:
		if v == nil {
			return buf, true, nil
		}
		return append(buf, *v...), false, nil
	case int:
		return strconv.AppendInt(buf, int64(v), 10), false, nil
	case int64:
		return strconv.AppendInt(buf, v, 10), false, nil
	case bool:
		if v {
			return append(buf, 't'), false, nil
		}
		return append(buf, 'f'), false, nil
	case time.Time:
		return v.UTC().AppendFormat(buf, "2006-01-02 15:04:05.999999Z07:00"), false, nil
	case *time.Time:
		if v == nil {
			return buf, true, nil
		}
		return appendTextParam(buf, *v)
	case jsonText:
		if v == nil {
			return buf, true, nil
		}
		return append(buf, v...), false, nil
	case []string: // text[]
		buf = append(buf, '{')
		for i, e := range v {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, '"')
			for _, c := range []byte(e) {
				if c == '"' || c == '\\' {
					buf = append(buf, '\\')
				}
				buf = append(buf, c)
			}
			buf = append(buf, '"')
		}
		return append(buf, '}'), false, nil
	case []byte: // bytea
		if v == nil {
			return buf, true, nil
		}
		buf = append(buf, `\x`...)
		return hex.AppendEncode(buf, v), false, nil
	}
	return buf, false, fmt.Errorf("append: no text encoding for %T", v)
}

// notNullViolation reports whether err is Postgres error 23502 on the named column.
func notNullViolation(err error, column string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23502" && pe.ColumnName == column
}
