// Package porttest holds the contract suites every adapter of a port
// passes, the in-memory test doubles included.
package porttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safeclose/billing/application"
	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/domain/ledger"
	"github.com/safeclose/billing/ports"
)

// Ledger is an event store under test with its scanner and status read model.
type Ledger struct {
	Store   ports.EventStore
	Scanner ports.LedgerScanner
	Status  ports.BillingStatusReader
}

// Event returns a NewEvent recording c at the given time.
func Event(t testing.TB, c billing.Change, at time.Time) ports.NewEvent {
	t.Helper()
	data, err := billing.EncodeChange(c)
	if err != nil {
		t.Fatal(err)
	}
	return ports.NewEvent{Type: c.EventType(), SchemaVersion: billing.SchemaVersion, Data: data, OccurredAt: at}
}

var base = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func started(t testing.TB, n int) ports.NewEvent {
	return Event(t, billing.CheckoutStarted{Tier: billing.TierPro, CheckoutSessionID: fmt.Sprintf("cs_%d", n)}, base.Add(time.Duration(n)*time.Second))
}

// RunEventStore runs the event store contract against the ledgers newLedger returns.
func RunEventStore(t *testing.T, newLedger func(t *testing.T) Ledger) {
	ctx := context.Background()

	t.Run("append then load returns the events as appended", func(t *testing.T) {
		l := newLedger(t)
		meta := ports.Metadata{Actor: "user:u1", RequestID: "req_1", CausationID: "c1"}
		res, err := l.Store.Append(ctx, ports.AppendRequest{StreamID: "org_a", ExpectedVersion: 0,
			Events: []ports.NewEvent{started(t, 1), started(t, 2)}, Metadata: meta})
		if err != nil {
			t.Fatal(err)
		}
		if res.Duplicate || len(res.Events) != 2 {
			t.Fatalf("result = %+v", res)
		}
		got, err := l.Store.Load(ctx, "org_a")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("loaded %d events, want 2", len(got))
		}
		for i, e := range got {
			want := started(t, i+1)
			if e.Version != int64(i+1) || e.StreamID != "org_a" || e.Type != want.Type || e.SchemaVersion != billing.SchemaVersion {
				t.Errorf("event %d = %+v", i, e)
			}
			if !e.OccurredAt.Equal(want.OccurredAt) {
				t.Errorf("event %d occurredAt = %v, want %v", i, e.OccurredAt, want.OccurredAt)
			}
			if e.Metadata != meta {
				t.Errorf("event %d metadata = %+v", i, e.Metadata)
			}
			if c, _ := ledger.Canonical(e.Data); !bytes.Equal(c, mustCanonical(t, want.Data)) {
				t.Errorf("event %d data = %s, want %s", i, e.Data, want.Data)
			}
			if len(e.Hash) != 32 || e.RecordedAt.IsZero() || e.Position == 0 {
				t.Errorf("event %d lacks hash, recorded time or position: %+v", i, e)
			}
			if e.Position != res.Events[i].Position || !bytes.Equal(e.Hash, res.Events[i].Hash) {
				t.Errorf("event %d differs from the append result", i)
			}
		}
		if got[1].Position <= got[0].Position {
			t.Error("positions do not increase")
		}
		if none, err := l.Store.Load(ctx, "org_unknown"); err != nil || len(none) != 0 {
			t.Errorf("unknown stream: %v, %v", none, err)
		}
	})

	t.Run("a wrong expected version is a conflict and appends nothing", func(t *testing.T) {
		l := newLedger(t)
		for _, tc := range []struct {
			expected int64
			setup    int
		}{{1, 0}, {0, 1}, {2, 1}, {1, 2}} {
			stream := fmt.Sprintf("org_%d_%d", tc.expected, tc.setup)
			for i := range tc.setup {
				mustAppend(t, l, stream, int64(i), started(t, i))
			}
			_, err := l.Store.Append(ctx, ports.AppendRequest{StreamID: stream, ExpectedVersion: tc.expected, Events: []ports.NewEvent{started(t, 9)}})
			if !errors.Is(err, ports.ErrVersionConflict) {
				t.Errorf("expected %d on a stream at %d: err = %v, want ErrVersionConflict", tc.expected, tc.setup, err)
			}
			if got, _ := l.Store.Load(ctx, stream); len(got) != tc.setup {
				t.Errorf("stream has %d events after a conflict, want %d", len(got), tc.setup)
			}
		}
	})

	t.Run("20 goroutines at the same expected version: exactly one wins each version", func(t *testing.T) {
		l := newLedger(t)
		const writers, rounds = 20, 10
		for v := range int64(rounds) {
			var wins, conflicts atomic.Int32
			var wg sync.WaitGroup
			start := make(chan struct{})
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					_, err := l.Store.Append(ctx, ports.AppendRequest{StreamID: "org_race", ExpectedVersion: v,
						Events: []ports.NewEvent{started(t, w)}})
					switch {
					case err == nil:
						wins.Add(1)
					case errors.Is(err, ports.ErrVersionConflict):
						conflicts.Add(1)
					default:
						t.Errorf("append: %v", err)
					}
				}()
			}
			close(start)
			wg.Wait()
			if wins.Load() != 1 || conflicts.Load() != writers-1 {
				t.Fatalf("version %d: %d wins, %d conflicts; want 1 and %d", v+1, wins.Load(), conflicts.Load(), writers-1)
			}
		}
		got, _ := l.Store.Load(ctx, "org_race")
		if len(got) != rounds {
			t.Fatalf("%d events, want %d", len(got), rounds)
		}
		for i, e := range got {
			if e.Version != int64(i+1) {
				t.Fatalf("version gap: event %d has version %d", i, e.Version)
			}
		}
		verifyIntact(t, l)
	})

	t.Run("20 goroutines retrying on conflict all land, without gaps", func(t *testing.T) {
		l := newLedger(t)
		const writers, each = 20, 5
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					for {
						cur, err := l.Store.Load(ctx, "org_busy")
						if err != nil {
							t.Error(err)
							return
						}
						_, err = l.Store.Append(ctx, ports.AppendRequest{StreamID: "org_busy", ExpectedVersion: int64(len(cur)),
							Events: []ports.NewEvent{started(t, w*100+i)}})
						if err == nil {
							break
						}
						if !errors.Is(err, ports.ErrVersionConflict) {
							t.Error(err)
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		got, _ := l.Store.Load(ctx, "org_busy")
		if len(got) != writers*each {
			t.Fatalf("%d events, want %d", len(got), writers*each)
		}
		verifyIntact(t, l)
	})

	t.Run("a duplicate idempotency key appends nothing and succeeds", func(t *testing.T) {
		l := newLedger(t)
		mustAppend(t, l, "org_d", 0, started(t, 1))
		req := ports.AppendRequest{StreamID: "org_d", ExpectedVersion: 1, Events: []ports.NewEvent{started(t, 2)}, IdempotencyKey: "evt_1"}
		if res, err := l.Store.Append(ctx, req); err != nil || res.Duplicate {
			t.Fatalf("first append: %+v, %v", res, err)
		}
		for _, expected := range []int64{1, 2} { // stale or current version: still a duplicate
			req.ExpectedVersion = expected
			res, err := l.Store.Append(ctx, req)
			if err != nil || !res.Duplicate || len(res.Events) != 0 {
				t.Fatalf("repeat at version %d: %+v, %v; want a duplicate", expected, res, err)
			}
		}
		// 20 concurrent deliveries of one new key: one append.
		var wg sync.WaitGroup
		var appended atomic.Int32
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					cur, _ := l.Store.Load(ctx, "org_d")
					res, err := l.Store.Append(ctx, ports.AppendRequest{StreamID: "org_d", ExpectedVersion: int64(len(cur)),
						Events: []ports.NewEvent{started(t, 3)}, IdempotencyKey: "evt_2"})
					if errors.Is(err, ports.ErrVersionConflict) {
						continue
					}
					if err != nil {
						t.Error(err)
					} else if !res.Duplicate {
						appended.Add(1)
					}
					return
				}
			}()
		}
		wg.Wait()
		if appended.Load() != 1 {
			t.Errorf("%d appends for one key, want 1", appended.Load())
		}
		if got, _ := l.Store.Load(ctx, "org_d"); len(got) != 3 {
			t.Errorf("%d events, want 3", len(got))
		}
	})

	t.Run("the status read model is updated with the append", func(t *testing.T) {
		l := newLedger(t)
		if _, err := l.Status.Status(ctx, "org_s"); !errors.Is(err, ports.ErrNotFound) {
			t.Fatalf("unknown org: %v, want ErrNotFound", err)
		}
		act := billing.PlanActivated{CheckoutSessionID: "cs_1", CustomerID: "cus_1", SubscriptionID: "sub_1", Tier: billing.TierPro}
		res := mustAppend(t, l, "org_s", 0, started(t, 1), Event(t, act, base.Add(time.Hour)))
		st, err := l.Status.Status(ctx, "org_s")
		if err != nil {
			t.Fatal(err)
		}
		want := ports.BillingStatus{OrgID: "org_s", PlanTier: "PRO", Status: "active", StripeCustomerID: "cus_1",
			StripeSubscriptionID: "sub_1", LedgerVersion: 2, UpdatedAt: res.Events[1].RecordedAt}
		if st != want {
			t.Errorf("status = %+v, want %+v", st, want)
		}
		end := base.Add(30 * 24 * time.Hour)
		upd := billing.SubscriptionRefreshed{CustomerID: "cus_1", SubscriptionID: "sub_1", Status: billing.StatusActive,
			Tier: billing.TierPro, CurrentPeriodEnd: end, CancelAtPeriodEnd: true}
		mustAppend(t, l, "org_s", 2, Event(t, upd, base.Add(2*time.Hour)))
		if st, _ = l.Status.Status(ctx, "org_s"); !st.CurrentPeriodEnd.Equal(end) || !st.CancelAtPeriodEnd || st.LedgerVersion != 3 {
			t.Errorf("after refresh: %+v", st)
		}
	})

	t.Run("update decides on the committed account and appends what it decides", func(t *testing.T) {
		l := newLedger(t)
		mustAppend(t, l, "org_u", 0, started(t, 1))
		meta := ports.Metadata{Actor: "user:u1"}
		res, err := l.Store.Update(ctx, ports.Update{StreamID: "org_u", Metadata: meta, Decide: func(acc *billing.Account) ([]billing.Event, error) {
			if acc.Version() != 1 {
				return nil, fmt.Errorf("decided on version %d, want 1", acc.Version())
			}
			ev, err := acc.StartCheckout(billing.CheckoutStarted{Tier: billing.TierStarter, CheckoutSessionID: "cs_u"}, base.Add(time.Minute))
			return []billing.Event{ev}, err
		}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Duplicate || len(res.Events) != 1 || res.Events[0].Version != 2 || res.Events[0].Metadata != meta || res.Account.Version() != 2 {
			t.Fatalf("update = %+v", res)
		}
		acc, err := l.Store.Account(ctx, "org_u")
		if err != nil || acc.Version() != 2 || len(acc.OpenCheckouts(base.Add(time.Minute))) != 1 {
			t.Fatalf("account after the update: %+v, %v", acc, err)
		}
		// The account the update returns is the one a replay gives.
		got, _ := res.Account.MarshalSnapshot()
		want, _ := acc.MarshalSnapshot()
		if !bytes.Equal(got, want) {
			t.Errorf("update's account %s, replay's %s", got, want)
		}
		verifyIntact(t, l)
	})

	t.Run("a decision that appends nothing or fails appends nothing", func(t *testing.T) {
		l := newLedger(t)
		mustAppend(t, l, "org_n", 0, started(t, 1))
		res, err := l.Store.Update(ctx, ports.Update{StreamID: "org_n", Decide: func(*billing.Account) ([]billing.Event, error) { return nil, nil }})
		if err != nil || res.Account == nil || res.Account.Version() != 1 || len(res.Events) != 0 {
			t.Fatalf("nothing to append: %+v, %v", res, err)
		}
		refused := errors.New("refused")
		if _, err := l.Store.Update(ctx, ports.Update{StreamID: "org_n", Decide: func(*billing.Account) ([]billing.Event, error) { return nil, refused }}); !errors.Is(err, refused) {
			t.Fatalf("decide's error: %v, want it returned", err)
		}
		if got, _ := l.Store.Load(ctx, "org_n"); len(got) != 1 {
			t.Errorf("%d events, want 1", len(got))
		}
	})

	t.Run("an update with a recorded key is a duplicate", func(t *testing.T) {
		l := newLedger(t)
		decide := func(n int) ports.Decide {
			return func(acc *billing.Account) ([]billing.Event, error) {
				return []billing.Event{{Change: billing.CheckoutStarted{Tier: billing.TierPro, CheckoutSessionID: fmt.Sprintf("cs_%d", n)}, OccurredAt: base}}, nil
			}
		}
		if _, err := l.Store.Update(ctx, ports.Update{StreamID: "org_k", IdempotencyKey: "evt_k", Decide: decide(1)}); err != nil {
			t.Fatal(err)
		}
		res, err := l.Store.Update(ctx, ports.Update{StreamID: "org_k", IdempotencyKey: "evt_k", Decide: decide(2)})
		if err != nil || !res.Duplicate {
			t.Fatalf("second update with the key: %+v, %v", res, err)
		}
		if got, _ := l.Store.Load(ctx, "org_k"); len(got) != 1 {
			t.Errorf("%d events, want 1", len(got))
		}
	})

	t.Run("20 concurrent updates of one stream all land, in turn", func(t *testing.T) {
		l := newLedger(t)
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := l.Store.Update(ctx, ports.Update{StreamID: "org_r", Decide: func(acc *billing.Account) ([]billing.Event, error) {
					return []billing.Event{{Change: billing.CheckoutStarted{Tier: billing.TierPro, CheckoutSessionID: fmt.Sprintf("cs_%d", i)}, OccurredAt: base}}, nil
				}})
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		got, _ := l.Store.Load(ctx, "org_r")
		for i, e := range got {
			if e.Version != int64(i+1) {
				t.Fatalf("event %d has version %d", i, e.Version)
			}
		}
		if len(got) != 20 {
			t.Errorf("%d events, want 20", len(got))
		}
		verifyIntact(t, l)
	})

	t.Run("a snapshot sees none of the appends committed while it is read", func(t *testing.T) {
		l := newLedger(t)
		mustAppend(t, l, "org_1", 0, started(t, 1))
		count := func(snap ports.LedgerScanner, stream string) (heads, events int) {
			h, err := snap.Heads(ctx, stream)
			if err != nil {
				t.Fatal(err)
			}
			if err := snap.ScanStreams(ctx, stream, func(ports.StoredEvent) error { events++; return nil }); err != nil {
				t.Fatal(err)
			}
			return len(h), events
		}
		err := l.Scanner.Snapshot(ctx, func(snap ports.LedgerScanner) error {
			if h, e := count(snap, ""); h != 1 || e != 1 {
				t.Fatalf("before the appends: %d heads, %d events, want 1 and 1", h, e)
			}
			mustAppend(t, l, "org_1", 1, started(t, 2))
			mustAppend(t, l, "org_2", 0, started(t, 3))
			heads, err := snap.Heads(ctx, "org_1")
			if err != nil {
				t.Fatal(err)
			}
			if heads["org_1"].Version != 1 {
				t.Errorf("org_1's head in the snapshot moved to %d", heads["org_1"].Version)
			}
			if h, e := count(snap, ""); h != 1 || e != 1 {
				t.Errorf("after the appends: %d heads, %d events in the snapshot, want 1 and 1", h, e)
			}
			if h, e := count(snap, "org_2"); h != 0 || e != 0 {
				t.Errorf("a stream created after the snapshot: %d heads, %d events", h, e)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if h, e := count(l.Scanner, ""); h != 2 || e != 3 {
			t.Errorf("after the snapshot: %d heads, %d events, want 2 and 3", h, e)
		}
		verifyIntact(t, l)
	})
}

func mustCanonical(t testing.TB, b []byte) []byte {
	c, err := ledger.Canonical(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustAppend(t testing.TB, l Ledger, stream string, expected int64, events ...ports.NewEvent) ports.AppendResult {
	t.Helper()
	res, err := l.Store.Append(context.Background(), ports.AppendRequest{StreamID: stream, ExpectedVersion: expected, Events: events})
	if err != nil {
		t.Fatalf("append to %s at %d: %v", stream, expected, err)
	}
	return res
}

func verifyIntact(t testing.TB, l Ledger) {
	t.Helper()
	rep, err := application.VerifyLedger(context.Background(), l.Scanner, "")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Break != nil {
		t.Fatalf("ledger broken: %v", rep.Break)
	}
	if rep.Events == 0 {
		t.Fatal("verified no events")
	}
	var newest int64
	if err := l.Scanner.ScanStreams(context.Background(), "", func(e ports.StoredEvent) error {
		newest = max(newest, e.Position)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if last, err := l.Scanner.LastPosition(context.Background()); err != nil || last != newest {
		t.Fatalf("LastPosition = %d, %v; the newest event is at %d", last, err, newest)
	}
}
