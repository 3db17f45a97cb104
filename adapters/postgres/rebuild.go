package postgres

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"

	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// ErrSwapLockTimeout means the rebuild could not lock the live tables to
// swap the rebuilt ones in: other transactions held them through every
// attempt. Nothing was replaced; the rebuild can be run again.
var ErrSwapLockTimeout = errors.New("the live tables stayed locked by other transactions")

// swapPolicy bounds the rebuild's wait for the live tables' lock. While
// the swap waits for ACCESS EXCLUSIVE, every request that touches those
// tables queues behind it: a long reader must not stall them all for
// longer than lockTimeout. Between attempts the queue drains.
type swapPolicy struct {
	lockTimeout time.Duration
	attempts    int
	pause       time.Duration
}

// defaultSwapPolicy stalls requests for at most 3 s at a time: well
// within a webhook's 10 s and a statement's 30 s.
func defaultSwapPolicy() swapPolicy {
	return swapPolicy{lockTimeout: 3 * time.Second, attempts: 5, pause: 2 * time.Second}
}

// Rebuild remakes every projection's table from the ledger alone while the
// service keeps serving. Each table is built aside (`<table>_rebuild`, with
// the live table's storage parameters) from one pass over the ledger in
// position order; then, in one transaction that holds writers off the live
// tables, streams appended to during the pass are refolded from their own
// events, and the aside tables replace the live ones, taking their
// privileges and owners. That transaction waits at most 3 s for the live
// tables' lock, and is tried 5 times, 2 s apart, before Rebuild fails with
// [ErrSwapLockTimeout]. progress, when not nil, is called as events are
// replayed with the position reached and the highest position.
func (s *Store) Rebuild(ctx context.Context, progress func(position, last int64)) (ports.RebuildStats, error) {
	var stats ports.RebuildStats
	if len(s.projections) == 0 {
		return stats, nil
	}
	var last int64
	var err error
	if err = s.db.QueryRowContext(ctx, "SELECT coalesce(max(position), 0) FROM billing_events").Scan(&last); err != nil {
		return stats, fmt.Errorf("rebuild: %w", err)
	}
	for _, p := range s.projections {
		if _, err := s.db.ExecContext(ctx, "DROP TABLE IF EXISTS ?", bun.Ident(aside(p))); err != nil {
			return stats, fmt.Errorf("rebuild %s: %w", p.Table(), err)
		}
		if _, err := s.db.ExecContext(ctx, "CREATE TABLE ? (LIKE ? INCLUDING ALL EXCLUDING INDEXES)", bun.Ident(aside(p)), bun.Ident(p.Table())); err != nil {
			return stats, fmt.Errorf("rebuild %s: %w", p.Table(), err)
		}
		// Before the fill, so that it leaves the pages as full as the
		// live table's fillfactor says.
		if err := copyStorageParameters(ctx, s.db, p.Table(), aside(p)); err != nil {
			return stats, fmt.Errorf("rebuild %s: %w", p.Table(), err)
		}
	}
	// The aside tables' indexes are made after their fill, each in one
	// sorted pass, instead of taking the rows one at a time in random
	// order as COPY writes them.
	indexes := make([][]asideIndex, len(s.projections))
	for i, p := range s.projections {
		if indexes[i], err = asideIndexes(ctx, s.db, p); err != nil {
			return stats, fmt.Errorf("rebuild %s: %w", p.Table(), err)
		}
	}
	shards, err := s.replay(ctx, func(pos int64, n int64) {
		stats.Events = n
		if progress != nil {
			progress(pos, max(last, pos))
		}
	})
	if err != nil {
		return stats, fmt.Errorf("rebuild: replay: %w", err)
	}
	// Shards hold disjoint streams: they write in parallel. Stripe links
	// are claimed across streams, so they are written once, in the order
	// the ledger first named each id, beside the shards' tables.
	errs := make(chan error, len(shards)+1)
	for _, sh := range shards {
		go func() { errs <- s.fill(ctx, sh) }()
	}
	go func() { errs <- s.fillLinks(ctx, shards) }()
	versions := map[string]int64{}
	for _, sh := range shards {
		for _, f := range sh.streams {
			versions[f.acc.OrgID()] = f.acc.Version()
		}
	}
	for range len(shards) + 1 {
		if err := <-errs; err != nil {
			return stats, err
		}
	}
	if err := s.makeIndexes(ctx, indexes); err != nil {
		return stats, fmt.Errorf("rebuild: %w", err)
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
	for attempt := 1; ; attempt++ {
		caught, err := s.swapIn(ctx, versions, indexes)
		if err == nil {
			stats.CaughtUp += caught
			if s.status == nil {
				return stats, nil
			}
			if err := s.replaceSnapshots(ctx, shards); err != nil {
				return stats, fmt.Errorf("rebuild: %w", err)
			}
			return stats, nil
		}
		if !errors.Is(err, errLockTimeout) {
			return stats, fmt.Errorf("rebuild: swap: %w", err)
		}
		if attempt == s.swap.attempts {
			return stats, fmt.Errorf("rebuild: swap: %w through %d attempts of %s each (a long query or an open transaction on them: see pg_stat_activity); nothing was replaced, run the rebuild again: %w",
				ErrSwapLockTimeout, attempt, s.swap.lockTimeout, err)
		}
		// Let the requests that queued behind the attempt through, and
		// catch up outside the lock again.
		select {
		case <-ctx.Done():
			return stats, fmt.Errorf("rebuild: swap: %w", ctx.Err())
		case <-time.After(s.swap.pause):
		}
		moved, err := s.movedStreams(ctx, s.db, versions)
		if err == nil {
			err = s.catchUp(ctx, s.db, moved, versions)
		}
		if err != nil {
			return stats, fmt.Errorf("rebuild: catch up: %w", err)
		}
	}
}

// errLockTimeout is a swap attempt's lock not granted within its
// lock_timeout: nothing was done, the attempt can be repeated.
var errLockTimeout = errors.New("lock not granted")

// swapIn tries once, in one transaction, to lock the live tables, refold
// the streams that moved since versions, and put the aside tables in
// place. It returns how many streams it refolded. It fails with
// errLockTimeout, having done nothing, when the lock is not granted within
// the policy's lock timeout.
func (s *Store) swapIn(ctx context.Context, versions map[string]int64, indexes [][]asideIndex) (int, error) {
	var caught int
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		tables := make([]bun.Ident, len(s.projections))
		for i, p := range s.projections {
			tables[i] = bun.Ident(p.Table())
		}
		// Every lock this transaction waits for is bounded (SET LOCAL).
		if _, err := tx.ExecContext(ctx, "SELECT set_config('lock_timeout', ?, true)", fmt.Sprint(s.swap.lockTimeout.Milliseconds())); err != nil {
			return err
		}
		// ACCESS EXCLUSIVE from the start: a weaker lock would let a
		// writer's read of the table slip in and deadlock with the swap.
		// Readers wait for this transaction only, which refolds just the
		// streams appended to since the catch-up above.
		if _, err := tx.ExecContext(ctx, "LOCK TABLE ? IN ACCESS EXCLUSIVE MODE", bun.In(tables)); err != nil {
			if lockNotAvailable(err) {
				return fmt.Errorf("%w: %w", errLockTimeout, err)
			}
			return err
		}
		moved, err := s.movedStreams(ctx, tx, versions)
		if err != nil {
			return err
		}
		caught = len(moved)
		if err := s.catchUp(ctx, tx, moved, versions); err != nil {
			return err
		}
		// Under the lock, so that a grant made during the replay is kept.
		for _, p := range s.projections {
			if err := copyAccess(ctx, tx, p.Table(), aside(p)); err != nil {
				return err
			}
		}
		for i, p := range s.projections {
			if err := swap(ctx, tx, p.Table(), aside(p), indexes[i]); err != nil {
				return err
			}
		}
		return nil
	})
	return caught, err
}

