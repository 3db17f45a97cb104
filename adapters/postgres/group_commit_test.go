package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/safeclose/billing/adapters/postgres"
	"github.com/safeclose/billing/adapters/postgres/pgtest"
	"github.com/safeclose/billing/application"
	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// laneStreams returns n stream ids whose appends share a lane.
func laneStreams(store *postgres.Store, prefix string, n int) []string {
	var out []string
	for i := 0; len(out) < n; i++ {
		id := fmt.Sprintf("%s%d", prefix, i)
		if len(out) == 0 || postgres.SameLane(store, out[0], id) {
			out = append(out, id)
		}
	}
	return out
}

// queueOnHeldLane holds the lane of stream and starts appends, each in
// its own goroutine, in order: each is queued on the lane before the next
// starts, so the first leads the group that release sends on. wait waits
// for them all.
func queueOnHeldLane(t *testing.T, store *postgres.Store, stream string, appends ...func()) (release, wait func()) {
	t.Helper()
	queued, release := postgres.HoldLane(store, stream)
	var wg sync.WaitGroup
	deadline := time.Now().Add(10 * time.Second)
	for i, f := range appends {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
		for queued() < i+1 {
			if time.Now().After(deadline) {
				t.Fatalf("%d appends queued on the lane, want %d", queued(), i+1)
			}
			time.Sleep(time.Millisecond)
		}
	}
	return release, wg.Wait
}

// whileHeld queues appends on the held lane of stream (queueOnHeldLane),
// sends them on as one group and waits for them.
func whileHeld(t *testing.T, store *postgres.Store, stream string, appends ...func()) {
	t.Helper()
	release, wait := queueOnHeldLane(t, store, stream, appends...)
	release()
	wait()
}

// lockWaiter returns the backend of db's database that waits for a lock,
// once one does (0 if none did within 10 s).
func lockWaiter(db *pgtest.DB) int {
	pid := 0
	for deadline := time.Now().Add(10 * time.Second); pid == 0 && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		_ = db.DB.DB.QueryRow("SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()").Scan(&pid)
	}
	return pid
}

