package ports

import (
	"context"
	"time"
)

// HistoryQuery selects a page of one org's ledger in version order.
type HistoryQuery struct {
	OrgID        string
	AfterVersion int64
	Limit        int
	Types        []string  // none: every type
	From, To     time.Time // occurredAt in [From, To); zero: unbounded
}

// History reads the ledger for auditors, possibly from a replica.
type History interface {
	// History returns up to q.Limit events after q.AfterVersion.
	History(ctx context.Context, q HistoryQuery) ([]StoredEvent, error)
	// Known returns the org's events that had occurred by asOf and were
	// recorded by knownAt (zero: no bound), in version order.
	Known(ctx context.Context, orgID string, asOf, knownAt time.Time) ([]StoredEvent, error)
	// AccountAt returns the org's account made of exactly the events Known
	// selects, folded in version order (an adapter may start from a
	// snapshot of a prefix they all belong to), with the newest
	// recorded_at among them.
	AccountAt(ctx context.Context, orgID string, asOf, knownAt time.Time) (KnownAccount, error)
}