func aside(p Projection) string { return p.Table() + "_rebuild" }

// asideIndex is an index of a live projection table, to be made on its
// aside table once filled, under a temporary name that the swap changes
// to the live one's.
type asideIndex struct {
	name, temp string
	make       string // the statement that makes it on the aside table
}

// asideIndexes reads the indexes and index-backed constraints (primary
// keys, unique and exclusion constraints) of p's live table, with what
// makes each on the aside table: Postgres's own definition of it, named
// apart.
func asideIndexes(ctx context.Context, db bun.IDB, p Projection) ([]asideIndex, error) {
	var rows []struct {
		Name       string `bun:"name"`
		Temp       string `bun:"temp"`
		Constraint string `bun:"constraint_def"`
		Index      string `bun:"index_def"`
		Prefix     string `bun:"prefix"` // of Index, up to the columns
		Unique     bool   `bun:"unique"`
	}
	err := db.NewRaw(`SELECT x.relname AS name, 'rebuild_' || x.oid AS temp,
			coalesce(pg_get_constraintdef(c.oid), '') AS constraint_def, pg_get_indexdef(x.oid) AS index_def, i.indisunique AS unique,
			format('CREATE %sINDEX %I ON %I.%I ', CASE WHEN i.indisunique THEN 'UNIQUE ' END, x.relname, n.nspname, t.relname) AS prefix
		FROM pg_index i
		JOIN pg_class x ON x.oid = i.indexrelid
		JOIN pg_class t ON t.oid = i.indrelid
		JOIN pg_namespace n ON n.oid = t.relnamespace
		LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u', 'x')
		WHERE i.indrelid = to_regclass(?)
		ORDER BY x.relname`, regclass(p.Table())).Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("read indexes: %w", err)
	}
	out := make([]asideIndex, len(rows))
	for i, r := range rows {
		ix := asideIndex{name: r.Name, temp: r.Temp}
		table, temp := pgx.Identifier{aside(p)}.Sanitize(), pgx.Identifier{r.Temp}.Sanitize()
		switch rest, ok := strings.CutPrefix(r.Index, r.Prefix); {
		case r.Constraint != "":
			ix.make = fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s %s", table, temp, r.Constraint)
		case ok:
			unique := ""
			if r.Unique {
				unique = "UNIQUE "
			}
			ix.make = fmt.Sprintf("CREATE %sINDEX %s ON %s %s", unique, temp, table, rest)
		default:
			return nil, fmt.Errorf("index %s: a definition not of the form %q: %s", r.Name, r.Prefix, r.Index)
		}
		out[i] = ix
	}
	return out, nil
}