// transactions counts the transactions that wrote the streams' events.
func transactions(t *testing.T, db *pgtest.DB, streams ...string) int {
	t.Helper()
	var n int
	err := db.DB.DB.QueryRow("SELECT count(DISTINCT xmin::text) FROM billing_events WHERE stream_id = ANY($1)", streams).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Appends of different streams that queue while a round trip is in flight
// commit together, in one transaction, and each gets its own events and
// read-model rows.
func TestWaitingAppendsCommitTogether(t *testing.T) {
	store, status, db := newStore(t)
	ctx := context.Background()
	streams := laneStreams(store, "org_g", 5)
	results := make([]ports.AppendResult, len(streams))
	errs := make([]error, len(streams))
	var appends []func()
	for i, s := range streams {
		appends = append(appends, func() {
			results[i], errs[i] = store.Append(ctx, ports.AppendRequest{StreamID: s, IdempotencyKey: "k_" + s,
				Events: []ports.NewEvent{portal(t, "bps_"+s, time.Now()), portal(t, "bps_2"+s, time.Now())}})
		})
	}
	whileHeld(t, store, streams[0], appends...)
	for i, s := range streams {
		if errs[i] != nil || len(results[i].Events) != 2 || results[i].Events[1].Version != 2 {
			t.Fatalf("append to %s: %+v, %v", s, results[i], errs[i])
		}
		if results[i].Events[1].Position != results[i].Events[0].Position+1 {
			t.Errorf("%s: positions %d, %d; want its own two, in order", s, results[i].Events[0].Position, results[i].Events[1].Position)
		}
		if st, err := status.Status(ctx, s); err != nil || st.LedgerVersion != 2 {
			t.Errorf("status of %s: %+v, %v", s, st, err)
		}
	}
	if n := transactions(t, db, streams...); n != 1 {
		t.Errorf("%d appends waiting together committed in %d transactions, want 1", len(streams), n)
	}
	if rep, err := application.VerifyLedger(ctx, store, ""); err != nil || rep.Break != nil || rep.Events != int64(2*len(streams)) {
		t.Fatalf("ledger: %+v, %v", rep, err)
	}
}

// A group is one transaction, so one failing append would undo the
// others: the group's appends run again, each alone, and each gets the
// answer it would have got alone: the duplicate is a duplicate, the lost
// race is decided again, the others are appended.
func TestAFailingAppendDoesNotSinkItsGroup(t *testing.T) {
	store, _, _ := newStore(t)
	ctx := context.Background()
	var conflicts int
	store.OnConflict(func() { conflicts++ })
	s := laneStreams(store, "org_f", 4)
	for _, stream := range s[:2] {
		update(t, store, stream, "key_"+stream)
	}
	// s[0]'s key again; a wrong belief about s[1]'s head.
	postgres.RememberHead(store, s[1], 1, []byte("not the hash of event 1"))
	var (
		results [4]ports.Updated
		errs    [4]error
	)
	var appends []func()
	for i, stream := range s {
		key := "key_" + stream
		if i == 1 {
			key += "_again"
		}
		appends = append(appends, func() { results[i], errs[i] = store.Update(ctx, checkout(stream, key)) })
	}
	whileHeld(t, store, s[0], appends...)
	for i := range s {
		if errs[i] != nil {
			t.Fatalf("update of %s: %v", s[i], errs[i])
		}
	}
	if !results[0].Duplicate {
		t.Errorf("%s's key again: %+v, want a duplicate", s[0], results[0])
	}
	if len(results[1].Events) != 1 || results[1].Events[0].Version != 2 || results[1].Attempts != 2 || conflicts != 1 {
		t.Errorf("%s after a wrong remembered head: %+v, %d conflicts; want one conflict, then the append at version 2", s[1], results[1], conflicts)
	}
	for _, i := range []int{2, 3} {
		if len(results[i].Events) != 1 || results[i].Events[0].Version != 1 {
			t.Errorf("%s beside them: %+v, want its event", s[i], results[i])
		}
	}
	if rep, err := application.VerifyLedger(ctx, store, ""); err != nil || rep.Break != nil || rep.Events != 5 {
		t.Fatalf("ledger: %+v, %v; want 5 events intact", rep, err)
	}
}

// checkout is an update starting a checkout on stream, keyed key.
func checkout(stream, key string) ports.Update {
	return ports.Update{StreamID: stream, IdempotencyKey: key, Decide: func(acc *billing.Account) ([]billing.Event, error) {
		ev, err := acc.StartCheckout(billing.CheckoutStarted{Tier: billing.TierPro, CheckoutSessionID: "cs_" + key}, time.Now())
		return []billing.Event{ev}, err
	}}
}

func update(t *testing.T, store *postgres.Store, stream, key string) {
	t.Helper()
	if _, err := store.Update(context.Background(), checkout(stream, key)); err != nil {
		t.Fatal(err)
	}
}

// Two appends of one stream never share a group (two decisions made on
// one version would sink it): the second waits for the next group, and
// the other stream's append commits with the first.
func TestAppendsOfOneStreamNeverShareAGroup(t *testing.T) {
	store, _, db := newStore(t)
	ctx := context.Background()
	s := laneStreams(store, "org_o", 2)
	var (
		results [3]ports.AppendResult
		errs    [3]error
	)
	appendTo := func(i int, stream string) func() {
		return func() {
			results[i], errs[i] = store.Append(ctx, ports.AppendRequest{StreamID: stream,
				Events: []ports.NewEvent{portal(t, fmt.Sprint("bps_", i), time.Now())}})
		}
	}
	whileHeld(t, store, s[0], appendTo(0, s[0]), appendTo(1, s[0]), appendTo(2, s[1]))
	won := -1
	for i := range 2 {
		switch {
		case errs[i] == nil && won < 0:
			won = i
		case !errors.Is(errs[i], ports.ErrVersionConflict):
			t.Fatalf("appends of %s at version 0: %v, %v; want one appended, one conflict", s[0], errs[0], errs[1])
		}
	}
	if won < 0 || errs[2] != nil {
		t.Fatalf("appends: %v, %v, %v", errs[0], errs[1], errs[2])
	}
	if n := transactions(t, db, s...); n != 1 {
		t.Errorf("%s's append and the one of %s that won committed in %d transactions, want 1 (a group)", s[1], s[0], n)
	}
}

// The request that leads a group gives up while the group waits in
// Postgres: the group goes on (its round trip is not bound by the
// leader's cancellation) and commits once, and each of the others gets
// its events. Were the round trip cut, it could have committed all the
// same, and appends run again would then conflict with themselves.
func TestALeaderGivingUpDoesNotFailItsGroup(t *testing.T) {
	store, _, db := newStore(t)
	ctx := context.Background()
	s := laneStreams(store, "org_l", 3)
	if _, err := store.Append(ctx, ports.AppendRequest{StreamID: s[1], Events: []ports.NewEvent{portal(t, "bps_first", time.Now())}}); err != nil {
		t.Fatal(err)
	}
	lock, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lock.Rollback() }()
	if _, err := lock.ExecContext(ctx, "SELECT 1 FROM billing_streams WHERE id = ? FOR UPDATE", s[1]); err != nil {
		t.Fatal(err)
	}
	leader, giveUp := context.WithCancel(ctx)
	defer giveUp()
	var (
		results [3]ports.AppendResult
		errs    [3]error
	)
	var appends []func()
	for i, stream := range s {
		c, expected := ctx, int64(0)
		switch i {
		case 0:
			c = leader // queued first: it leads the group
		case 1:
			expected = 1
		}
		appends = append(appends, func() {
			results[i], errs[i] = store.Append(c, ports.AppendRequest{StreamID: stream, ExpectedVersion: expected,
				Events: []ports.NewEvent{portal(t, fmt.Sprint("bps_", i), time.Now())}})
		})
	}
	release, wait := queueOnHeldLane(t, store, s[0], appends...)
	release()
	if lockWaiter(db) == 0 {
		t.Fatal("the group never waited for the lock")
	}
	giveUp()
	time.Sleep(100 * time.Millisecond)
	if err := lock.Rollback(); err != nil {
		t.Fatal(err)
	}
	wait()
	for i := 1; i < 3; i++ {
		if errs[i] != nil || len(results[i].Events) != 1 {
			t.Errorf("append to %s beside a leader that gave up: %+v, %v; want its event", s[i], results[i], errs[i])
		}
	}
	if n := transactions(t, db, s...); n != 2 {
		t.Errorf("%d transactions wrote the streams, want 2 (the first append of %s, then the group)", n, s[1])
	}
	if rep, err := application.VerifyLedger(ctx, store, ""); err != nil || rep.Break != nil || rep.Events != 4 {
		t.Fatalf("ledger: %+v, %v; want 4 events intact", rep, err)
	}
}
