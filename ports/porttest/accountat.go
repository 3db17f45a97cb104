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

// AppendRandomStream appends n random facts ([RandomFact]) to org, in
// appends of one to four events, their occurredAt mostly in order but one
// in five a late fact (up to a day older than the newest). It returns them
// as stored.
func AppendRandomStream(t testing.TB, store ports.EventStore, org string, n int, rng *rand.Rand) []ports.StoredEvent {
	t.Helper()
	ctx := context.Background()
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
			c, _ := RandomFact(org, rng)
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

// RandomFact returns a random fact of stream's (subscription facts of two
// subscriptions, paid, failed and unconfirmed invoices, checkouts,
// members, trials, the org's creation) and a random time in January 2026.
func RandomFact(stream string, rng *rand.Rand) (billing.Change, time.Time) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.IntN(3600*24*30)) * time.Second)
	cus, sub := "cus_"+stream, fmt.Sprintf("sub_%s_%d", stream, rng.IntN(2))
	tier := billing.PaidTiers()[rng.IntN(3)]
	inv := billing.Invoice{InvoiceID: fmt.Sprintf("in_%d", rng.Int64()), CustomerID: cus, SubscriptionID: sub, AmountPaid: 1900, AmountDue: 1900, Currency: "eur", AttemptCount: 1}
	switch rng.IntN(13) {
	case 0:
		return billing.PlanActivated{CheckoutSessionID: "cs_1", CustomerID: cus, SubscriptionID: sub, Tier: tier}, at
	case 1:
		return billing.SubscriptionRefreshed{CustomerID: cus, SubscriptionID: sub, Status: []billing.Status{billing.StatusActive, billing.StatusPastDue, billing.StatusTrialing}[rng.IntN(3)],
			Tier: tier, CurrentPeriodEnd: at.Add(30 * 24 * time.Hour), CancelAtPeriodEnd: rng.IntN(2) == 0}, at
	case 2:
		return billing.SubscriptionCanceled{CustomerID: cus, SubscriptionID: sub, CurrentPeriodEnd: at}, at
	case 3:
		return billing.PaymentSucceeded{Invoice: inv}, at
	case 4:
		return billing.PaymentFailed{Invoice: inv}, at
	case 5:
		return billing.CheckoutStarted{Tier: tier, CheckoutSessionID: "cs_x"}, at
	case 6:
		return billing.MemberAdded{UserID: "u", Email: "u@example.com", Role: "member", Permissions: []string{"audit"}}, at
	case 7:
		return billing.MemberAdded{UserID: "o", Email: "o@example.com", Role: "owner"}, at
	case 8:
		return billing.MemberPermissionsChanged{UserID: []string{"u", "o"}[rng.IntN(2)], Permissions: []string{"billing"}}, at
	case 9:
		return billing.MemberRemoved{UserID: "u"}, at
	case 10:
		return billing.TrialWillEnd{SubscriptionObject: billing.SubscriptionObject{CustomerID: cus, SubscriptionID: sub, Status: billing.StatusTrialing,
			Tier: tier, CurrentPeriodEnd: at.Add(3 * 24 * time.Hour), TrialEnd: at.Add(3 * 24 * time.Hour)}}, at
	case 11:
		inv.HostedInvoiceURL = "https://invoice.stripe.com/i/" + inv.InvoiceID
		return billing.PaymentActionRequired{Invoice: inv}, at
	default:
		return billing.OrgCreated{Name: "Org " + stream, OwnerUserID: "o"}, at
	}
}