// makeIndexes makes the aside tables' indexes, one connection per table.
func (s *Store) makeIndexes(ctx context.Context, indexes [][]asideIndex) error {
	errs := make(chan error, len(indexes))
	for _, ixs := range indexes {
		go func() {
			for _, ix := range ixs {
				// database/sql's own: bun would read a ? in it as a placeholder.
				if _, err := s.db.DB.ExecContext(ctx, ix.make); err != nil {
					errs <- fmt.Errorf("index %s: %w", ix.name, err)
					return
				}
			}
			errs <- nil
		}()
	}
	var first error
	for range indexes {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

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
		acc, err := ports.Replay(stream, events)
		if err != nil {
			return err
		}
		var updatedAt time.Time
		if len(events) > 0 {
			versions[stream] = events[len(events)-1].Version
			updatedAt = events[len(events)-1].RecordedAt
		}
		for _, p := range s.projections {
			// The stream's rows are remade from scratch (rows of removed
			// things must go too).
			if _, err := tx.ExecContext(ctx, "DELETE FROM ? WHERE ? = ?", bun.Ident(aside(p)), bun.Ident(p.StreamColumn()), stream); err != nil {
				return err
			}
			rows, err := p.rows(acc, updatedAt)
			if err != nil {
				return err
			}
			if err := writeRows(ctx, tx, aside(p), p.shape(), rows); err != nil {
				return err
			}
		}
	}
	return nil
}

