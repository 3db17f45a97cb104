package postgres_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safeclose/billing/adapters/postgres"
	"github.com/safeclose/billing/adapters/postgres/pgtest"
	"github.com/safeclose/billing/application"
	"github.com/safeclose/billing/ports"
	"github.com/safeclose/billing/ports/porttest"
)

func TestLedgerRefusesUpdateDeleteAndTruncate(t *testing.T) {
	store, _, db := newStore(t)
	ctx := context.Background()
	appendRandom(t, store, "org_x", rand.New(rand.NewPCG(1, 1)), 3)
	for _, stmt := range []string{
		"UPDATE billing_events SET type = 'X'",
		"UPDATE billing_events SET data = '{}' WHERE stream_version = 1",
		"DELETE FROM billing_events",
		"DELETE FROM billing_events WHERE stream_version = 3",
		"TRUNCATE billing_events",
	} {
		_, err := db.ExecContext(ctx, stmt)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err = %v, want the append-only refusal", stmt, err)
		}
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM billing_events").Scan(&n); err != nil || n != 3 {
		t.Errorf("%d events left (%v), want 3", n, err)
	}
}

func TestVerifyCatchesASuperuserEdit(t *testing.T) {
	ctx := context.Background()
	tamper := []struct {
		name, sql, wantReason string
		wantVersion           int64
	}{
		{"data changed", "UPDATE billing_events SET data = jsonb_set(data, '{tier}', '\"ENTERPRISE\"') WHERE stream_id = 'org_b' AND stream_version = 2", "hash", 2},
		{"metadata changed", "UPDATE billing_events SET metadata = '{\"actor\":\"user:mallory\"}' WHERE stream_id = 'org_b' AND stream_version = 3", "hash", 3},
		{"occurred time moved", "UPDATE billing_events SET occurred_at = occurred_at - interval '1 day' WHERE stream_id = 'org_b' AND stream_version = 1", "hash", 1},
		{"middle event deleted", "DELETE FROM billing_events WHERE stream_id = 'org_b' AND stream_version = 2", "follows", 3},
		{"last event deleted", "DELETE FROM billing_events WHERE stream_id = 'org_b' AND stream_version = 4", "stream index", 3},
		{"event rehashed alone", "UPDATE billing_events SET data = '{}', hash = sha256('x') WHERE stream_id = 'org_b' AND stream_version = 4", "hash", 4},
	}
	for _, tc := range tamper {
		t.Run(tc.name, func(t *testing.T) {
			store, _, db := newStore(t)
			rng := rand.New(rand.NewPCG(2, 2))
			appendRandom(t, store, "org_a", rng, 4)
			appendRandom(t, store, "org_b", rng, 4)
			appendRandom(t, store, "org_c", rng, 4)
			if rep, err := application.VerifyLedger(ctx, store, ""); err != nil || rep.Break != nil || rep.Events != 12 || rep.Streams != 3 {
				t.Fatalf("before: %+v, %v", rep, err)
			}
			super, err := sql.Open("pgx", db.SuperURL)
			if err != nil {
				t.Fatal(err)
			}
			defer super.Close()
			for _, stmt := range []string{
				"ALTER TABLE billing_events DISABLE TRIGGER billing_events_append_only", tc.sql,
				"ALTER TABLE billing_events ENABLE TRIGGER billing_events_append_only",
			} {
				if _, err := super.ExecContext(ctx, stmt); err != nil {
					t.Fatalf("%s: %v", stmt, err)
				}
			}
			for _, org := range []string{"", "org_b"} {
				rep, err := application.VerifyLedger(ctx, store, org)
				if err != nil {
					t.Fatal(err)
				}
				if rep.Break == nil {
					t.Fatalf("verify %q passed a tampered ledger", org)
				}
				if rep.Break.StreamID != "org_b" || rep.Break.Version != tc.wantVersion || !strings.Contains(rep.Break.Reason, tc.wantReason) {
					t.Errorf("verify %q: break = %v, want org_b event %d (%s)", org, rep.Break, tc.wantVersion, tc.wantReason)
				}
			}
			if rep, _ := application.VerifyLedger(ctx, store, "org_a"); rep.Break != nil {
				t.Errorf("an untouched stream fails: %v", rep.Break)
			}
		})
	}
}

