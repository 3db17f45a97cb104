// Package memory holds in-memory adapters for application tests. They pass
// the same contract suites as the Postgres adapters.
package memory

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/safeclose/billing/application"
	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/domain/ledger"
	"github.com/safeclose/billing/ports"
)

// Store is an in-memory event store with the billing status read model.
// It is safe for concurrent use.
type Store struct {
	clock ports.Clock

	mu      sync.Mutex
	events  []ports.StoredEvent
	streams map[string][]int // stream → indexes into events
	keys    map[string]bool
	status  map[string]ports.BillingStatus
}

var (
	_ ports.EventStore          = (*Store)(nil)
	_ ports.LedgerScanner       = (*Store)(nil)
	_ ports.BillingStatusReader = (*Store)(nil)
)

// NewStore returns an empty store.
func NewStore(clock ports.Clock) *Store {
	return &Store{clock: clock, streams: map[string][]int{}, keys: map[string]bool{}, status: map[string]ports.BillingStatus{}}
}

// Append implements [ports.EventStore].
func (s *Store) Append(_ context.Context, req ports.AppendRequest) (ports.AppendResult, error) {
	if len(req.Events) == 0 {
		return ports.AppendResult{}, errors.New("append: no events")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
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
	if err := s.project(req.StreamID, stored); err != nil {
		return ports.AppendResult{}, err
	}
	for _, e := range stored {
		s.streams[req.StreamID] = append(s.streams[req.StreamID], len(s.events))
		s.events = append(s.events, e)
	}
	if req.IdempotencyKey != "" {
		s.keys[req.IdempotencyKey] = true
	}
	return ports.AppendResult{Events: stored}, nil
}

// project refolds the stream with the new events into the status map.
func (s *Store) project(stream string, added []ports.StoredEvent) error {
	acc := billing.NewAccount(stream)
	for _, e := range append(s.stream(stream), added...) {
		de, err := billing.DecodeEvent(e.Type, e.SchemaVersion, e.Data, e.OccurredAt)
		if err != nil {
			return err
		}
		acc.Apply(de)
	}
	s.status[stream] = application.StatusOf(acc, added[len(added)-1].RecordedAt)
	return nil
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

// ReadAll implements [ports.EventStore].
func (s *Store) ReadAll(_ context.Context, after int64, fn func(ports.StoredEvent) error) error {
	s.mu.Lock()
	events := slices.Clone(s.events)
	s.mu.Unlock()
	for _, e := range events {
		if e.Position <= after {
			continue
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
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