// swap replaces table by its rebuilt copy and gives the copy's indexes
// (and the constraints they back) the live table's names. Readers blocked
// on the old table go on with the new.
func swap(ctx context.Context, tx bun.Tx, table, rebuilt string, indexes []asideIndex) error {
	if _, err := tx.ExecContext(ctx, "DROP TABLE ?", bun.Ident(table)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "ALTER TABLE ? RENAME TO ?", bun.Ident(rebuilt), bun.Ident(table)); err != nil {
		return err
	}
	for _, ix := range indexes {
		if _, err := tx.ExecContext(ctx, "ALTER INDEX ? RENAME TO ?", bun.Ident(ix.temp), bun.Ident(ix.name)); err != nil {
			return err
		}
	}
	return nil
}

// shard folds the streams that hash to it.
type shard struct {
	streams []*folded // in the order the shard met them
	// claims are the Stripe ids the shard's streams named, each with the
	// first stream to name it and the position where it did.
	claims map[string]claim
	in     chan *replayBatch
	err    error
	// every is the periodic snapshots' interval (0: none kept), and
	// snapshots the ones the fold made.
	every     int64
	snapshots [][]any // rows of billing_account_snapshots
}

// folded is a stream's account as the replay has folded it.
type folded struct {
	acc       *billing.Account
	updatedAt time.Time    // recorded_at of its newest event
	segment   snapshotMeta // since its last periodic snapshot
}

type claim struct {
	stream   string
	position int64
}

// replayEvent is an event as the replay reads it: the columns the fold
// needs, its data in the batch's one buffer.
type replayEvent struct {
	position, version  int64
	stream             *replayStream
	typ                string
	schema             int
	data               []byte
	occurred, recorded time.Time
}

// replayStream is a stream as the replay's reader met it: its id, its
// shard, and, set by that shard alone, its fold (so that a shard finds a
// stream's account without a lookup per event).
type replayStream struct {
	id    string
	shard int
	f     *folded
}

// replayBatch is a shard's share of the ledger, handed over at a time:
// its events' data share one buffer. Batches are recycled once folded
// (the decoder copies what it keeps), so a rebuild touches the same few
// megabytes instead of new memory for every event.
type replayBatch struct {
	events []replayEvent
	data   []byte
}

// replay reads the whole ledger in position order on one connection, in
// Postgres's binary format, and hands each event to the shard of its
// stream; shards decode and fold in parallel (JSON decoding is most of the
// cost). A stream's events stay in order within its shard. progress is
// called from time to time with the position and count reached.
func (s *Store) replay(ctx context.Context, progress func(pos, n int64)) ([]*shard, error) {
	shards := make([]*shard, max(1, runtime.GOMAXPROCS(0)))
	done := make(chan struct{}, len(shards))
	ins := make([]chan<- *replayBatch, len(shards))
	free := make(chan *replayBatch, 8*len(shards))
	for i := range shards {
		sh := &shard{claims: map[string]claim{}, in: make(chan *replayBatch, 4)}
		ins[i] = sh.in
		if s.status != nil {
			sh.every = s.status.every
		}
		shards[i] = sh
		go func() {
			defer func() { done <- struct{}{} }()
			for batch := range sh.in {
				if sh.err == nil {
					sh.err = sh.fold(batch.events)
				}
				select {
				case free <- batch:
				default:
				}
			}
		}()
	}
	readErr := s.scanBinary(ctx, ins, free, progress)
	for _, sh := range shards {
		close(sh.in)
	}
	for range shards {
		<-done
	}
	if readErr != nil {
		return nil, readErr
	}
	for _, sh := range shards {
		if sh.err != nil {
			return nil, sh.err
		}
	}
	return shards, nil
}

