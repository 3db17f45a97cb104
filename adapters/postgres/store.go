package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	gojson "github.com/goccy/go-json"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/uptrace/bun"

	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/domain/ledger"
	"github.com/safeclose/billing/ports"
)

// Store is the Postgres event store. It is safe for concurrent use.
type Store struct {
	db          *bun.DB
	clock       ports.Clock
	projections []Projection
	status      *StatusProjection // where account snapshots are read, when registered
	heads       *lru.Cache[string, streamHead]
	// seals are the streams' sealed_at this store learnt from an append
	// refused by it (see learnSeal).
	seals      *lru.Cache[string, time.Time]
	swap       swapPolicy
	onConflict func()
	onAppend   func()

	// accounts remembers each stream's account after this store's last
	// append to it. An account at a version is true forever, so a
	// remembered one is at worst behind: the append then conflicts, or,
	// for a decision that appends nothing, the store decides again on a
	// fresh read.
	accounts *lru.Cache[string, *billing.Account]
	// streams serializes this store's writers of one stream (striped).
	streams [256]sync.Mutex
	// statements are the prepared statements' names, by SQL.
	statements sync.Map
	// lanes are where appends queue to be sent in groups (group_commit.go).
	lanes []lane
}

var _ ports.EventStore = (*Store)(nil)

// NewStore returns the event store over db, keeping projections up to date.
func NewStore(db *bun.DB, clock ports.Clock, projections []Projection) *Store {
	heads, _ := lru.New[string, streamHead](headCacheSize)
	accounts, _ := lru.New[string, *billing.Account](CachedAccounts)
	seals, _ := lru.New[string, time.Time](headCacheSize)
	s := &Store{db: db, clock: clock, projections: projections, heads: heads, seals: seals, accounts: accounts, swap: defaultSwapPolicy(),
		lanes: make([]lane, groupLanes())}
	for _, p := range projections {
		if sp, ok := p.(*StatusProjection); ok {
			sp.heads = heads // snapshot reads bring the head hash along
			s.status = sp
		}
	}
	return s
}

// OnConflict sets a function called at each update that lost the race for
// its stream and is tried again (a metric). Call it before the store is
// used.
func (s *Store) OnConflict(f func()) { s.onConflict = f }

// OnAppend sets a function called after each append of events has
// committed (the outbound dispatcher's wake-up); it must not block. Call
// it before the store is used.
func (s *Store) OnAppend(f func()) { s.onAppend = f }

type eventRow struct {
	bun.BaseModel `bun:"table:billing_events"`

	Position      int64     `bun:"position,pk,autoincrement"`
	StreamID      string    `bun:"stream_id"`
	Version       int64     `bun:"stream_version"`
	Type          string    `bun:"type"`
	SchemaVersion int       `bun:"schema_version"`
	Data          jsonText  `bun:"data"`
	Metadata      jsonText  `bun:"metadata"`
	OccurredAt    time.Time `bun:"occurred_at"`
	RecordedAt    time.Time `bun:"recorded_at"`
	Hash          []byte    `bun:"hash"`
}

const eventColumns = "position, stream_id, stream_version, type, schema_version, data, metadata, occurred_at, recorded_at, hash"

// Append implements [ports.EventStore] in one round trip (see
// [Store.appendOnce]), after folding the stream up to the expected version.
func (s *Store) Append(ctx context.Context, req ports.AppendRequest) (ports.AppendResult, error) {
	if len(req.Events) == 0 {
		return ports.AppendResult{}, errors.New("append: no events")
	}
	meta, err := marshalMetadata(req.Metadata)
	if err != nil {
		return ports.AppendResult{}, err
	}
	prior, err := s.priorOf(ctx, req.StreamID, req.ExpectedVersion)
	if err != nil {
		return ports.AppendResult{}, err
	}
	decoded := make([]billing.Event, len(req.Events))
	for i, e := range req.Events {
		if decoded[i], err = billing.DecodeEvent(e.Type, e.SchemaVersion, e.Data, e.OccurredAt.UTC().Truncate(ledger.Precision)); err != nil {
			return ports.AppendResult{}, fmt.Errorf("append: event %d: %w", i+1, err)
		}
	}
	res, _, err := s.appendOnce(ctx, req, nil, prior, decoded, meta)
	return res, err
}

