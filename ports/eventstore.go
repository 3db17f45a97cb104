// Package ports declares the interfaces the application needs from the
// world outside it, and the sentinel errors they share. Adapters implement
// them; the application and its tests depend only on these.
package ports

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/safeclose/billing/domain/billing"
)

// ErrVersionConflict means the stream moved past the expected version
// between load and append. The caller reloads and decides again.
var ErrVersionConflict = errors.New("stream version conflict")

// ErrNotFound means the thing asked for does not exist (or is not visible
// to the caller; adapters do not distinguish).
var ErrNotFound = errors.New("not found")

// Metadata travels with every event: who or what caused it.
type Metadata struct {
	Actor         string `json:"actor,omitempty"`         // "user:<id>", "stripe", "system:<command>"
	StripeEventID string `json:"stripeEventId,omitempty"` // the Stripe event it records
	CausationID   string `json:"causationId,omitempty"`   // what it answers (a reconciliation run, a sync)
	RequestID     string `json:"requestId,omitempty"`     // the HTTP request that recorded it
}

// NewEvent is an event to append; the store assigns its position,
// version, recorded time and hash.
type NewEvent struct {
	Type          string
	SchemaVersion int
	Data          json.RawMessage
	OccurredAt    time.Time
}

// StoredEvent is one event of the ledger.
type StoredEvent struct {
	Position      int64
	StreamID      string
	Version       int64
	Type          string
	SchemaVersion int
	Data          json.RawMessage
	Metadata      Metadata
	MetadataJSON  json.RawMessage // Metadata as stored, which the hash covers
	OccurredAt    time.Time
	RecordedAt    time.Time
	Hash          []byte
}

// AppendRequest appends events to one stream if it is still at
// ExpectedVersion (0 for a stream that does not exist yet).
type AppendRequest struct {
	StreamID        string
	ExpectedVersion int64
	Events          []NewEvent
	Metadata        Metadata
	// IdempotencyKey, when set, is recorded in the same transaction as the
	// events: a second append with the same key appends nothing and
	// reports Duplicate, whatever its expected version.
	IdempotencyKey string
	// Inbox, when set, is the Stripe event these events record: the store
	// keeps it in the inbox as applied (counting the delivery) in the same
	// transaction, so a webhook costs one commit.
	Inbox *InboxEntry
	// Prior, when set, is the account the caller decided on: the stream
	// folded up to ExpectedVersion. The store may start its read models
	// from it instead of reading them, and never changes it. A Prior of
	// another stream or version is ignored.
	Prior *billing.Account
}

// AppendResult tells what an append did.
type AppendResult struct {
	Duplicate bool          // the idempotency key was already recorded; nothing appended
	Events    []StoredEvent // the events as stored
}

// EventStore is the append-only ledger: one stream of events per
// organization, each stream versioned from 1 without gaps. Implementations
// are safe for concurrent use.
type EventStore interface {
	// Append appends atomically, with optimistic concurrency: it returns
	// ErrVersionConflict when the stream is not at the expected version.
	// Read models registered with the store are updated in the same
	// transaction, so a reader always sees its own writes.
	Append(ctx context.Context, req AppendRequest) (AppendResult, error)
	// Load returns a stream's events in version order; none for an
	// unknown stream.
	Load(ctx context.Context, streamID string) ([]StoredEvent, error)
	// ReadAll calls fn for every event after the given position, in
	// position order, until fn returns an error.
	ReadAll(ctx context.Context, afterPosition int64, fn func(StoredEvent) error) error
}

// StreamHead is a stream's version and last hash as the store's stream
// index holds them, to check against the events themselves.
type StreamHead struct {
	Version  int64
	LastHash []byte
}

// LedgerScanner reads the ledger stream by stream, for verification and
// export.
type LedgerScanner interface {
	// ScanStreams calls fn for every event of streamID ("" for every
	// stream), ordered by stream and then version.
	ScanStreams(ctx context.Context, streamID string, fn func(StoredEvent) error) error
	// Heads returns the stream index: every stream's head, or only
	// streamID's when it is not "".
	Heads(ctx context.Context, streamID string) (map[string]StreamHead, error)
	// Snapshot calls fn with a scanner whose reads all see the ledger as
	// one instant left it: appends committed while fn runs are invisible
	// to it, so the heads and the events it reads agree. The scanner is
	// valid only until fn returns.
	Snapshot(ctx context.Context, fn func(LedgerScanner) error) error
}

// RebuildStats tells what a projection rebuild did.
type RebuildStats struct {
	Events   int64 // events replayed from the ledger
	Streams  int   // streams in the rebuilt read models
	CaughtUp int   // streams refolded because they moved during the replay
}

// ProjectionRebuilder remakes every read model from the ledger alone while
// the service keeps serving.
type ProjectionRebuilder interface {
	// Rebuild calls progress, when not nil, with the ledger position
	// reached and the last position as it goes.
	Rebuild(ctx context.Context, progress func(position, last int64)) (RebuildStats, error)
}