func (sh *shard) fold(batch []replayEvent) error {
	for _, e := range batch {
		// goccy/go-json decodes the same structs as encoding/json, several
		// times faster; decoding is most of a rebuild's cost.
		c, err := billing.DecodeChangeWith(gojson.Unmarshal, e.typ, e.schema, e.data)
		if err != nil {
			return fmt.Errorf("event %d: %w", e.position, err)
		}
		f := e.stream.f
		if f == nil {
			f = &folded{acc: billing.NewAccount(e.stream.id)}
			e.stream.f = f
			sh.streams = append(sh.streams, f)
		}
		held := f.acc.StripeIDCount()
		f.acc.Apply(billing.Event{Change: c, OccurredAt: e.occurred})
		if f.acc.StripeIDCount() > held {
			// The event named an id new to the stream: claim it unless an
			// earlier event of the shard did. (The ids held before were
			// claimed when the stream first named them.)
			for _, id := range f.acc.StripeIDs() {
				if _, claimed := sh.claims[id]; !claimed {
					sh.claims[id] = claim{stream: e.stream.id, position: e.position}
				}
			}
		}
		f.updatedAt = e.recorded
		if sh.every > 0 {
			row, err := f.segment.track(f.acc, e.stream.id, e.version, e.occurred, e.recorded, sh.every)
			if err != nil {
				return fmt.Errorf("event %d: snapshot: %w", e.position, err)
			}
			if row != nil {
				sh.snapshots = append(sh.snapshots, row)
			}
		}
	}
	return nil
}

// replayBatchSize is how many events a shard is handed at a time.
const replayBatchSize = 512