// priorOf folds the stream up to version, and remembers the hash there.
// A stream shorter than version is a conflict.
func (s *Store) priorOf(ctx context.Context, stream string, version int64) (*billing.Account, error) {
	if version == 0 {
		return billing.NewAccount(stream), nil
	}
	events, err := s.Load(ctx, stream)
	if err != nil {
		return nil, err
	}
	if int64(len(events)) < version {
		return nil, ports.ErrVersionConflict
	}
	s.heads.Add(stream, streamHead{version: version, hash: events[version-1].Hash})
	return ports.Replay(stream, events[:version])
}

// newEventRows stamps and hash-chains the request's events after the
// stream's last hash prev.
func newEventRows(req ports.AppendRequest, meta json.RawMessage, prev []byte, now time.Time) ([]eventRow, error) {
	rows := make([]eventRow, len(req.Events))
	for i, e := range req.Events {
		r := ledger.Record{
			StreamID: req.StreamID, Version: req.ExpectedVersion + int64(i) + 1,
			Type: e.Type, SchemaVersion: e.SchemaVersion, Data: e.Data, Metadata: meta,
			OccurredAt: e.OccurredAt.UTC().Truncate(ledger.Precision), RecordedAt: now,
		}
		var err error
		if prev, err = ledger.Hash(prev, r); err != nil {
			return nil, fmt.Errorf("hash event: %w", err)
		}
		rows[i] = eventRow{StreamID: r.StreamID, Version: r.Version, Type: r.Type, SchemaVersion: r.SchemaVersion,
			Data: jsonText(e.Data), Metadata: jsonText(meta), OccurredAt: r.OccurredAt, RecordedAt: now, Hash: prev}
	}
	return rows, nil
}

func (r eventRow) stored(meta ports.Metadata) ports.StoredEvent {
	return ports.StoredEvent{
		Position: r.Position, StreamID: r.StreamID, Version: r.Version, Type: r.Type,
		SchemaVersion: r.SchemaVersion, Data: json.RawMessage(r.Data), Metadata: meta, MetadataJSON: json.RawMessage(r.Metadata),
		OccurredAt: r.OccurredAt.UTC(), RecordedAt: r.RecordedAt.UTC(), Hash: r.Hash,
	}
}

// Load implements [ports.EventStore].
func (s *Store) Load(ctx context.Context, streamID string) ([]ports.StoredEvent, error) {
	return loadStream(ctx, s.db, streamID)
}

