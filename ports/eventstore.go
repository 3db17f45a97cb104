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
// ExpectedVersion (0 for a stream that does not exist yet). It is the
// low-level write of tools and tests; commands go through
// [EventStore.Update].
type AppendRequest struct {
	StreamID        string
	ExpectedVersion int64
	Events          []NewEvent
	Metadata        Metadata
	// IdempotencyKey, when set, is recorded in the same transaction as the
	// events: a second append with the same key appends nothing and
	// reports Duplicate, whatever its expected version.
	IdempotencyKey string
}

// AppendResult tells what an append did.
type AppendResult struct {
	Duplicate bool          // the idempotency key was already recorded; nothing appended
	Events    []StoredEvent // the events as stored
}

// Decide is a command's decision on an organization's account as the
// ledger has committed it: the events to append (none to append nothing),
// or why not. It may be called more than once (after a lost race) and
// must not change the account.
type Decide func(acc *billing.Account) ([]billing.Event, error)

// Update is one command's write to one stream.
type Update struct {
	StreamID string
	Metadata Metadata
	// IdempotencyKey, when set, is recorded with the events: an update
	// whose key was recorded before appends nothing and reports Duplicate.
	IdempotencyKey string
	Decide         Decide
}

// Updated tells what an update did.
type Updated struct {
	Account   *billing.Account // the account after the new events (as decided on, when none); read it, never fold onto it: the store may keep it
	Events    []StoredEvent    // the events appended, as stored
	Duplicate bool             // the idempotency key was recorded before; nothing appended
	Attempts  int              // how many times the store decided
}

// ErrBusy means an update lost the race for its stream too many times in
// a row. The caller may retry later (webhooks: Stripe will).
var ErrBusy = errors.New("stream too busy, try again")

// EventStore is the append-only ledger: one stream of events per
// organization, each stream versioned from 1 without gaps. Implementations
// are safe for concurrent use.
type EventStore interface {
	// Update is the one write path of commands, in the update-function
	// style: the store loads the stream's account (from what it
	// remembers, a snapshot, or the stream), calls u.Decide, and appends
	// the events at the version it loaded, with the read models, in one
	// transaction; when another writer got there first it loads again and
	// decides again. A decision made on a remembered account that appends
	// nothing or fails is made again on a fresh read before it is
	// returned, so no answer comes from a state older than the committed
	// ledger. An error of Decide is returned as it is.
	Update(ctx context.Context, u Update) (Updated, error)
	// RecordStripeEvent is Update for the facts of a Stripe event: the
	// store also keeps e in the inbox, as applied to the stream, in the
	// same transaction, so a webhook costs one commit.
	RecordStripeEvent(ctx context.Context, e InboxEntry, u Update) (Updated, error)
	// Account returns the stream's account as the ledger has committed it
	// (a new account for an unknown stream). It is only read: an adapter
	// may share it.
	Account(ctx context.Context, streamID string) (*billing.Account, error)
	// Append appends atomically, with optimistic concurrency: it returns
	// ErrVersionConflict when the stream is not at the expected version.
	// Read models are updated in the same transaction.
	Append(ctx context.Context, req AppendRequest) (AppendResult, error)
	// Load returns a stream's events in version order; none for an
	// unknown stream.
	Load(ctx context.Context, streamID string) ([]StoredEvent, error)
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
	// LastPosition returns the global position of the newest event, 0 for
	// an empty ledger.
	LastPosition(ctx context.Context) (int64, error)
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

// Maintenance removes data past its use: expired sessions, and the
// payloads of settled Stripe events past retention (their ids stay, so a
// duplicate delivery is still recognized). Each call works in batches of
// batch rows, each a short transaction, and returns how many rows it
// removed or emptied.
type Maintenance interface {
	DeleteExpiredSessions(ctx context.Context, now time.Time, batch int) (int64, error)
	PruneInboxPayloads(ctx context.Context, cutoff time.Time, batch int) (int64, error)
}