// scanBinary streams the ledger's columns the projections read through
// pgx's extended protocol, every column in binary (integers and times as
// they are stored: no text parsing), and hands each event to the shard of
// its stream (by [streamHash], once per stream), in batches of
// replayBatchSize, taken from free when one is there. Each stream is one
// [replayStream] and each type one string, however many events name them.
func (s *Store) scanBinary(ctx context.Context, shards []chan<- *replayBatch, free <-chan *replayBatch, progress func(pos, n int64)) error {
	return s.withPgx(ctx, func(pc *pgx.Conn) error {
		rows, err := pc.Query(ctx, `SELECT position, stream_id, stream_version, type, schema_version, data::text, occurred_at, recorded_at
			FROM billing_events ORDER BY position`, pgx.QueryExecModeDescribeExec, pgx.QueryResultFormats{pgx.BinaryFormatCode})
		if err != nil {
			return err
		}
		defer rows.Close()
		parts := make([]*replayBatch, len(shards))
		emit := func(i int) {
			shards[i] <- parts[i]
			parts[i] = nil
		}
		streams, types := map[string]*replayStream{}, map[string]string{}
		var n, pos int64
		lastReport := time.Now()
		for rows.Next() {
			e, data, err := decodeReplayRow(rows.RawValues(), streams, types, len(shards))
			if err != nil {
				return fmt.Errorf("event after position %d: %w", pos, err)
			}
			i := e.stream.shard
			p := parts[i]
			if p == nil {
				select {
				case p = <-free:
					p.events, p.data = p.events[:0], p.data[:0]
				default:
					p = &replayBatch{events: make([]replayEvent, 0, replayBatchSize), data: make([]byte, 0, replayBatchSize*512)}
				}
				parts[i] = p
			}
			if cap(p.data)-len(p.data) < len(data) {
				// A new buffer: the batch's events keep the old one.
				p.data = make([]byte, 0, max(2*cap(p.data), len(data)))
			}
			at := len(p.data)
			p.data = append(p.data, data...)
			e.data = p.data[at:len(p.data):len(p.data)]
			p.events = append(p.events, e)
			if len(p.events) == replayBatchSize {
				emit(i)
			}
			n, pos = n+1, e.position
			if n%replayBatchSize == 0 && time.Since(lastReport) > 100*time.Millisecond {
				progress(pos, n)
				lastReport = time.Now()
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for i, p := range parts {
			if p != nil && len(p.events) > 0 {
				emit(i)
			}
		}
		progress(pos, n)
		return nil
	})
}

// pgEpoch is where Postgres's binary timestamps count from.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()

// decodeReplayRow decodes a row of scanBinary's query (every column in
// binary): its data is returned apart, valid until the next row.
func decodeReplayRow(vals [][]byte, streams map[string]*replayStream, types map[string]string, shards int) (replayEvent, []byte, error) {
	var e replayEvent
	if len(vals) != 8 || len(vals[0]) != 8 || len(vals[2]) != 8 || len(vals[4]) != 4 || len(vals[6]) != 8 || len(vals[7]) != 8 {
		return e, nil, errors.New("unexpected row shape")
	}
	e.position = int64(binary.BigEndian.Uint64(vals[0]))
	e.stream = streams[string(vals[1])]
	if e.stream == nil {
		id := string(vals[1])
		e.stream = &replayStream{id: id, shard: int(streamHash(id) % uint32(shards))}
		streams[id] = e.stream
	}
	e.version = int64(binary.BigEndian.Uint64(vals[2]))
	e.typ = intern(types, vals[3])
	e.schema = int(int32(binary.BigEndian.Uint32(vals[4])))
	for i, t := range []*time.Time{&e.occurred, &e.recorded} {
		us := int64(binary.BigEndian.Uint64(vals[6+i]))
		if us == math.MaxInt64 || us == math.MinInt64 {
			return e, nil, errors.New("an infinite timestamp")
		}
		*t = time.UnixMicro(pgEpoch + us).UTC()
	}
	return e, vals[5], nil
}

// intern returns b as a string, one string per distinct value in m.
func intern(m map[string]string, b []byte) string {
	if s, ok := m[string(b)]; ok {
		return s
	}
	s := string(b)
	m[s] = s
	return s
}

// fill writes the shard's rows of every projection but the links into
// the aside tables, by COPY, each row made as COPY takes it: none is kept
// (a status row's snapshot is most of its bytes), and the rows are made
// while Postgres writes the ones sent before.
func (s *Store) fill(ctx context.Context, sh *shard) error {
	return s.withPgx(ctx, func(pc *pgx.Conn) error {
		for _, p := range s.projections {
			if _, links := p.(*LinksProjection); links {
				continue
			}
			src := &foldedRows{p: p, streams: sh.streams}
			if _, err := pc.CopyFrom(ctx, pgx.Identifier{aside(p)}, p.shape().columns, src); err != nil {
				return fmt.Errorf("rebuild %s: copy: %w", p.Table(), err)
			}
		}
		return nil
	})
}

// foldedRows is a [pgx.CopyFromSource] of a projection's rows for the
// streams a shard folded.
type foldedRows struct {
	p       Projection
	streams []*folded
	rows    [][]any // the current stream's rows not yet taken
	row     []any
	err     error
}

func (r *foldedRows) Next() bool {
	for len(r.rows) == 0 {
		if len(r.streams) == 0 {
			return false
		}
		f := r.streams[0]
		r.streams = r.streams[1:]
		if r.rows, r.err = r.p.rows(f.acc, f.updatedAt); r.err != nil {
			return false
		}
	}
	r.row, r.rows = r.rows[0], r.rows[1:]
	return true
}

func (r *foldedRows) Values() ([]any, error) { return r.row, nil }

func (r *foldedRows) Err() error { return r.err }

// fillLinks writes every Stripe id with the first stream to name it in
// the ledger, as the live appends did (the first link of an id wins).
func (s *Store) fillLinks(ctx context.Context, shards []*shard) error {
	var p Projection
	for _, q := range s.projections {
		if _, links := q.(*LinksProjection); links {
			p = q
		}
	}
	if p == nil {
		return nil
	}
	first := map[string]claim{}
	for _, sh := range shards {
		for id, c := range sh.claims {
			if f, ok := first[id]; !ok || c.position < f.position {
				first[id] = c
			}
		}
	}
	rows := make([][]any, 0, len(first))
	for id, c := range first {
		rows = append(rows, []any{id, c.stream})
	}
	return s.withPgx(ctx, func(pc *pgx.Conn) error {
		if err := copyRows(ctx, pc, aside(p), p.shape(), rows); err != nil {
			return fmt.Errorf("rebuild %s: %w", p.Table(), err)
		}
		return nil
	})
}

// withPgx runs fn on a pooled connection as pgx's own (for COPY and the
// binary protocol).
func (s *Store) withPgx(ctx context.Context, fn func(*pgx.Conn) error) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error { return fn(dc.(*stdlib.Conn).Conn()) })
}
