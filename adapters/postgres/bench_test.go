package postgres_test

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// seedLedger writes events realistic billing events over orgs straight in
// SQL (fast), with their streams. Hashes are placeholders: rebuild does
// not read them.
func seedLedger(b *testing.B, url string, events, orgs int) {
	b.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	per := events / orgs
	_, err = conn.Exec(ctx, `
INSERT INTO billing_events (stream_id, stream_version, type, schema_version, data, metadata, occurred_at, recorded_at, hash)
SELECT 'org_' || o, v,
  CASE v % 4 WHEN 1 THEN 'PlanActivated' WHEN 2 THEN 'PaymentSucceeded' WHEN 3 THEN 'SubscriptionRefreshed' ELSE 'PaymentFailed' END,
  1,
  CASE v % 4
    WHEN 1 THEN jsonb_build_object('checkoutSessionId', 'cs_' || o, 'customerId', 'cus_' || o, 'subscriptionId', 'sub_' || o, 'tier', 'PRO')
    WHEN 3 THEN jsonb_build_object('customerId', 'cus_' || o, 'subscriptionId', 'sub_' || o, 'status', 'active', 'tier', 'ENTERPRISE',
                                   'priceId', 'price_e', 'currentPeriodEnd', '2027-01-01T00:00:00Z', 'cancelAtPeriodEnd', false)
    ELSE jsonb_build_object('invoiceId', 'in_' || o || '_' || v, 'number', 'A-' || v, 'customerId', 'cus_' || o, 'subscriptionId', 'sub_' || o,
                            'amountPaid', 4900, 'amountDue', 4900, 'currency', 'usd', 'attemptCount', 1,
                            'hostedInvoiceUrl', 'https://invoice.stripe.com/i/' || v, 'invoicePdf', 'https://pay.stripe.com/invoice/' || v || '/pdf')
  END,
  jsonb_build_object('actor', 'stripe', 'stripeEventId', 'evt_' || o || '_' || v),
  timestamptz '2026-01-01' + (v * interval '1 minute'), now(), '\x00'
FROM generate_series(1, $1::int) o, generate_series(1, $2::int) v ORDER BY v, o`, orgs, per)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO billing_streams (id, version) SELECT 'org_' || o, $2::int FROM generate_series(1, $1::int) o`, orgs, per); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "VACUUM ANALYZE billing_events"); err != nil {
		b.Fatal(err)
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkRebuild replays a ledger of BENCH_EVENTS events (default
// 100,000) over BENCH_ORGS orgs (default 10,000) and reports events/s,
// beside a plain COPY of billing_events to nowhere measured on the same
// database just before.
func BenchmarkRebuild(b *testing.B) {
	events, orgs := envInt("BENCH_EVENTS", 100_000), envInt("BENCH_ORGS", 10_000)
	store, _, db := newStore(b)
	seedLedger(b, db.URL, events, orgs)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	// BENCH_ROUNDS rounds (default 3) of a COPY of the ledger to nowhere,
	// then the rebuild; the round of the median rebuild is reported (this
	// machine is shared).
	type round struct{ rate, copyRate float64 }
	var rounds []round
	b.ResetTimer()
	for range envInt("BENCH_ROUNDS", 3) {
		start := time.Now()
		if _, err := conn.PgConn().CopyTo(ctx, io.Discard, "COPY billing_events TO STDOUT"); err != nil {
			b.Fatal(err)
		}
		copyRate := float64(events) / time.Since(start).Seconds()
		var lsn0, lsn1 string
		_ = conn.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&lsn0)
		t0 := time.Now()
		stats, err := store.Rebuild(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		if stats.Events != int64(events) {
			b.Fatalf("replayed %d events, want %d", stats.Events, events)
		}
		rounds = append(rounds, round{float64(events) / time.Since(t0).Seconds(), copyRate})
		var wal, tables int64
		_ = conn.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&lsn1)
		_ = conn.QueryRow(ctx, "SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)::bigint", lsn1, lsn0).Scan(&wal)
		_ = conn.QueryRow(ctx, `SELECT sum(pg_total_relation_size(c.oid))::bigint FROM pg_class c
			WHERE c.relname IN ('billing_status', 'stripe_links', 'orgs', 'memberships', 'billing_account_snapshots')`).Scan(&tables)
		fmt.Fprintf(os.Stderr, "rebuild round: %.0f events/s; WAL written %d MB; read models now %d MB\n",
			rounds[len(rounds)-1].rate, wal>>20, tables>>20)
	}
	slices.SortFunc(rounds, func(x, y round) int { return cmp.Compare(x.rate, y.rate) })
	rate, copyRate := rounds[len(rounds)/2].rate, rounds[len(rounds)/2].copyRate
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(copyRate, "copy-events/s")
	b.ReportMetric(rate/copyRate, "ratio-to-copy")
	fmt.Fprintf(os.Stderr, "rebuild: %d events over %d orgs: %.0f events/s (median of %d, from %.0f to %.0f); COPY to /dev/null %.0f events/s; ratio %.2f\n",
		events, orgs, rate, len(rounds), rounds[0].rate, rounds[len(rounds)-1].rate, copyRate, rate/copyRate)
}