func TestRebuildReproducesTheReadModelsExactly(t *testing.T) {
	store, _, db := newStore(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 3))
	for i := range 1000 {
		appendRandom(t, store, fmt.Sprintf("org_%04d", i), rng, 1+rng.IntN(12))
	}
	// An operator's own index (partial, with a storage parameter) and
	// constraint are made again on the rebuilt tables too.
	for _, stmt := range []string{"CREATE INDEX orgs_named ON orgs (name) WITH (fillfactor = 60) WHERE name <> ''",
		"ALTER TABLE stripe_links ADD CONSTRAINT stripe_links_org_id_stripe_id UNIQUE (org_id, stripe_id)"} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	schema := projectionSchema(t, db)
	before := dumpReadModels(t, db)
	// The lifecycle's columns are among what is compared.
	if n := countRows(t, db, "SELECT count(*) FROM billing_status WHERE trial_end IS NOT NULL"); n == 0 {
		t.Error("no status row with a trial_end: the comparison would not cover it")
	}
	if n := countRows(t, db, "SELECT count(*) FROM billing_status WHERE payment_action_url IS NOT NULL"); n == 0 {
		t.Error("no status row with a payment_action_url: the comparison would not cover it")
	}
	// Damage the read models: the rebuild must not read them.
	if _, err := db.ExecContext(ctx, "UPDATE billing_status SET plan_tier = 'FREE', snapshot = '{}', trial_end = NULL, payment_action_url = 'x' WHERE org_id < 'org_0500'"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "DELETE FROM billing_status WHERE org_id > 'org_0900'; DELETE FROM stripe_links WHERE org_id > 'org_0800'; INSERT INTO billing_status SELECT 'org_ghost', plan_tier, status, current_period_end, cancel_at_period_end, stripe_customer_id, stripe_subscription_id, ledger_version, updated_at, snapshot FROM billing_status LIMIT 1"); err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(dumpReadModels(t, db), before) {
		t.Fatal("damage did not change the read models")
	}
	var calls int
	stats, err := store.Rebuild(ctx, func(pos, last int64) { calls++ })
	if err != nil {
		t.Fatal(err)
	}
	if stats.Streams != 1000 || stats.Events == 0 || calls == 0 {
		t.Errorf("stats = %+v, progress calls = %d", stats, calls)
	}
	after := dumpReadModels(t, db)
	if !reflect.DeepEqual(after, before) {
		for k, v := range before {
			if after[k] != v {
				t.Errorf("%s:\n got  %s\n want %s", k, after[k], v)
				break
			}
		}
		t.Fatalf("rebuilt read models differ (%d rows, want %d)", len(after), len(before))
	}
	if got := projectionSchema(t, db); !reflect.DeepEqual(got, schema) {
		t.Errorf("indexes and constraints after the rebuild:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(schema, "\n"))
	}
	// A second rebuild after more appends works on the swapped tables.
	appendRandom(t, store, "org_0001", rng, 2)
	before = dumpReadModels(t, db)
	if _, err := store.Rebuild(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(dumpReadModels(t, db), before) {
		t.Fatal("second rebuild differs")
	}
}

// projectionSchema lists the projection tables' indexes and constraints
// as Postgres defines them, names included.
func projectionSchema(t *testing.T, db *pgtest.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT indexdef FROM pg_indexes
			WHERE schemaname = current_schema() AND tablename IN ('billing_status', 'stripe_links', 'orgs', 'memberships')
		UNION ALL
		SELECT conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
			WHERE conrelid IN ('billing_status'::regclass, 'stripe_links'::regclass, 'orgs'::regclass, 'memberships'::regclass)
		ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var def string
		if err := rows.Scan(&def); err != nil {
			t.Fatal(err)
		}
		out = append(out, def)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRebuildWhileServing(t *testing.T) {
	store, status, db := newStore(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(4, 4))
	const orgs = 200
	for i := range orgs {
		appendRandom(t, store, fmt.Sprintf("org_%04d", i), rng, 5)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var reads, writes atomic.Int64
	// Readers: every org always has a row, at least as new as its last write.
	floor := make([]atomic.Int64, orgs)
	for i := range orgs {
		floor[i].Store(5)
	}
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := r; ; i = (i + 7) % orgs {
				select {
				case <-stop:
					return
				default:
				}
				want := floor[i].Load()
				st, err := status.Status(ctx, fmt.Sprintf("org_%04d", i))
				if err != nil {
					t.Errorf("read during rebuild: %v", err)
					return
				}
				if st.LedgerVersion < want {
					t.Errorf("org %d: version %d, already wrote %d", i, st.LedgerVersion, want)
					return
				}
				reads.Add(1)
			}
		}()
	}
	// Writers: keep appending through the rebuild.
	wg.Add(1)
	go func() {
		defer wg.Done()
		wrng := rand.New(rand.NewPCG(5, 5))
		for {
			select {
			case <-stop:
				return
			default:
			}
			i := wrng.IntN(orgs)
			v := appendRandom(t, store, fmt.Sprintf("org_%04d", i), wrng, 1)
			floor[i].Store(v)
			writes.Add(1)
		}
	}()
	var rebuildErr error
	for range 3 {
		if _, rebuildErr = store.Rebuild(ctx, nil); rebuildErr != nil {
			break
		}
	}
	close(stop)
	wg.Wait()
	if rebuildErr != nil {
		t.Fatal(rebuildErr)
	}
	if reads.Load() == 0 || writes.Load() == 0 {
		t.Fatalf("reads %d, writes %d: nothing ran beside the rebuild", reads.Load(), writes.Load())
	}
	// What the live projection holds now equals a clean rebuild.
	live := dumpReadModels(t, db)
	if _, err := store.Rebuild(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(dumpReadModels(t, db), live) {
		t.Fatal("read models after concurrent rebuilds differ from a clean rebuild")
	}
	t.Logf("%d reads and %d writes during 3 rebuilds", reads.Load(), writes.Load())
}

// A long reader of a live table (here an open transaction that read it)
// holds the rebuild's swap off. While the swap waits for its lock, every
// append queues behind it: the wait is bounded, so an append goes through
// while the reader still runs, and the rebuild gives up saying why; once
// the reader is gone it succeeds.
func TestRebuildSwapGivesWayToALongReader(t *testing.T) {
	store, _, db := newStore(t)
	postgres.SetSwapPolicy(store, time.Second, 3, 500*time.Millisecond)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(6, 6))
	for i := range 20 {
		appendRandom(t, store, fmt.Sprintf("org_%04d", i), rng, 3)
	}
	reader, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Rollback() //nolint:errcheck // a no-op once rolled back
	var n int
	if err := reader.QueryRowContext(ctx, "SELECT count(*) FROM billing_status").Scan(&n); err != nil || n != 20 {
		t.Fatalf("reader: %d rows, %v", n, err)
	}
	rebuilt := make(chan error, 1)
	go func() {
		_, err := store.Rebuild(ctx, nil)
		rebuilt <- err
	}()
	// The swap is queued for its lock.
	for waiting := 0; waiting == 0; {
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_locks
			WHERE NOT granted AND mode = 'AccessExclusiveLock' AND relation = 'billing_status'::regclass`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-rebuilt:
			t.Fatalf("the rebuild ended (%v) without waiting for the reader", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	appended := make(chan error, 1)
	go func() {
		c, at := porttest.RandomFact("org_0001", rng)
		_, err := store.Append(ctx, ports.AppendRequest{StreamID: "org_0001", ExpectedVersion: 3, Events: []ports.NewEvent{porttest.Event(t, c, at)}})
		appended <- err
	}()
	select {
	case err := <-appended:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("an append still waits behind the rebuild's swap after a minute")
	}
	err = <-rebuilt
	if !errors.Is(err, postgres.ErrSwapLockTimeout) || !strings.Contains(err.Error(), "3 attempts") {
		t.Fatalf("rebuild held off by a reader: %v, want ErrSwapLockTimeout after 3 attempts", err)
	}
	t.Log(err)
	if err := reader.Rollback(); err != nil {
		t.Fatal(err)
	}
	before := dumpReadModels(t, db)
	if _, err := store.Rebuild(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(dumpReadModels(t, db), before) {
		t.Fatal("the rebuild after the reader left differs from the live read models")
	}
}

// A rebuild keeps what CREATE TABLE … LIKE does not copy: storage
// parameters (the migrations' fillfactor, a toast.* one), privileges on
// tables and columns, and an owner other than the rebuilding role.
func TestRebuildKeepsStorageParametersPrivilegesAndOwner(t *testing.T) {
	store, _, db := newStore(t)
	ctx := context.Background()
	super, err := sql.Open("pgx", db.SuperURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { super.Close() })
	var app string
	if err := db.QueryRowContext(ctx, "SELECT current_user").Scan(&app); err != nil {
		t.Fatal(err)
	}
	// Roles are the cluster's: unique names, dropped at the end.
	suffix := fmt.Sprint(time.Now().UnixNano())
	reader, owner := "reader_"+suffix, "owner_"+suffix
	t.Cleanup(func() {
		for _, stmt := range []string{"DROP OWNED BY " + reader + ", " + owner, "DROP ROLE " + reader, "DROP ROLE " + owner} {
			if _, err := super.Exec(stmt); err != nil {
				t.Logf("%s: %v", stmt, err)
			}
		}
	})
	for _, stmt := range []string{
		"CREATE ROLE " + reader + " LOGIN", "CREATE ROLE " + owner,
		"GRANT " + owner + " TO " + app, "GRANT CREATE ON SCHEMA public TO " + owner,
	} {
		if _, err := super.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	for _, stmt := range []string{
		"GRANT SELECT ON billing_status TO " + reader,
		"GRANT SELECT (stripe_id, org_id) ON stripe_links TO " + reader,
		"GRANT SELECT ON memberships TO PUBLIC",
		"GRANT INSERT ON memberships TO " + reader + " WITH GRANT OPTION",
		"ALTER TABLE billing_status SET (toast.autovacuum_enabled = false)",
		"ALTER TABLE memberships SET (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.05)",
		"ALTER TABLE orgs OWNER TO " + owner,
		"GRANT SELECT ON orgs TO " + reader,
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	settings := func() map[string]string {
		t.Helper()
		out := map[string]string{}
		rows, err := db.QueryContext(ctx, `SELECT c.relname,
			coalesce((SELECT string_agg(o, ',' ORDER BY o) FROM unnest(c.reloptions) o), '') || ' toast:' ||
			coalesce((SELECT string_agg(o, ',' ORDER BY o) FROM pg_class tc, unnest(tc.reloptions) o WHERE tc.oid = c.reltoastrelid), '') ||
			' owner:' || pg_get_userbyid(c.relowner) || ' acl:' ||
			coalesce((SELECT string_agg(g, ',' ORDER BY g) FROM (
				SELECT coalesce(p.attname, '') || '/' || CASE WHEN p.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(p.grantee) END ||
					'/' || p.privilege_type || '/' || p.is_grantable || '/' || pg_get_userbyid(p.grantor) AS g
				FROM (SELECT NULL::name AS attname, a.* FROM aclexplode(c.relacl) a
				      UNION ALL
				      SELECT att.attname, a.* FROM pg_attribute att, aclexplode(att.attacl) a WHERE att.attrelid = c.oid AND att.attnum > 0) p) gs), '')
			FROM pg_class c WHERE c.relname IN ('billing_status', 'stripe_links', 'orgs', 'memberships') AND c.relnamespace = current_schema()::regnamespace`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var table, v string
			if err := rows.Scan(&table, &v); err != nil {
				t.Fatal(err)
			}
			out[table] = v
		}
		if err := rows.Err(); err != nil || len(out) != 4 {
			t.Fatalf("settings of %d tables: %v", len(out), err)
		}
		return out
	}
	before := settings()
	for _, want := range []string{"fillfactor=70", "toast:autovacuum_enabled=false", reader + "/SELECT"} {
		if !strings.Contains(before["billing_status"], want) {
			t.Fatalf("billing_status before the rebuild lacks %s: %s", want, before["billing_status"])
		}
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range 30 {
		appendRandom(t, store, fmt.Sprintf("org_%04d", i), rng, 4)
	}
	for round := 1; round <= 2; round++ {
		if _, err := store.Rebuild(ctx, nil); err != nil {
			t.Fatal(err)
		}
		after := settings()
		for table, want := range before {
			if after[table] != want {
				t.Errorf("rebuild %d: %s:\n got  %s\n want %s", round, table, after[table], want)
			}
		}
	}
	// The reader can read what it was granted, and only that.
	u, err := url.Parse(db.SuperURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(reader)
	conn, err := sql.Open("pgx", u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var n int
	for _, q := range []string{"SELECT count(*) FROM billing_status", "SELECT count(stripe_id) FROM stripe_links", "SELECT count(*) FROM orgs", "SELECT count(*) FROM memberships"} {
		if err := conn.QueryRowContext(ctx, q).Scan(&n); err != nil {
			t.Errorf("as the reader after the rebuild, %s: %v", q, err)
		}
	}
	if _, err := conn.ExecContext(ctx, "SELECT count(*) FROM billing_streams"); err == nil {
		t.Error("the reader reads a table it was never granted")
	}
}

// appendRandom appends n random but valid billing facts to stream and
// returns the stream's version after.
func appendRandom(t testing.TB, store ports.EventStore, stream string, rng *rand.Rand, n int) int64 {
	t.Helper()
	ctx := context.Background()
	for {
		cur, err := store.Load(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		events := make([]ports.NewEvent, n)
		for i := range events {
			c, at := porttest.RandomFact(stream, rng)
			events[i] = porttest.Event(t, c, at)
		}
		_, err = store.Append(ctx, ports.AppendRequest{StreamID: stream, ExpectedVersion: int64(len(cur)), Events: events,
			Metadata: ports.Metadata{Actor: "stripe", StripeEventID: fmt.Sprintf("evt_%d", rng.Int64())}})
		if err == nil {
			return int64(len(cur) + n)
		}
		if err != ports.ErrVersionConflict {
			t.Fatal(err)
		}
	}
}

func countRows(t testing.TB, db interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, query string) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), query).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// dumpReadModels returns every read model row as text, keyed by table and id.
func dumpReadModels(t testing.TB, db interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, q := range []string{
		"SELECT 'status/' || org_id, row_to_json(s)::text FROM billing_status s",
		"SELECT 'link/' || stripe_id, org_id FROM stripe_links",
		"SELECT 'org/' || id, row_to_json(o)::text FROM orgs o",
		"SELECT 'member/' || org_id || '/' || user_id, row_to_json(m)::text FROM memberships m",
	} {
		rows, err := db.QueryContext(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var k, v string
			if err := rows.Scan(&k, &v); err != nil {
				t.Fatal(err)
			}
			out[k] = v
		}
		rows.Close()
	}
	return out
}
