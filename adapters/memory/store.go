// Package memory holds in-memory adapters for application tests. They pass
// the same contract suites as the Postgres adapters.
package memory

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/domain/ledger"
	"github.com/safeclose/billing/ports"
)

// Store is an in-memory event store with the billing status read model,
// in the role of the one database: the Stripe inbox, the users and their
// sessions are kept in it too, and its views ([Store.Inbox],
// [Store.Links], [Store.Orgs], [Store.Users], [Store.History]) read the
// same ledger. It is safe for concurrent use.
type Store struct {
	clock ports.Clock

	mu       sync.Mutex
	events   []ports.StoredEvent
	streams  map[string][]int // stream → indexes into events
	keys     map[string]bool
	accounts map[string]*billing.Account // stream → its account, folded from its events; never changed once stored
	status   map[string]ports.BillingStatus
	links    map[string]string           // Stripe id → the first org whose account held it
	inbox    map[string]ports.InboxEntry // Stripe event id → the event as kept
	users    map[string]ports.User       // id → user
	emails   map[string]string           // lower-cased email → user id
	sessions map[string]ports.Session    // token hash → session
}

var (
	_ ports.EventStore          = (*Store)(nil)
	_ ports.LedgerScanner       = (*Store)(nil)
	_ ports.BillingStatusReader = (*Store)(nil)
)

// NewStore returns an empty store.
func NewStore(clock ports.Clock) *Store {
	return &Store{clock: clock, streams: map[string][]int{}, keys: map[string]bool{}, accounts: map[string]*billing.Account{},
		status: map[string]ports.BillingStatus{}, links: map[string]string{}, inbox: map[string]ports.InboxEntry{},
		users: map[string]ports.User{}, emails: map[string]string{}, sessions: map[string]ports.Session{}}
}