func loadStream(ctx context.Context, db bun.IDB, streamID string) ([]ports.StoredEvent, error) {
	rows, err := db.QueryContext(ctx,
		"SELECT "+eventColumns+" FROM billing_events WHERE stream_id = ? ORDER BY stream_version", streamID)
	if err != nil {
		return nil, fmt.Errorf("load stream: %w", err)
	}
	var out []ports.StoredEvent
	err = scanEvents(rows, func(e ports.StoredEvent) error {
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load stream: %w", err)
	}
	return out, nil
}

// scanEvents scans rows of eventColumns, after the columns lead scans
// into when given, and calls fn with each event.
func scanEvents(rows *sql.Rows, fn func(ports.StoredEvent) error, lead ...any) error {
	defer rows.Close()
	var (
		e          ports.StoredEvent
		data, meta []byte
	)
	dest := append(lead[:len(lead):len(lead)], &e.Position, &e.StreamID, &e.Version, &e.Type, &e.SchemaVersion,
		&data, &meta, &e.OccurredAt, &e.RecordedAt, &e.Hash)
	for rows.Next() {
		// Scan gives each row its own byte slices: the events handed to fn
		// share nothing.
		e = ports.StoredEvent{}
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		if err := gojson.Unmarshal(meta, &e.Metadata); err != nil {
			return fmt.Errorf("event %d metadata: %w", e.Position, err)
		}
		e.Data, e.MetadataJSON = data, meta
		e.OccurredAt, e.RecordedAt = e.OccurredAt.UTC(), e.RecordedAt.UTC()
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}

var (
	_ ports.LedgerScanner = (*Store)(nil)
	_ ports.LedgerScanner = (*LedgerReader)(nil)
)

// ScanStreams implements [ports.LedgerScanner].
func (s *Store) ScanStreams(ctx context.Context, streamID string, fn func(ports.StoredEvent) error) error {
	return NewLedgerReader(s.db).ScanStreams(ctx, streamID, fn)
}

// Heads implements [ports.LedgerScanner].
func (s *Store) Heads(ctx context.Context, streamID string) (map[string]ports.StreamHead, error) {
	return NewLedgerReader(s.db).Heads(ctx, streamID)
}

// LastPosition implements [ports.LedgerScanner].
func (s *Store) LastPosition(ctx context.Context) (int64, error) {
	return ledgerReader{s.db}.LastPosition(ctx)
}

// Snapshot implements [ports.LedgerScanner].
func (s *Store) Snapshot(ctx context.Context, fn func(ports.LedgerScanner) error) error {
	return NewLedgerReader(s.db).Snapshot(ctx, fn)
}

// LedgerReader reads the ledger, stream by stream, for verification and
// export; on a replica it serves auditors without loading the primary. It
// is safe for concurrent use.
type LedgerReader struct{ db *bun.DB }

// NewLedgerReader returns a reader of the ledger in db.
func NewLedgerReader(db *bun.DB) *LedgerReader { return &LedgerReader{db: db} }

// ScanStreams implements [ports.LedgerScanner].
func (r *LedgerReader) ScanStreams(ctx context.Context, streamID string, fn func(ports.StoredEvent) error) error {
	return ledgerReader{r.db}.ScanStreams(ctx, streamID, fn)
}

// Heads implements [ports.LedgerScanner].
func (r *LedgerReader) Heads(ctx context.Context, streamID string) (map[string]ports.StreamHead, error) {
	return ledgerReader{r.db}.Heads(ctx, streamID)
}

// LastPosition implements [ports.LedgerScanner].
func (r *LedgerReader) LastPosition(ctx context.Context) (int64, error) {
	return ledgerReader{r.db}.LastPosition(ctx)
}

// Snapshot implements [ports.LedgerScanner] with one REPEATABLE READ, READ
// ONLY transaction: its first read fixes the snapshot every later read
// sees. It holds that snapshot while fn runs, which keeps vacuum from
// removing row versions newer than it meanwhile.
func (r *LedgerReader) Snapshot(ctx context.Context, fn func(ports.LedgerScanner) error) error {
	tx, err := r.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin ledger snapshot: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := fn(snapshot{ledgerReader{tx}}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("end ledger snapshot: %w", err)
	}
	return nil
}

// ledgerReader reads the ledger on a database or in a transaction.
type ledgerReader struct{ db bun.IDB }

func (r ledgerReader) ScanStreams(ctx context.Context, streamID string, fn func(ports.StoredEvent) error) error {
	q := "SELECT " + eventColumns + " FROM billing_events ORDER BY stream_id, stream_version"
	args := []any{}
	if streamID != "" {
		q = "SELECT " + eventColumns + " FROM billing_events WHERE stream_id = ? ORDER BY stream_version"
		args = append(args, streamID)
	}
	rows, err := r.db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("scan ledger: %w", err)
	}
	return scanEvents(rows, fn)
}

func (r ledgerReader) LastPosition(ctx context.Context) (int64, error) {
	var n int64
	if err := r.db.QueryRowContext(ctx, "SELECT coalesce(max(position), 0) FROM billing_events").Scan(&n); err != nil {
		return 0, fmt.Errorf("read the last position: %w", err)
	}
	return n, nil
}

func (r ledgerReader) Heads(ctx context.Context, streamID string) (map[string]ports.StreamHead, error) {
	q := r.db.NewSelect().Table("billing_streams").Column("id", "version", "last_hash")
	if streamID != "" {
		q = q.Where("id = ?", streamID)
	}
	rows, err := q.Rows(ctx)
	if err != nil {
		return nil, fmt.Errorf("read stream heads: %w", err)
	}
	defer rows.Close()
	out := map[string]ports.StreamHead{}
	for rows.Next() {
		var (
			id string
			h  ports.StreamHead
		)
		if err := rows.Scan(&id, &h.Version, &h.LastHash); err != nil {
			return nil, fmt.Errorf("read stream heads: %w", err)
		}
		out[id] = h
	}
	return out, rows.Err()
}

// snapshot is the [ports.LedgerScanner] [Store.Snapshot] hands out: its
// reads share one transaction, hence one snapshot.
type snapshot struct{ ledgerReader }

// Snapshot implements [ports.LedgerScanner]: s already reads one snapshot.
func (s snapshot) Snapshot(_ context.Context, fn func(ports.LedgerScanner) error) error { return fn(s) }
