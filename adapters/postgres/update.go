package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// CachedAccounts bounds the accounts a Store remembers between updates
// (about 1 KB each).
const CachedAccounts = 10_000

// MaxUpdateAttempts bounds how often an update loads and decides again
// after losing the race for its stream.
const MaxUpdateAttempts = 10

// Update implements [ports.EventStore].
func (s *Store) Update(ctx context.Context, u ports.Update) (ports.Updated, error) {
	return s.update(ctx, u, nil)
}

// RecordStripeEvent implements [ports.EventStore].
func (s *Store) RecordStripeEvent(ctx context.Context, e ports.InboxEntry, u ports.Update) (ports.Updated, error) {
	return s.update(ctx, u, &e)
}

// update is the one write path: load the account, decide, append at the
// loaded version in one round trip; on a lost race, load and decide again,
// at most MaxUpdateAttempts times.
//
// Writers of one stream in this process queue on a striped mutex, so that
// concurrent deliveries for one org wait for each other instead of racing;
// between processes the append's constraints arbitrate.
func (s *Store) update(ctx context.Context, u ports.Update, inbox *ports.InboxEntry) (ports.Updated, error) {
	mu := &s.streams[streamHash(u.StreamID)%uint32(len(s.streams))]
	mu.Lock()
	defer mu.Unlock()
	meta, err := marshalMetadata(u.Metadata)
	if err != nil {
		return ports.Updated{}, err
	}
	for attempt := 1; attempt <= MaxUpdateAttempts; attempt++ {
		acc, remembered, err := s.loadForUpdate(ctx, u.StreamID, attempt)
		if err != nil {
			return ports.Updated{}, err
		}
		events, err := u.Decide(acc)
		if err != nil || len(events) == 0 {
			if remembered {
				// No append checks this decision against the ledger, and
				// another instance may have appended since this one
				// remembered the account: decide again on a fresh read.
				s.accounts.Remove(u.StreamID)
				continue
			}
			return ports.Updated{Account: acc, Attempts: attempt}, err
		}
		res, after, err := s.appendDecided(ctx, u, meta, inbox, acc, events)
		if errors.Is(err, ports.ErrVersionConflict) {
			s.accounts.Remove(u.StreamID)
			if s.onConflict != nil {
				s.onConflict()
			}
			backoff(ctx, attempt)
			continue
		}
		if err != nil {
			return ports.Updated{}, err
		}
		if res.Duplicate {
			return ports.Updated{Account: acc, Duplicate: true, Attempts: attempt}, nil
		}
		// after is this append's own (folded on a clone of the prior
		// account), and nothing changes a remembered account: remember it
		// as it is.
		s.accounts.Add(u.StreamID, after)
		return ports.Updated{Account: after, Events: res.Events, Attempts: attempt}, nil
	}
	return ports.Updated{}, ports.ErrBusy
}

// streamHash is the FNV-1a hash of a stream's id (as hash/fnv's, without
// its allocation): it picks a stream's writer mutex here and its shard in
// a rebuild.
func streamHash(stream string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(stream); i++ {
		h = (h ^ uint32(stream[i])) * 16777619
	}
	return h
}

// backoff waits a little, growing with jitter, before the next attempt.
func backoff(ctx context.Context, attempt int) {
	d := time.Duration(1<<min(attempt, 7)) * time.Millisecond
	d += time.Duration(rand.Int64N(int64(d)))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// loadForUpdate loads the account for an update's attempt: the first from
// the account this store remembers after its last append to the stream
// (remembered true), else the snapshot; the second from the snapshot;
// later ones from the stream itself, in case the snapshot is behind.
//
// A remembered account is shared, not copied: Decide must not change the
// account (ports.Decide), the append folds onto a clone, and the account
// an update returns is only read.
func (s *Store) loadForUpdate(ctx context.Context, stream string, attempt int) (acc *billing.Account, remembered bool, err error) {
	if attempt == 1 {
		if acc, ok := s.accounts.Get(stream); ok {
			return acc, true, nil
		}
	}
	if attempt > 2 {
		acc, err := s.fold(ctx, stream)
		return acc, false, err
	}
	acc, err = s.Account(ctx, stream)
	return acc, false, err
}

// Account implements [ports.EventStore]: the account this store remembers
// after its last append to the stream when the stream's committed version
// is still that account's (an account at a version never changes, so it
// is then exactly the committed one: one small read instead of a
// snapshot's decoding); else the snapshot kept with the stream's billing
// status row (written with the events it folds, so its version is the
// stream's); else the stream folded. The account returned is only read:
// it may be shared.
func (s *Store) Account(ctx context.Context, stream string) (*billing.Account, error) {
	if acc, ok := s.accounts.Get(stream); ok {
		var version int64
		err := s.db.DB.QueryRowContext(ctx, "SELECT version FROM billing_streams WHERE id = $1", prepared(stream)...).Scan(&version)
		if err == nil && version == acc.Version() {
			return acc, nil
		}
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("read stream version: %w", err)
		}
	}
	if s.status == nil {
		return s.fold(ctx, stream)
	}
	snap, err := s.status.Snapshot(ctx, stream)
	if errors.Is(err, ports.ErrNotFound) {
		return s.fold(ctx, stream)
	}
	if err != nil {
		return nil, err
	}
	acc, err := billing.RestoreAccount(snap)
	if err != nil || acc.OrgID() != stream {
		// Another format (written before an upgrade) or damaged: fold.
		return s.fold(ctx, stream)
	}
	return acc, nil
}

// fold reads the whole stream and folds it, remembering its head.
func (s *Store) fold(ctx context.Context, stream string) (*billing.Account, error) {
	events, err := s.Load(ctx, stream)
	if err != nil {
		return nil, err
	}
	acc, err := ports.Replay(stream, events)
	if err != nil {
		return nil, err
	}
	if n := len(events); n > 0 {
		s.heads.Add(stream, streamHead{version: int64(n), hash: events[n-1].Hash})
	}
	return acc, nil
}

// appendDecided appends the decided events after prior in one round trip
// and returns the account after them. Each change is encoded once, and
// folded once, at the precision the ledger keeps its times in, so the
// account after is the one a replay gives.
func (s *Store) appendDecided(ctx context.Context, u ports.Update, meta []byte, inbox *ports.InboxEntry, prior *billing.Account, events []billing.Event) (ports.AppendResult, *billing.Account, error) {
	req := ports.AppendRequest{StreamID: u.StreamID, ExpectedVersion: prior.Version(), Metadata: u.Metadata, IdempotencyKey: u.IdempotencyKey}
	decoded := make([]billing.Event, len(events))
	for i, e := range events {
		data, err := billing.EncodeChange(e.Change)
		if err != nil {
			return ports.AppendResult{}, nil, err
		}
		req.Events = append(req.Events, ports.NewEvent{Type: e.Type(), SchemaVersion: billing.SchemaVersion, Data: data, OccurredAt: e.OccurredAt})
		decoded[i] = ports.AtLedgerPrecision(e)
	}
	return s.appendOnce(ctx, req, inbox, prior, decoded, meta)
}

// marshalMetadata is the stored form of an event's metadata.
func marshalMetadata(m ports.Metadata) ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("append: metadata: %w", err)
	}
	return b, nil
}
