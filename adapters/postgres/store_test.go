package postgres_test

import (
	"context"
	"errors"
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
	// Without a prior account, the store folds the stream itself.
	t.Run("prior folded by the store", func(t *testing.T) {
		porttest.RunEventStore(t, func(t *testing.T) porttest.Ledger {
			store, status, _ := newStore(t)
			return porttest.Ledger{Store: store, Scanner: store, Status: status}
		})
	})
	// The application's appends carry the account they decided on.
	t.Run("prior from the caller", func(t *testing.T) {
		porttest.RunEventStore(t, func(t *testing.T) porttest.Ledger {
			store, status, _ := newStore(t)
			return porttest.Ledger{Store: porttest.WithPrior(store), Scanner: store, Status: status}
		})
	})
}

// An append in one round trip moves the stream's head only from the last
// hash it holds: a wrong remembered hash is a conflict that writes
// nothing, and the next attempt reads the true one.
func TestOneRoundTripAppendChecksTheLastHash(t *testing.T) {
	store, _, db := newStore(t)
	ctx := context.Background()
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	first := porttest.Event(t, billing.CheckoutStarted{Tier: billing.TierPro, CheckoutSessionID: "cs_1"}, at)
	res, err := store.Append(ctx, ports.AppendRequest{StreamID: "org_h", Events: []ports.NewEvent{first}, Prior: billing.NewAccount("org_h")})
	if err != nil {
		t.Fatal(err)
	}
	prior := billing.NewAccount("org_h")
	prior.Apply(billing.Event{Change: billing.CheckoutStarted{Tier: billing.TierPro, CheckoutSessionID: "cs_1"}, OccurredAt: at})
	next := ports.AppendRequest{StreamID: "org_h", ExpectedVersion: 1, Prior: prior, IdempotencyKey: "evt_2",
		Events: []ports.NewEvent{porttest.Event(t, billing.CheckoutStarted{Tier: billing.TierStarter, CheckoutSessionID: "cs_2"}, at.Add(time.Second))}}

	postgres.RememberHead(store, "org_h", 1, []byte("not the hash of event 1"))
	if _, err := store.Append(ctx, next); !errors.Is(err, ports.ErrVersionConflict) {
		t.Fatalf("append after a wrong remembered hash: %v, want a conflict", err)
	}
	var keys int
	if err := db.DB.NewSelect().Table("billing_event_keys").ColumnExpr("count(*)").Scan(ctx, &keys); err != nil || keys != 0 {
		t.Fatalf("the conflict kept %d keys (%v), want none", keys, err)
	}
	if got, _ := store.Load(ctx, "org_h"); len(got) != 1 {
		t.Fatalf("the conflict appended: %d events", len(got))
	}

	again, err := store.Append(ctx, next)
	if err != nil || len(again.Events) != 1 {
		t.Fatalf("second attempt: %+v, %v", again, err)
	}
	if again.Events[0].Position <= res.Events[0].Position {
		t.Errorf("position %d after %d", again.Events[0].Position, res.Events[0].Position)
	}
	rep, err := application.VerifyLedger(ctx, store, "")
	if err != nil || rep.Break != nil || rep.Events != 2 {
		t.Fatalf("ledger after the retry: %+v, %v", rep, err)
	}
}