// Append implements [ports.EventStore].
func (s *Store) Append(_ context.Context, req ports.AppendRequest) (ports.AppendResult, error) {
	if len(req.Events) == 0 {
		return ports.AppendResult{}, errors.New("append: no events")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.appendLocked(req, nil)
}

// Update implements [ports.EventStore]. Writers take turns, so no update
// ever loses a race.
func (s *Store) Update(_ context.Context, u ports.Update) (ports.Updated, error) {
	return s.update(u, nil)
}

// RecordStripeEvent implements [ports.EventStore]: the event is kept in
// the store's inbox ([Store.Inbox]) as applied to the stream, with the
// events that record it.
func (s *Store) RecordStripeEvent(_ context.Context, e ports.InboxEntry, u ports.Update) (ports.Updated, error) {
	return s.update(u, &e)
}

func (s *Store) update(u ports.Update, inbox *ports.InboxEntry) (ports.Updated, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	acc, err := ports.Replay(u.StreamID, s.stream(u.StreamID))
	if err != nil {
		return ports.Updated{}, err
	}
	events, err := u.Decide(acc)
	if err != nil || len(events) == 0 {
		return ports.Updated{Account: acc, Attempts: 1}, err
	}
	req := ports.AppendRequest{StreamID: u.StreamID, ExpectedVersion: acc.Version(), Metadata: u.Metadata, IdempotencyKey: u.IdempotencyKey}
	after := acc.Clone()
	for _, e := range events {
		data, err := billing.EncodeChange(e.Change)
		if err != nil {
			return ports.Updated{}, err
		}
		req.Events = append(req.Events, ports.NewEvent{Type: e.Type(), SchemaVersion: billing.SchemaVersion, Data: data, OccurredAt: e.OccurredAt})
		after.Apply(ports.AtLedgerPrecision(e))
	}
	res, err := s.appendLocked(req, inbox)
	if err != nil || res.Duplicate {
		return ports.Updated{Account: acc, Duplicate: res.Duplicate, Attempts: 1}, err
	}
	return ports.Updated{Account: after, Events: res.Events, Attempts: 1}, nil
}

// Account implements [ports.EventStore].
func (s *Store) Account(_ context.Context, streamID string) (*billing.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ports.Replay(streamID, s.stream(streamID))
}

func (s *Store) appendLocked(req ports.AppendRequest, inbox *ports.InboxEntry) (ports.AppendResult, error) {
	if req.IdempotencyKey != "" && s.keys[req.IdempotencyKey] {
		return ports.AppendResult{Duplicate: true}, nil
	}
	idx := s.streams[req.StreamID]
	if int64(len(idx)) != req.ExpectedVersion {
		return ports.AppendResult{}, ports.ErrVersionConflict
	}
	var prev []byte
	if len(idx) > 0 {
		prev = s.events[idx[len(idx)-1]].Hash
	}
	if inbox != nil {
		if err := checkInboxJSON(*inbox); err != nil {
			return ports.AppendResult{}, err
		}
	}
	now := s.clock.Now().Truncate(ledger.Precision)
	meta, err := marshalMeta(req.Metadata)
	if err != nil {
		return ports.AppendResult{}, err
	}
	stored := make([]ports.StoredEvent, len(req.Events))
	for i, e := range req.Events {
		r := ledger.Record{StreamID: req.StreamID, Version: req.ExpectedVersion + int64(i) + 1, Type: e.Type,
			SchemaVersion: e.SchemaVersion, Data: e.Data, Metadata: meta,
			OccurredAt: e.OccurredAt.UTC().Truncate(ledger.Precision), RecordedAt: now}
		if prev, err = ledger.Hash(prev, r); err != nil {
			return ports.AppendResult{}, err
		}
		stored[i] = ports.StoredEvent{Position: int64(len(s.events) + i + 1), StreamID: r.StreamID, Version: r.Version,
			Type: r.Type, SchemaVersion: r.SchemaVersion, Data: slices.Clone(e.Data), Metadata: req.Metadata, MetadataJSON: meta,
			OccurredAt: r.OccurredAt, RecordedAt: now, Hash: prev}
	}
	acc, err := ports.Replay(req.StreamID, append(s.stream(req.StreamID), stored...))
	if err != nil {
		return ports.AppendResult{}, err
	}
	s.accounts[req.StreamID] = acc
	s.status[req.StreamID] = acc.View(now)
	// A Stripe id is linked to the first org whose account held it, as
	// the Postgres projection does (ON CONFLICT DO NOTHING).
	for _, id := range acc.StripeIDs() {
		if _, ok := s.links[id]; !ok {
			s.links[id] = req.StreamID
		}
	}
	for _, e := range stored {
		s.streams[req.StreamID] = append(s.streams[req.StreamID], len(s.events))
		s.events = append(s.events, e)
	}
	if req.IdempotencyKey != "" {
		s.keys[req.IdempotencyKey] = true
	}
	if inbox != nil {
		s.keepApplied(*inbox, req.StreamID, now)
	}
	return ports.AppendResult{Events: stored}, nil
}

func (s *Store) stream(id string) []ports.StoredEvent {
	out := make([]ports.StoredEvent, 0, len(s.streams[id]))
	for _, i := range s.streams[id] {
		out = append(out, s.events[i])
	}
	return out
}

// Load implements [ports.EventStore].
func (s *Store) Load(_ context.Context, streamID string) ([]ports.StoredEvent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stream(streamID), nil
}

// ScanStreams implements [ports.LedgerScanner].
func (s *Store) ScanStreams(_ context.Context, streamID string, fn func(ports.StoredEvent) error) error {
	s.mu.Lock()
	ids := []string{streamID}
	if streamID == "" {
		ids = ids[:0]
		for id := range s.streams {
			ids = append(ids, id)
		}
		slices.Sort(ids)
	}
	var events []ports.StoredEvent
	for _, id := range ids {
		events = append(events, s.stream(id)...)
	}
	s.mu.Unlock()
	for _, e := range events {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// Heads implements [ports.LedgerScanner].
func (s *Store) Heads(_ context.Context, streamID string) (map[string]ports.StreamHead, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]ports.StreamHead{}
	for id, idx := range s.streams {
		if streamID == "" || id == streamID {
			out[id] = ports.StreamHead{Version: int64(len(idx)), LastHash: s.events[idx[len(idx)-1]].Hash}
		}
	}
	return out, nil
}

// LastPosition implements [ports.LedgerScanner].
func (s *Store) LastPosition(context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(len(s.events)), nil
}

// Snapshot implements [ports.LedgerScanner]: fn reads a copy of the
// ledger taken at once.
func (s *Store) Snapshot(_ context.Context, fn func(ports.LedgerScanner) error) error {
	s.mu.Lock()
	snap := &Store{clock: s.clock, events: slices.Clone(s.events), streams: make(map[string][]int, len(s.streams))}
	for id, idx := range s.streams {
		snap.streams[id] = slices.Clone(idx)
	}
	s.mu.Unlock()
	return fn(snap)
}

// Status implements [ports.BillingStatusReader].
func (s *Store) Status(_ context.Context, orgID string) (ports.BillingStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.status[orgID]
	if !ok {
		return ports.BillingStatus{}, ports.ErrNotFound
	}
	return st, nil
}
