package porttest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// RunHistory runs the history contract against the ports newPorts returns
// (Store and History of one empty database; History may read a replica
// of it, which the suite expects up to date).
func RunHistory(t *testing.T, newPorts func(t *testing.T) Ports) {
	ctx := context.Background()
	at := func(s int) time.Time { return base.Add(time.Duration(s) * time.Second) }
	portal := func(n int) ports.NewEvent {
		return Event(t, billing.PortalOpened{PortalSessionID: fmt.Sprintf("bps_%d", n)}, at(n))
	}
	checkout, portalType := billing.CheckoutStarted{}.EventType(), billing.PortalOpened{}.EventType()
	// setup appends org_h's versions 1 to 6 in two appends (1-3, 4-6),
	// occurred at seconds 1 to 6 (odd: checkouts, even: portals), and
	// returns its events as stored.
	setup := func(t *testing.T, p Ports) []ports.StoredEvent {
		t.Helper()
		l := Ledger{Store: p.Store}
		mustAppend(t, l, "org_other", 0, started(t, 1), portal(2))
		mustAppend(t, l, "org_h", 0, started(t, 1), portal(2), started(t, 3))
		mustAppend(t, l, "org_h", 3, portal(4), started(t, 5), portal(6))
		mustAppend(t, l, "org_other", 2, started(t, 7))
		events, err := p.Store.Load(ctx, "org_h")
		if err != nil || len(events) != 6 {
			t.Fatalf("setup: %d events, %v", len(events), err)
		}
		return events
	}
	versions := func(t *testing.T, events []ports.StoredEvent, stored []ports.StoredEvent) []int64 {
		t.Helper()
		out := []int64{}
		for _, e := range events {
			out = append(out, e.Version)
			if e.StreamID != "org_h" {
				t.Errorf("event of %s in org_h's history", e.StreamID)
				continue
			}
			if e.Version < 1 || int(e.Version) > len(stored) {
				continue
			}
			want := stored[e.Version-1]
			if e.Position != want.Position || e.Type != want.Type || !bytes.Equal(e.Hash, want.Hash) || !e.OccurredAt.Equal(want.OccurredAt) ||
				!e.RecordedAt.Equal(want.RecordedAt) || e.Metadata != want.Metadata || !bytes.Equal(mustCanonical(t, e.Data), mustCanonical(t, want.Data)) {
				t.Errorf("history's event %d = %+v, want it as stored %+v", e.Version, e, want)
			}
		}
		return out
	}

	t.Run("pages in version order after a cursor, of at most the limit", func(t *testing.T) {
		p := newPorts(t)
		stored := setup(t, p)
		for _, tc := range []struct {
			after int64
			limit int
			want  []int64
		}{
			{0, 2, []int64{1, 2}},
			{2, 2, []int64{3, 4}},
			{4, 2, []int64{5, 6}}, // exactly the last ones
			{6, 2, []int64{}},     // after the last
			{5, 10, []int64{6}},   // fewer than the limit
			{0, 1, []int64{1}},
			{0, 6, []int64{1, 2, 3, 4, 5, 6}},
			{0, 7, []int64{1, 2, 3, 4, 5, 6}},
			{9, 2, []int64{}}, // past the stream
		} {
			got, err := p.History.History(ctx, ports.HistoryQuery{OrgID: "org_h", AfterVersion: tc.after, Limit: tc.limit})
			if err != nil {
				t.Fatal(err)
			}
			if v := versions(t, got, stored); !slices.Equal(v, tc.want) {
				t.Errorf("after %d, limit %d: versions %v, want %v", tc.after, tc.limit, v, tc.want)
			}
		}
		got, err := p.History.History(ctx, ports.HistoryQuery{OrgID: "org_unknown", Limit: 10})
		if err != nil || len(got) != 0 {
			t.Errorf("an unknown org: %d events, %v", len(got), err)
		}
	})

	t.Run("filters by type and by when the events occurred, then pages", func(t *testing.T) {
		p := newPorts(t)
		stored := setup(t, p)
		for _, tc := range []struct {
			name string
			q    ports.HistoryQuery
			want []int64
		}{
			{"portals", ports.HistoryQuery{Types: []string{portalType}}, []int64{2, 4, 6}},
			{"portals after 2", ports.HistoryQuery{Types: []string{portalType}, AfterVersion: 2}, []int64{4, 6}},
			{"checkouts, limit 2", ports.HistoryQuery{Types: []string{checkout}, Limit: 2}, []int64{1, 3}},
			{"checkouts after 3, limit 2", ports.HistoryQuery{Types: []string{checkout}, AfterVersion: 3, Limit: 2}, []int64{5}},
			{"both types", ports.HistoryQuery{Types: []string{portalType, checkout}}, []int64{1, 2, 3, 4, 5, 6}},
			{"an unknown type", ports.HistoryQuery{Types: []string{"NoSuchEvent"}}, []int64{}},
			{"from 2 s to 5 s", ports.HistoryQuery{From: at(2), To: at(5)}, []int64{2, 3, 4}},
			{"from 5 s", ports.HistoryQuery{From: at(5)}, []int64{5, 6}},
			{"to 2 s", ports.HistoryQuery{To: at(2)}, []int64{1}},
			{"from just after 2 s", ports.HistoryQuery{From: at(2).Add(time.Microsecond)}, []int64{3, 4, 5, 6}},
			{"to just after 2 s", ports.HistoryQuery{To: at(2).Add(time.Microsecond)}, []int64{1, 2}},
			{"an empty range", ports.HistoryQuery{From: at(3), To: at(3)}, []int64{}},
			{"from 2 s, after 2, limit 1", ports.HistoryQuery{From: at(2), AfterVersion: 2, Limit: 1}, []int64{3}},
			{"portals from 3 s to 6 s", ports.HistoryQuery{Types: []string{portalType}, From: at(3), To: at(6)}, []int64{4}},
		} {
			q := tc.q
			q.OrgID = "org_h"
			if q.Limit == 0 {
				q.Limit = 100
			}
			got, err := p.History.History(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if v := versions(t, got, stored); !slices.Equal(v, tc.want) {
				t.Errorf("%s: versions %v, want %v", tc.name, v, tc.want)
			}
		}
	})

	t.Run("known: what had occurred by asOf and was recorded by knownAt, in version order", func(t *testing.T) {
		p := newPorts(t)
		setup(t, p)
		// Version 7 occurred before all the others but was recorded last.
		mustAppend(t, Ledger{Store: p.Store}, "org_h", 6, started(t, 0))
		stored, err := p.Store.Load(ctx, "org_h")
		if err != nil {
			t.Fatal(err)
		}
		first, second, third := stored[0].RecordedAt, stored[3].RecordedAt, stored[6].RecordedAt
		if !first.Before(second) || !second.Before(third) {
			t.Fatalf("appends recorded at %v, %v, %v: not in order", first, second, third)
		}
		var zero time.Time
		for _, tc := range []struct {
			name          string
			asOf, knownAt time.Time
			want          []int64
		}{
			{"no bounds", zero, zero, []int64{1, 2, 3, 4, 5, 6, 7}},
			{"occurred by 3 s", at(3), zero, []int64{1, 2, 3, 7}},
			{"occurred by just before 3 s", at(3).Add(-time.Microsecond), zero, []int64{1, 2, 7}},
			{"occurred by 0 s", at(0), zero, []int64{7}},
			{"occurred before anything", at(-1), zero, []int64{}},
			{"recorded by the first append", zero, first, []int64{1, 2, 3}},
			{"recorded by just before the first append", zero, first.Add(-time.Microsecond), []int64{}},
			{"recorded by the second append", zero, second, []int64{1, 2, 3, 4, 5, 6}},
			{"recorded by the third append", zero, third, []int64{1, 2, 3, 4, 5, 6, 7}},
			{"occurred by 4 s, recorded by the first append", at(4), first, []int64{1, 2, 3}},
			{"occurred by 4 s, recorded by the third append", at(4), third, []int64{1, 2, 3, 4, 7}},
			{"occurred by 2 s, recorded by the second append", at(2), second, []int64{1, 2}},
		} {
			got, err := p.History.Known(ctx, "org_h", tc.asOf, tc.knownAt)
			if err != nil {
				t.Fatal(err)
			}
			if v := versions(t, got, stored); !slices.Equal(v, tc.want) {
				t.Errorf("%s: versions %v, want %v", tc.name, v, tc.want)
			}
		}
		if got, err := p.History.Known(ctx, "org_unknown", zero, zero); err != nil || len(got) != 0 {
			t.Errorf("an unknown org: %d events, %v", len(got), err)
		}
	})

	t.Run("account at any instant: the fold of exactly what Known selects", func(t *testing.T) {
		p := newPorts(t)
		rng := rand.New(rand.NewPCG(17, 2026))
		stored := AppendRandomStream(t, p.Store, "org_r", 120, rng)
		CheckAccountAt(t, p.History, "org_r", stored, rng, 300)
		if got, err := p.History.AccountAt(ctx, "org_unknown", time.Time{}, time.Time{}); err != nil || got.Account.Version() != 0 || !got.UpdatedAt.IsZero() {
			t.Errorf("an unknown org: %+v, %v", got, err)
		}
	})
}
