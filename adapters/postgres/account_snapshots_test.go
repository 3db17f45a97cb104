package postgres_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/safeclose/billing/adapters/postgres"
	"github.com/safeclose/billing/ports/porttest"
)

// As-of answers start from the periodic snapshots live appends write,
// from the ones a rebuild writes instead, and from none when they are
// gone; each time exactly the full fold's answer.
func TestAccountAtFromPeriodicSnapshots(t *testing.T) {
	ctx := context.Background()
	store, status, db := newStore(t)
	postgres.SetSnapshotEvery(status, 10)
	history := postgres.NewHistory(db.DB, db.DB)
	rng := rand.New(rand.NewPCG(4, 17))
	stored := porttest.AppendRandomStream(t, store, "org_s", 250, rng)
	porttest.AppendRandomStream(t, store, "org_other", 30, rng)

	// n snapshots; broken: segments that do not start where the one
	// before ended; off: snapshots not at a multiple of 10.
	snapshots := func() (n, broken, off int) {
		t.Helper()
		err := db.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE from_version IS DISTINCT FROM coalesce(prev, 0)),
				count(*) FILTER (WHERE stream_version % 10 <> 0)
			FROM (SELECT *, lag(stream_version) OVER (ORDER BY stream_version) AS prev FROM billing_account_snapshots WHERE stream_id = 'org_s') s`).Scan(&n, &broken, &off)
		if err != nil {
			t.Fatal(err)
		}
		return n, broken, off
	}
	// Appends of one to four events: one snapshot per multiple crossed,
	// at the append's last version.
	if n, broken, _ := snapshots(); n != 25 || broken != 0 {
		t.Fatalf("live appends kept %d snapshots of org_s (%d segments not contiguous), want 25", n, broken)
	}
	porttest.CheckAccountAt(t, history, "org_s", stored, rng, 400)

	if _, err := store.Rebuild(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if n, broken, off := snapshots(); n != 25 || broken != 0 || off != 0 {
		t.Fatalf("the rebuild kept %d snapshots of org_s (%d not contiguous, %d off the multiples of 10), want 25", n, broken, off)
	}
	porttest.CheckAccountAt(t, history, "org_s", stored, rng, 400)

	// Another format (an upgrade) or none at all: the answer folds.
	if _, err := db.ExecContext(ctx, `UPDATE billing_account_snapshots SET snapshot = '{"format":1}' WHERE stream_version % 20 = 0`); err != nil {
		t.Fatal(err)
	}
	porttest.CheckAccountAt(t, history, "org_s", stored, rng, 200)
	if _, err := db.ExecContext(ctx, `DELETE FROM billing_account_snapshots`); err != nil {
		t.Fatal(err)
	}
	porttest.CheckAccountAt(t, history, "org_s", stored, rng, 200)
}
