package memory

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/safeclose/billing/domain/ledger"
	"github.com/safeclose/billing/ports"
)

// Inbox is the store's Stripe inbox: the events received, and those
// [Store.RecordStripeEvent] kept with the ledger events that record them.
// It is safe for concurrent use.
type Inbox struct{ store *Store }

var _ ports.Inbox = Inbox{}

// Inbox returns the store's Stripe inbox.
func (s *Store) Inbox() Inbox { return Inbox{store: s} }

// Receive implements [ports.Inbox]. A new entry is returned as received
// (its time from the store's clock, one delivery); a known one with its
// delivery counted, as stored.
func (in Inbox) Receive(_ context.Context, e ports.InboxEntry) (ports.InboxEntry, bool, error) {
	if err := checkInboxJSON(e); err != nil {
		return ports.InboxEntry{}, false, fmt.Errorf("receive stripe event: %w", err)
	}
	s := in.store
	s.mu.Lock()
	defer s.mu.Unlock()
	if kept, ok := s.inbox[e.ID]; ok {
		kept.Deliveries++
		s.inbox[e.ID] = kept
		return cloneEntry(kept), false, nil
	}
	row := ports.InboxEntry{ID: e.ID, Type: e.Type, APIVersion: e.APIVersion, Created: e.Created.UTC(), Payload: e.Payload,
		ReceivedAt: s.clock.Now().UTC(), Deliveries: 1, Outcome: ports.OutcomeReceived, FactType: e.FactType, Fact: e.Fact,
		OrgHint: e.OrgHint, CustomerID: e.CustomerID, SubscriptionID: e.SubscriptionID}
	if len(row.Fact) == 0 {
		row.Fact = nil
	}
	s.inbox[e.ID] = stored(row)
	return cloneEntry(row), true, nil
}

// Settle implements [ports.Inbox]. Only a received or parked event is
// settled, as in Postgres: a final outcome is never rewritten, and an
// unknown id is no error.
func (in Inbox) Settle(_ context.Context, id, outcome, orgID, detail string) error {
	s := in.store
	s.mu.Lock()
	defer s.mu.Unlock()
	kept, ok := s.inbox[id]
	if !ok || (kept.Outcome != ports.OutcomeReceived && kept.Outcome != ports.OutcomeParked) {
		return nil
	}
	kept.Outcome, kept.OrgID, kept.Detail = outcome, orgID, detail
	s.inbox[id] = kept
	return nil
}

// Parked implements [ports.Inbox]: the parked events whose customer or
// subscription is one of stripeIDs, by Stripe creation time and then id.
func (in Inbox) Parked(_ context.Context, stripeIDs []string) ([]ports.InboxEntry, error) {
	s := in.store
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []ports.InboxEntry{}
	for _, e := range s.inbox {
		if e.Outcome == ports.OutcomeParked && (slices.Contains(stripeIDs, e.CustomerID) || slices.Contains(stripeIDs, e.SubscriptionID)) {
			out = append(out, cloneEntry(e))
		}
	}
	slices.SortFunc(out, func(a, b ports.InboxEntry) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// keepApplied records a Stripe event as applied to stream, with the
// append at now: a new entry, or a known one (received, parked) settled,
// its delivery counted. Called with s.mu held.
func (s *Store) keepApplied(e ports.InboxEntry, stream string, now time.Time) {
	kept, ok := s.inbox[e.ID]
	if !ok {
		kept = stored(ports.InboxEntry{ID: e.ID, Type: e.Type, APIVersion: e.APIVersion, Created: e.Created, Payload: e.Payload,
			ReceivedAt: now, FactType: e.FactType, Fact: e.Fact, OrgHint: e.OrgHint, CustomerID: e.CustomerID,
			SubscriptionID: e.SubscriptionID})
	}
	kept.Deliveries++
	kept.Outcome, kept.OrgID, kept.Detail = ports.OutcomeApplied, stream, ""
	s.inbox[e.ID] = kept
}

// checkInboxJSON refuses what Postgres's columns refuse: a payload that is
// not JSON, a fact that is neither JSON nor absent.
func checkInboxJSON(e ports.InboxEntry) error {
	if !json.Valid(e.Payload) {
		return errors.New("stripe event payload is not JSON")
	}
	if len(e.Fact) > 0 && !json.Valid(e.Fact) {
		return errors.New("stripe event fact is not JSON")
	}
	return nil
}

// stored returns e as the store keeps it: its own copies of the JSON, its
// times in UTC at the ledger's precision, no empty fact.
func stored(e ports.InboxEntry) ports.InboxEntry {
	e = cloneEntry(e)
	e.Created = e.Created.UTC().Truncate(ledger.Precision)
	e.ReceivedAt = e.ReceivedAt.UTC().Truncate(ledger.Precision)
	if len(e.Fact) == 0 {
		e.Fact = nil
	}
	return e
}

// cloneEntry returns e with its own copies of the JSON.
func cloneEntry(e ports.InboxEntry) ports.InboxEntry {
	e.Payload = slices.Clone(e.Payload)
	e.Fact = slices.Clone(e.Fact)
	return e
}
