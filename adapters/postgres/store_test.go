package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/safeclose/billing/adapters/postgres"
	"github.com/safeclose/billing/adapters/postgres/pgtest"
	"github.com/safeclose/billing/adapters/system"
	"github.com/safeclose/billing/application"
	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
	"github.com/safeclose/billing/ports/porttest"
)

func newStore(t testing.TB) (*postgres.Store, *postgres.StatusProjection, *pgtest.DB) {
	db := pgtest.New(t)
	status := postgres.NewStatusProjection(db.DB)
	store := postgres.NewStore(db.DB, system.Clock{}, []postgres.Projection{status, postgres.NewLinksProjection(db.DB),
		postgres.OrgsProjection{}, postgres.MembershipsProjection{}})
	return store, status, db
}

func TestStoreContract(t *testing.T) {
	porttest.RunEventStore(t, func(t *testing.T) porttest.Ledger {
		store, status, _ := newStore(t)
		return porttest.Ledger{Store: store, Scanner: store, Status: status}
	})
}

// An append in one round trip moves the stream's head only from the last
// hash it holds: a wrong remembered hash is a conflict that writes
// nothing, and the update's next attempt reads the true one. OnAppend
// hears of each committed append only.
func TestOneRoundTripAppendChecksTheLastHash(t *testing.T) {
	store, _, db := newStore(t)
	var conflicts, appends int
	store.OnConflict(func() { conflicts++ })
	store.OnAppend(func() { appends++ })
	ctx := context.Background()
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	start := func(id string) ports.Update {
		return ports.Update{StreamID: "org_h", IdempotencyKey: "key_" + id, Decide: func(acc *billing.Account) ([]billing.Event, error) {
			ev, err := acc.StartCheckout(billing.CheckoutStarted{Tier: billing.TierPro, CheckoutSessionID: id}, at)
			return []billing.Event{ev}, err
		}}
	}
	first, err := store.Update(ctx, start("cs_1"))
	if err != nil {
		t.Fatal(err)
	}
	postgres.RememberHead(store, "org_h", 1, []byte("not the hash of event 1"))
	again, err := store.Update(ctx, start("cs_2"))
	if err != nil || len(again.Events) != 1 || again.Attempts != 2 || conflicts != 1 {
		t.Fatalf("update after a wrong remembered hash: %+v, %v, %d conflicts; want one conflict, then the append", again, err, conflicts)
	}
	if again.Events[0].Position <= first.Events[0].Position {
		t.Errorf("position %d after %d", again.Events[0].Position, first.Events[0].Position)
	}
	if dup, err := store.Update(ctx, start("cs_1")); err != nil || !dup.Duplicate {
		t.Fatalf("the first update again: %+v, %v; want a duplicate", dup, err)
	}
	if appends != 2 {
		t.Errorf("OnAppend called %d times for two appends, a conflict and a duplicate; want 2", appends)
	}
	var keys int
	if err := db.DB.NewSelect().Table("billing_event_keys").ColumnExpr("count(*)").Scan(ctx, &keys); err != nil || keys != 2 {
		t.Fatalf("%d keys (%v), want 2: the conflict kept its key", keys, err)
	}
	rep, err := application.VerifyLedger(ctx, store, "")
	if err != nil || rep.Break != nil || rep.Events != 2 {
		t.Fatalf("ledger after the retry: %+v, %v", rep, err)
	}
}

