package porttest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// AppendRandomStream appends n events to org, in appends of one to four
// events: subscription facts, paid and failed invoices and portal visits,
// their occurredAt mostly in order but one in five a late fact (up to a
// day older than the newest). It returns them as stored.
func AppendRandomStream(t testing.TB, store ports.EventStore, org string, n int, rng *rand.Rand) []ports.StoredEvent {
	t.Helper()
	ctx := context.Background()
	statuses := []billing.Status{billing.StatusActive, billing.StatusPastDue, billing.StatusTrialing, billing.StatusCanceled}
	tiers := []billing.Tier{billing.TierStarter, billing.TierPro, billing.TierEnterprise}
	newest := base
	var version int64
	for version < int64(n) {
		size := min(1+rng.IntN(4), n-int(version))
		events := make([]ports.NewEvent, size)
		for i := range events {
			newest = newest.Add(time.Duration(1+rng.IntN(3600)) * time.Second)
			at := newest
			if rng.IntN(5) == 0 {
				at = newest.Add(-time.Duration(rng.IntN(86400)) * time.Second)
			}
			k := int(version) + i
			sub := fmt.Sprintf("sub_%d", rng.IntN(2))
			var c billing.Change
			switch rng.IntN(4) {
			case 0:
				c = billing.SubscriptionRefreshed{CustomerID: "cus_r", SubscriptionID: sub, Status: statuses[rng.IntN(len(statuses))],
					Tier: tiers[rng.IntN(len(tiers))], CurrentPeriodEnd: at.Add(30 * 24 * time.Hour)}
			case 1:
				c = billing.PaymentSucceeded{Invoice: billing.Invoice{InvoiceID: fmt.Sprintf("in_%d", k), CustomerID: "cus_r", SubscriptionID: sub,
					AmountPaid: 4900, Currency: "usd", AttemptCount: 1}}
			case 2:
				c = billing.PaymentFailed{Invoice: billing.Invoice{InvoiceID: fmt.Sprintf("in_%d", k), CustomerID: "cus_r", SubscriptionID: sub,
					AmountDue: 4900, Currency: "usd", AttemptCount: 1 + rng.Int64N(3)}}
			default:
				c = billing.PortalOpened{PortalSessionID: fmt.Sprintf("bps_%d", k)}
			}
			events[i] = Event(t, c, at)
		}
		if _, err := store.Append(ctx, ports.AppendRequest{StreamID: org, ExpectedVersion: version, Events: events}); err != nil {
			t.Fatalf("append at %d: %v", version, err)
		}
		version += int64(size)
	}
	stored, err := store.Load(ctx, org)
	if err != nil || len(stored) != n {
		t.Fatalf("load %s: %d events, %v", org, len(stored), err)
	}
	return stored
}

// CheckAccountAt asks h for org's account at rounds random instants made
// of the stored events' own times (exactly, a microsecond before, or none)
// and fails the test unless each answer is the fold of exactly the events
// Known selects: the same account state and the same updatedAt.
func CheckAccountAt(t testing.TB, h ports.History, org string, stored []ports.StoredEvent, rng *rand.Rand, rounds int) {
	t.Helper()
	ctx := context.Background()
	instant := func(pick func(ports.StoredEvent) time.Time) time.Time {
		switch rng.IntN(5) {
		case 0:
			return time.Time{}
		case 1:
			return pick(stored[rng.IntN(len(stored))]).Add(-time.Microsecond)
		default:
			return pick(stored[rng.IntN(len(stored))])
		}
	}
	for range rounds {
		asOf := instant(func(e ports.StoredEvent) time.Time { return e.OccurredAt })
		knownAt := instant(func(e ports.StoredEvent) time.Time { return e.RecordedAt })
		got, err := h.AccountAt(ctx, org, asOf, knownAt)
		if err != nil {
			t.Fatalf("account at %v / %v: %v", asOf, knownAt, err)
		}
		events, err := h.Known(ctx, org, asOf, knownAt)
		if err != nil {
			t.Fatal(err)
		}
		want, err := ports.FoldKnown(billing.NewAccount(org), time.Time{}, events)
		if err != nil {
			t.Fatal(err)
		}
		gotSnap, err := got.Account.MarshalSnapshot()
		if err != nil {
			t.Fatal(err)
		}
		wantSnap, err := want.Account.MarshalSnapshot()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(gotSnap, wantSnap) || !got.UpdatedAt.Equal(want.UpdatedAt) {
			t.Fatalf("account at asOf %v, knownAt %v (%d events selected):\n got %s (updated %v)\nwant %s (updated %v)",
				asOf, knownAt, len(events), gotSnap, got.UpdatedAt, wantSnap, want.UpdatedAt)
		}
	}
}
