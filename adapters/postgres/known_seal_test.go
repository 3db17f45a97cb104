package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/safeclose/billing/adapters/memory"
	"github.com/safeclose/billing/adapters/postgres"
	"github.com/safeclose/billing/adapters/postgres/pgtest"
	"github.com/safeclose/billing/application"
	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
	"github.com/safeclose/billing/ports/porttest"
)

func versionsOf(events []ports.StoredEvent) []int64 {
	out := []int64{}
	for _, e := range events {
		out = append(out, e.Version)
	}
	return out
}

func portal(t testing.TB, id string, at time.Time) ports.NewEvent {
	return porttest.Event(t, billing.PortalOpened{PortalSessionID: id}, at)
}

// An append whose transaction commits late, with its events recorded
// before the instant a knownAt answer is asked for: the answer waits for
// it and holds its events, so that asking again never gives more.
func TestKnownAtWaitsForAnAppendInFlight(t *testing.T) {
	ctx := context.Background()
	store, _, db := newStore(t)
	history := postgres.NewHistory(db.DB, db.DB)
	t0 := time.Now().UTC().Truncate(time.Microsecond)
	if _, err := store.Append(ctx, ports.AppendRequest{StreamID: "org_k", Events: []ports.NewEvent{portal(t, "bps_1", t0)}}); err != nil {
		t.Fatal(err)
	}
	// The append in flight, as the store's one statement makes it: the
	// head moves (its row locked until commit), the event is recorded at
	// t1, and the transaction stays open.
	tx, err := db.DB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	t1 := time.Now().UTC().Truncate(time.Microsecond)
	if _, err := tx.ExecContext(ctx, `WITH head AS (UPDATE billing_streams SET version = 2 WHERE id = 'org_k' AND version = 1
			AND (sealed_at IS NULL OR sealed_at < ?::timestamptz) RETURNING 1)
		INSERT INTO billing_events (stream_id, stream_version, type, schema_version, data, metadata, occurred_at, recorded_at, hash)
		VALUES ('org_k', 2, 'PortalOpened', 1, '{"portalSessionId":"bps_2"}', '{}', ?, (SELECT ?::timestamptz FROM head), '\x00')`, t1, t1, t1); err != nil {
		t.Fatal(err)
	}
	knownAt := t1.Add(time.Millisecond)
	type answer struct {
		events []ports.StoredEvent
		err    error
	}
	answered := make(chan answer, 1)
	go func() {
		events, err := history.Known(ctx, "org_k", time.Time{}, knownAt)
		answered <- answer{events, err}
	}()
	// Commit once the answer waits on the append's lock (or has answered
	// without waiting: the check below then fails).
	deadline := time.Now().Add(10 * time.Second)
	for waiting := false; !waiting && time.Now().Before(deadline); {
		select {
		case a := <-answered:
			answered <- a
			waiting = true
		default:
			if err := db.DB.QueryRowContext(ctx, `SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE billing_streams SET sealed_at%'`).Scan(&waiting); err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	first := <-answered
	if first.err != nil {
		t.Fatal(first.err)
	}
	again, err := history.Known(ctx, "org_k", time.Time{}, knownAt)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := versionsOf(first.events), versionsOf(again); len(got) != 2 || len(want) != 2 {
		t.Fatalf("known at %v: first %v, then %v; want [1 2] both times (version 2 was recorded at %v, committed late)", knownAt, got, want, t1)
	}
}

// An instance whose clock is behind an instant already answered records
// its events after that instant, so the answer stays what it was.
func TestKnownAtAnswerStaysWithASlowClock(t *testing.T) {
	ctx := context.Background()
	db := pgtest.New(t)
	clock := memory.NewClock(time.Now().Add(-time.Hour))
	store := postgres.NewStore(db.DB, clock, []postgres.Projection{postgres.NewStatusProjection(db.DB)})
	history := postgres.NewHistory(db.DB, db.DB)
	if _, err := store.Append(ctx, ports.AppendRequest{StreamID: "org_k", Events: []ports.NewEvent{portal(t, "bps_1", time.Now())}}); err != nil {
		t.Fatal(err)
	}
	knownAt := time.Now().Add(-30 * time.Minute).UTC().Truncate(time.Microsecond) // after the first append's clock
	before, err := history.Known(ctx, "org_k", time.Time{}, knownAt)
	if err != nil || len(before) != 1 {
		t.Fatalf("known at %v: %d events, %v", knownAt, len(before), err)
	}
	// The slow clock still reads before knownAt.
	res, err := store.Append(ctx, ports.AppendRequest{StreamID: "org_k", ExpectedVersion: 1, Events: []ports.NewEvent{portal(t, "bps_2", time.Now())}})
	if err != nil {
		t.Fatal(err)
	}
	if rec := res.Events[0].RecordedAt; !rec.After(knownAt) {
		t.Errorf("an event appended after the answer for %v was recorded at %v", knownAt, rec)
	}
	after, err := history.Known(ctx, "org_k", time.Time{}, knownAt)
	if err != nil || len(after) != 1 {
		t.Errorf("known at %v, asked again: %v (%v), want [1]", knownAt, versionsOf(after), err)
	}
	// And the store goes on with its own clock's order once past it.
	res, err = store.Append(ctx, ports.AppendRequest{StreamID: "org_k", ExpectedVersion: 2, Events: []ports.NewEvent{portal(t, "bps_3", time.Now())}})
	if err != nil || !res.Events[0].RecordedAt.After(knownAt) {
		t.Fatalf("third append: %+v, %v", res, err)
	}
	if rep, err := application.VerifyLedger(ctx, store, ""); err != nil || rep.Break != nil || rep.Events != 3 {
		t.Fatalf("ledger verify: %+v, %v", rep, err)
	}
}
