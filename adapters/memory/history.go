package memory

import (
	"context"
	"slices"
	"time"

	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/domain/ledger"
	"github.com/safeclose/billing/ports"
)

// History reads the store's ledger for auditors. It is safe for
// concurrent use.
type History struct{ store *Store }

var _ ports.History = History{}

// History returns the store's history reader.
func (s *Store) History() History { return History{store: s} }

// History implements [ports.History]: the org's events after
// q.AfterVersion in version order, of q.Types (any when none), that
// occurred in [q.From, q.To) (a zero bound is none), at most q.Limit of
// them. As in Postgres, a q.Limit of 0 or less is no limit, and the
// bounds are read at the ledger's precision.
func (h History) History(_ context.Context, q ports.HistoryQuery) ([]ports.StoredEvent, error) {
	from, to := q.From.Truncate(ledger.Precision), q.To.Truncate(ledger.Precision)
	return h.events(q.OrgID, func(e ports.StoredEvent) bool {
		return e.Version > q.AfterVersion &&
			(len(q.Types) == 0 || slices.Contains(q.Types, e.Type)) &&
			(q.From.IsZero() || !e.OccurredAt.Before(from)) &&
			(q.To.IsZero() || e.OccurredAt.Before(to))
	}, q.Limit), nil
}

// Known implements [ports.History].
func (h History) Known(_ context.Context, orgID string, asOf, knownAt time.Time) ([]ports.StoredEvent, error) {
	occurred, recorded := asOf.Truncate(ledger.Precision), knownAt.Truncate(ledger.Precision)
	return h.events(orgID, func(e ports.StoredEvent) bool {
		return (asOf.IsZero() || !e.OccurredAt.After(occurred)) && (knownAt.IsZero() || !e.RecordedAt.After(recorded))
	}, 0), nil
}

// AccountAt implements [ports.History]: the fold of what Known selects.
func (h History) AccountAt(ctx context.Context, orgID string, asOf, knownAt time.Time) (ports.KnownAccount, error) {
	events, err := h.Known(ctx, orgID, asOf, knownAt)
	if err != nil {
		return ports.KnownAccount{}, err
	}
	return ports.FoldKnown(billing.NewAccount(orgID), time.Time{}, events)
}

// events returns the org's events that keep selects, in version order, at
// most limit of them (no limit when limit is 0 or less).
func (h History) events(orgID string, keep func(ports.StoredEvent) bool, limit int) []ports.StoredEvent {
	s := h.store
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ports.StoredEvent
	for _, i := range s.streams[orgID] {
		if limit > 0 && len(out) == limit {
			break
		}
		if e := s.events[i]; keep(e) {
			out = append(out, e)
		}
	}
	return out
}