// Two stores over one database, as two instances: what one remembers is
// behind once the other appends. Its append conflicts and it decides again
// on the committed account; a decision that appends nothing is made again
// on a fresh read; an update that loses every race gives up with ErrBusy.
func TestTwoStoresOnOneLedger(t *testing.T) {
	a, _, db := newStore(t)
	statusB := postgres.NewStatusProjection(db.DB)
	b := postgres.NewStore(db.DB, system.Clock{}, []postgres.Projection{statusB, postgres.NewLinksProjection(db.DB),
		postgres.OrgsProjection{}, postgres.MembershipsProjection{}})
	var conflicts int
	a.OnConflict(func() { conflicts++ })
	ctx := context.Background()
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	started := func(store *postgres.Store, id string) {
		t.Helper()
		_, err := store.Update(ctx, ports.Update{StreamID: "org_2", Decide: func(acc *billing.Account) ([]billing.Event, error) {
			return []billing.Event{{Change: billing.CheckoutStarted{Tier: billing.TierPro, CheckoutSessionID: id}, OccurredAt: at}}, nil
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	started(a, "cs_a1") // a remembers version 1
	started(b, "cs_b1") // the ledger is at 2
	var seen []int64
	res, err := a.Update(ctx, ports.Update{StreamID: "org_2", Decide: func(acc *billing.Account) ([]billing.Event, error) {
		seen = append(seen, acc.Version())
		return []billing.Event{{Change: billing.CheckoutStarted{Tier: billing.TierPro, CheckoutSessionID: "cs_a2"}, OccurredAt: at}}, nil
	}})
	if err != nil || res.Events[0].Version != 3 || conflicts != 1 || len(seen) != 2 || seen[0] != 1 || seen[1] != 2 {
		t.Fatalf("a behind b: %+v, %v; decided on versions %v with %d conflicts, want 1 then 2 with 1", res, err, seen, conflicts)
	}

	// b remembers version 2; a appends; b's decision that sees nothing to
	// do is made again on the committed account.
	started(a, "cs_a3")
	seen = nil
	res, err = b.Update(ctx, ports.Update{StreamID: "org_2", Decide: func(acc *billing.Account) ([]billing.Event, error) {
		seen = append(seen, acc.Version())
		return nil, nil
	}})
	if err != nil || res.Account.Version() != 4 || len(seen) != 2 || seen[0] != 2 {
		t.Fatalf("b's empty decision: account at %d, decided on %v, %v; want decided again at 4", res.Account.Version(), seen, err)
	}

	// Account: a remembers its own last append (version 4 here, after
	// cs_a3); while the ledger is there, that is the committed account;
	// once b appends, a reads the committed one, not what it remembers.
	if acc, err := a.Account(ctx, "org_2"); err != nil || acc.Version() != 4 {
		t.Fatalf("a's account at the ledger's version: %v, %v; want 4", acc.Version(), err)
	}
	started(b, "cs_b2")
	if acc, err := a.Account(ctx, "org_2"); err != nil || acc.Version() != 5 {
		t.Fatalf("a's account after b appended: version %d, %v; want the committed 5", acc.Version(), err)
	}

	// Every attempt loses the race to b: ErrBusy, and nothing of a's.
	conflicts = 0
	n := 0
	_, err = a.Update(ctx, ports.Update{StreamID: "org_2", Decide: func(acc *billing.Account) ([]billing.Event, error) {
		n++
		started(b, fmt.Sprintf("cs_b_%d", n))
		return []billing.Event{{Change: billing.CheckoutStarted{Tier: billing.TierPro, CheckoutSessionID: "cs_never"}, OccurredAt: at}}, nil
	}})
	if !errors.Is(err, ports.ErrBusy) || conflicts != postgres.MaxUpdateAttempts {
		t.Fatalf("always behind: %v after %d conflicts, want ErrBusy after %d", err, conflicts, postgres.MaxUpdateAttempts)
	}
}

// An append bounded by a context that ends while Postgres holds it fails
// with the context's error, and the store's next update goes through (the
// connection it broke is not used again).
func TestAppendEndsWithItsContext(t *testing.T) {
	store, _, db := newStore(t)
	ctx := context.Background()
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	start := func(id string) ports.Update {
		return ports.Update{StreamID: "org_c", IdempotencyKey: "key_" + id, Decide: func(acc *billing.Account) ([]billing.Event, error) {
			ev, err := acc.StartCheckout(billing.CheckoutStarted{Tier: billing.TierPro, CheckoutSessionID: id}, at)
			return []billing.Event{ev}, err
		}}
	}
	if _, err := store.Update(ctx, start("cs_1")); err != nil {
		t.Fatal(err)
	}
	lock, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.ExecContext(ctx, "SELECT 1 FROM billing_streams WHERE id = 'org_c' FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	waiting := make(chan int, 1) // the backend of the append that waits for the lock
	go func() { waiting <- lockWaiter(db) }()
	_, err = store.Update(short, start("cs_2"))
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(t0) > 5*time.Second {
		t.Fatalf("update held by a lock past its context: %v after %v; want the context's deadline", err, time.Since(t0))
	}
	held := <-waiting
	if held == 0 {
		t.Fatal("no backend seen waiting for the lock")
	}
	if err := lock.Rollback(); err != nil {
		t.Fatal(err)
	}
	// The connection is in the middle of a round trip: it is closed, not
	// given back to the pool, so its backend ends once the lock is gone.
	for gone := false; !gone; {
		if err := db.DB.DB.QueryRow("SELECT NOT EXISTS (SELECT FROM pg_stat_activity WHERE pid = $1)", held).Scan(&gone); err != nil {
			t.Fatal(err)
		}
		if !gone && time.Since(t0) > 10*time.Second {
			t.Fatalf("backend %d of the timed-out append still there: its connection went back to the pool", held)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := store.Update(ctx, start("cs_3")); err != nil {
		t.Fatalf("update after a timed-out one: %v", err)
	}
}
