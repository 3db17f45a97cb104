package httpapi_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	stripego "github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"

	"github.com/safeclose/billing/adapters/stripe"
	"github.com/safeclose/billing/adapters/stripe/stripemock"
	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
	"github.com/safeclose/billing/ports/porttest"
)

// latencies collects durations and reports percentiles.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) { l.mu.Lock(); l.d = append(l.d, d); l.mu.Unlock() }

func (l *latencies) pct(p float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	slices.Sort(l.d)
	return l.d[min(len(l.d)-1, int(float64(len(l.d))*p))]
}

func report(b *testing.B, format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
}

// run calls fn n times from c goroutines and returns calls per second.
func run(n, c int, fn func(i int)) float64 {
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

// BenchmarkWebhooks posts invoice.paid events over HTTP for 1,000 linked
// orgs at concurrency 1, 8 and 32, beside the bare SQL transaction of one
// event (dedupe insert, ~1 KB jsonb event insert under UNIQUE (stream,
// version), read-model upsert) at the same concurrency, same database.
func BenchmarkWebhooks(b *testing.B) {
	h := newHarness(b)
	srv := httptest.NewServer(h.handler)
	defer srv.Close()
	const orgs = 1000
	per := envIntOr("BENCH_WEBHOOKS", 3000)
	specs := make([]stripe.SubscriptionSpec, orgs)
	for i := range orgs {
		org := fmt.Sprintf("org_b%d", i)
		h.createOrg(org)
		specs[i] = stripe.SubscriptionSpec{OrgID: org, CustomerID: "cus_" + org, SubscriptionID: "sub_" + org, Tier: billing.TierPro}
		if rec := h.deliver(h.factory.Event("evt_link_"+org, "checkout.session.completed", time.Now().Add(-time.Hour), h.factory.CheckoutSession("cs_"+org, specs[i]))); rec.Code != 200 {
			b.Fatal(rec.Body)
		}
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	pool, err := pgxpool.New(context.Background(), h.db.URL)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	_, _ = pool.Exec(context.Background(), "CREATE TABLE bench_keys (key text PRIMARY KEY); CREATE TABLE bench_events (id bigserial PRIMARY KEY, stream text, version bigint, data jsonb, UNIQUE (stream, version)); CREATE TABLE bench_status (org text PRIMARY KEY, version bigint, data jsonb)")
	doc := bytes.Repeat([]byte("x"), 900)
	b.ResetTimer()
	round := 0
	for _, c := range []int{1, 8, 32} {
		round++
		payloads := make([][]byte, per)
		for i := range payloads {
			spec := specs[i%orgs]
			payloads[i] = h.factory.Event(fmt.Sprintf("evt_b%d_%d", round, i), "invoice.paid", time.Now().Add(-time.Minute),
				h.factory.Invoice(spec, stripe.InvoiceSpec{InvoiceID: fmt.Sprintf("in_%d_%d", round, i), Amount: 4900, Paid: true}))
		}
		var lat latencies
		rate := run(per, c, func(i int) {
			t0 := time.Now()
			req, _ := http.NewRequest("POST", srv.URL+"/api/billing/webhook", bytes.NewReader(payloads[i]))
			req.Header.Set("Stripe-Signature", stripe.Sign(payloads[i], secret, time.Now()))
			res, err := client.Do(req)
			if err != nil || res.StatusCode != 200 {
				b.Errorf("webhook: %v %v", err, res)
				return
			}
			res.Body.Close()
			lat.add(time.Since(t0))
		})
		versions := make([]atomic.Int64, orgs)
		sqlRate := run(per, c, func(i int) {
			ctx := context.Background()
			org := i % orgs
			v := versions[org].Add(1)
			tx, err := pool.Begin(ctx)
			if err != nil {
				b.Error(err)
				return
			}
			defer tx.Rollback(ctx)
			_, _ = tx.Exec(ctx, "INSERT INTO bench_keys VALUES ($1) ON CONFLICT DO NOTHING", fmt.Sprintf("k%d_%d", c, i))
			_, err = tx.Exec(ctx, "INSERT INTO bench_events (stream, version, data) VALUES ($1, $2, jsonb_build_object('d', $3::text))", fmt.Sprint(org), int64(c)*1_000_000+v, string(doc))
			if err == nil {
				_, err = tx.Exec(ctx, "INSERT INTO bench_status VALUES ($1, $2, jsonb_build_object('d', $3::text)) ON CONFLICT (org) DO UPDATE SET version = EXCLUDED.version, data = EXCLUDED.data", fmt.Sprint(org), v, string(doc[:300]))
			}
			if err == nil {
				err = tx.Commit(ctx)
			}
			if err != nil {
				b.Error(err)
			}
		})
		b.ReportMetric(rate, fmt.Sprintf("webhooks/s@c%d", c))
		report(b, "webhooks c=%-2d  %7.0f/s (p50 %v, p99 %v)   bare SQL tx %7.0f/s   ratio %.2f",
			c, rate, lat.pct(0.5).Round(time.Microsecond), lat.pct(0.99).Round(time.Microsecond), sqlRate, rate/sqlRate)
	}
	h.verifyLedger()
}

// BenchmarkWebhookHandler delivers signed invoice.paid events for 100
// linked orgs to the handler in process, one at a time, and reports the
// CPU this process spends per delivery (Postgres's is its own) and its
// allocations: the service's share of a webhook, steadier on a busy
// machine than a throughput, and the one to profile:
//
//	go test -run '^$' -bench WebhookHandler -cpuprofile cpu.out ./adapters/httpapi/
func BenchmarkWebhookHandler(b *testing.B) {
	h := newHarness(b)
	const orgs = 100
	specs := make([]stripe.SubscriptionSpec, orgs)
	for i := range orgs {
		org := fmt.Sprintf("org_h%d", i)
		h.createOrg(org)
		specs[i] = stripe.SubscriptionSpec{OrgID: org, CustomerID: "cus_" + org, SubscriptionID: "sub_" + org, Tier: billing.TierPro}
		if rec := h.deliver(h.factory.Event("evt_link_"+org, "checkout.session.completed", time.Now().Add(-time.Hour), h.factory.CheckoutSession("cs_"+org, specs[i]))); rec.Code != 200 {
			b.Fatal(rec.Body)
		}
	}
	type delivery struct {
		payload   []byte
		signature string
	}
	deliveries := make([]delivery, b.N)
	for i := range deliveries {
		p := h.factory.Event(fmt.Sprintf("evt_h%d_%d", b.N, i), "invoice.paid", time.Now().Add(-time.Minute),
			h.factory.Invoice(specs[i%orgs], stripe.InvoiceSpec{InvoiceID: fmt.Sprintf("in_h%d_%d", b.N, i), Amount: 4900, Paid: true}))
		deliveries[i] = delivery{p, stripe.Sign(p, secret, time.Now())}
	}
	b.ReportAllocs()
	cpu0 := processCPU(b)
	b.ResetTimer()
	for i := range b.N {
		if rec := h.deliverSigned(deliveries[i].payload, deliveries[i].signature); rec.Code != 200 || !bytes.Contains(rec.Body.Bytes(), []byte(`"applied"`)) {
			b.Fatal(rec.Code, rec.Body)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N)/1e3, "cpu-µs/op")
}

// processCPU is the user and system CPU time this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func envIntOr(name string, def int) int {
	var n int
	if _, err := fmt.Sscan(os.Getenv(name), &n); err == nil && n > 0 {
		return n
	}
	return def
}

// BenchmarkHistory reads an org with 10,000 events: first and deep pages,
// as-of answers, and the bare SQL of a page, same run; then the status and
// the entitlements (the product asks for them on every page: p99 at most
// 2 ms), now and as of a past instant.
func BenchmarkHistory(b *testing.B) {
	h := newHarness(b)
	w := newBenchWorld(b, h)
	ctx := context.Background()
	version := int64(len(h.ledger(w.org)))
	// The org's facts occur after its creation, a minute apart, as a real
	// stream's do (late facts aside), so that an as-of answer can start
	// from a periodic snapshot of the prefix before the instant.
	base := time.Now()
	for batch := range 100 {
		events := make([]ports.NewEvent, 100)
		for i := range events {
			n := batch*100 + i
			var c billing.Change = billing.PaymentSucceeded{Invoice: billing.Invoice{InvoiceID: fmt.Sprintf("in_%d", n), CustomerID: "cus_h", SubscriptionID: "sub_h", AmountPaid: 4900, Currency: "usd", AttemptCount: 1}}
			if n%3 == 0 {
				c = billing.SubscriptionRefreshed{CustomerID: "cus_h", SubscriptionID: "sub_h", Status: billing.StatusActive, Tier: billing.TierPro, CurrentPeriodEnd: base.Add(time.Duration(n) * time.Hour)}
			}
			events[i] = porttest.Event(b, c, base.Add(time.Duration(n)*time.Minute))
		}
		if _, err := h.store.Append(ctx, ports.AppendRequest{StreamID: w.org, ExpectedVersion: version, Events: events}); err != nil {
			b.Fatal(err)
		}
		version += 100
	}
	_, _ = h.db.ExecContext(ctx, "VACUUM ANALYZE billing_events")
	measure := func(name string, n int, fn func()) {
		var lat latencies
		for range n {
			t0 := time.Now()
			fn()
			lat.add(time.Since(t0))
		}
		report(b, "%-34s p50 %8v  p99 %8v", name, lat.pct(0.5).Round(time.Microsecond), lat.pct(0.99).Round(time.Microsecond))
	}
	get := func(path string) {
		rec := h.do("GET", path, w.token, nil)
		if rec.Code != 200 {
			b.Fatal(rec.Code, rec.Body)
		}
	}
	pool, _ := pgxpool.New(ctx, h.db.URL)
	defer pool.Close()
	b.ResetTimer()
	deep := "/api/billing/events?orgId=" + w.org + "&after=" + applicationCursor(version-60)
	measure("history first page (50)", 500, func() { get("/api/billing/events?orgId=" + w.org) })
	measure("history deep page (50, v9950)", 500, func() { get(deep) })
	measure("bare SQL page (50, v9950)", 500, func() {
		rows, _ := pool.Query(ctx, "SELECT position, stream_version, type, data, metadata, occurred_at, recorded_at, hash FROM billing_events WHERE stream_id = $1 AND stream_version > $2 ORDER BY stream_version LIMIT 51", w.org, version-60)
		for rows.Next() {
		}
		rows.Close()
	})
	mid := base.Add(5000 * time.Minute).Format(time.RFC3339)
	measure("status asOf (10k-event org)", 500, func() { get("/api/billing/status?orgId=" + w.org + "&asOf=" + mid) })
	known := h.ledger(w.org)[version/2].RecordedAt.Format(time.RFC3339Nano)
	measure("status knownAt (10k-event org)", 500, func() { get("/api/billing/status?orgId=" + w.org + "&knownAt=" + url.QueryEscape(known)) })
	measure("status (read model)", 500, func() { get("/api/billing/status?orgId=" + w.org) })
	measure("entitlements (committed account)", 500, func() { get("/api/billing/entitlements?orgId=" + w.org) })
	measure("entitlements asOf (10k-event org)", 500, func() { get("/api/billing/entitlements?orgId=" + w.org + "&asOf=" + mid) })
}

type benchWorld struct{ org, token string }

func newBenchWorld(b *testing.B, h *harness) benchWorld {
	u := h.user("bench@example.com")
	org, err := h.svc.CreateOrg(context.Background(), appActor(u), "Bench", u.Email)
	if err != nil {
		b.Fatal(err)
	}
	return benchWorld{org: org, token: h.session(u)}
}

// BenchmarkCheckout times POST /api/billing/checkout-session against
// stripe-mock beside a direct stripe-go call to the same stripe-mock. The
// service calls stripe-mock itself, as the direct call does, not through
// the tests' recording proxy, whose hop is no part of the service.
func BenchmarkCheckout(b *testing.B) {
	h := newHarness(b, options{paymentsBase: stripemock.URL(b)})
	w := newBenchWorld(b, h)
	var api, direct, adapter latencies
	sc := directClient(stripemock.URL(b))
	// The service's own Stripe call, as its adapter makes it (metadata,
	// client_reference_id, idempotency key): the endpoint's overhead is
	// what it spends beyond this.
	pay := stripe.NewClient(stripe.Config{SecretKey: "sk_test_mock", APIBase: stripemock.URL(b), Timeout: 2 * time.Second,
		Prices: stripe.Prices{billing.TierStarter: "price_starter", billing.TierPro: "price_pro", billing.TierEnterprise: "price_enterprise"}})
	b.ResetTimer()
	for i := range 300 {
		t0 := time.Now()
		rec := h.do("POST", "/api/billing/checkout-session", w.token, map[string]string{"orgId": w.org, "planTier": []string{"STARTER", "PRO", "ENTERPRISE"}[i%3]})
		if rec.Code != 200 {
			b.Fatal(rec.Code, rec.Body)
		}
		api.add(time.Since(t0))
		// The expiry of the session this one superseded runs after the
		// answer: let it finish, so that it does not slow the baseline.
		if err := h.svc.Drain(context.Background()); err != nil {
			b.Fatal(err)
		}
		t0 = time.Now()
		p := &stripego.CheckoutSessionParams{Mode: stripego.String("subscription"), SuccessURL: stripego.String("https://x/s"), CancelURL: stripego.String("https://x/c"),
			LineItems: []*stripego.CheckoutSessionLineItemParams{{Price: stripego.String("price_pro"), Quantity: stripego.Int64(1)}}}
		if _, err := sc.CheckoutSessions.New(p); err != nil {
			b.Fatal(err)
		}
		direct.add(time.Since(t0))
		t0 = time.Now()
		if _, err := pay.CreateCheckoutSession(context.Background(), ports.CheckoutSessionRequest{OrgID: w.org, Tier: "PRO",
			SuccessURL: "https://x/billing?checkout=success&session_id={CHECKOUT_SESSION_ID}", CancelURL: "https://x/billing?checkout=canceled",
			IdempotencyKey: fmt.Sprint("checkout-bench-", i)}); err != nil {
			b.Fatal(err)
		}
		adapter.add(time.Since(t0))
	}
	report(b, "checkout endpoint (stripe-mock)     p50 %8v  p99 %8v", api.pct(0.5).Round(time.Microsecond), api.pct(0.99).Round(time.Microsecond))
	report(b, "direct stripe-go call (stripe-mock) p50 %8v  p99 %8v", direct.pct(0.5).Round(time.Microsecond), direct.pct(0.99).Round(time.Microsecond))
	report(b, "checkout adapter's call (same params) p50 %8v  p99 %8v", adapter.pct(0.5).Round(time.Microsecond), adapter.pct(0.99).Round(time.Microsecond))
}

// directClient is stripe-go on base, as the service's client is, for the
// baseline beside an endpoint.
func directClient(base string) *client.API {
	sc := &client.API{}
	sc.Init("sk_test_direct", &stripego.Backends{API: stripego.GetBackendWithConfig(stripego.APIBackend, &stripego.BackendConfig{
		URL: stripego.String(base), LeveledLogger: &stripego.LeveledLogger{Level: stripego.LevelNull}})})
	return sc
}

// BenchmarkPlanChange times POST /api/billing/subscription/change against
// stripe-mock (moving the subscription between two tiers) beside a direct
// stripe-go update of the subscription, and the preview against the fake
// (stripe-mock does not serve the upcoming invoice) beside a direct
// upcoming-invoice call to it. As in BenchmarkCheckout, the service calls
// stripe-mock without the recording proxy.
func BenchmarkPlanChange(b *testing.B) {
	for _, kind := range []string{"change", "preview"} {
		b.Run(kind, func(b *testing.B) {
			opt := options{paymentsBase: stripemock.URL(b)}
			if kind == "preview" {
				opt.paymentsBase = "fake"
			}
			h := newHarness(b, opt)
			w := newBenchWorld(b, h)
			spec := stripe.SubscriptionSpec{OrgID: w.org, CustomerID: "cus_bench", SubscriptionID: "sub_bench", Tier: billing.TierPro}
			if rec := h.deliver(h.factory.Event("evt_bench_link", "checkout.session.completed", time.Now().Add(-time.Minute), h.factory.CheckoutSession("cs_bench", spec))); rec.Code != 200 {
				b.Fatal(rec.Code, rec.Body)
			}
			h.fake.SetSubscription(spec)
			h.fake.SetUpcomingInvoice(spec, stripe.InvoiceSpec{InvoiceID: "upcoming", Amount: 1234, Currency: "usd"})
			base := stripemock.URL(b)
			if kind == "preview" {
				base = h.fake.URL
			}
			sc := directClient(base)
			var api, direct latencies
			b.ResetTimer()
			for i := range 200 {
				tier := []string{"ENTERPRISE", "PRO"}[i%2]
				if kind == "preview" {
					tier = "ENTERPRISE" // a preview changes nothing: PRO stays in force
				}
				t0 := time.Now()
				rec := h.do("POST", "/api/billing/subscription/"+kind, w.token, map[string]string{"orgId": w.org, "planTier": tier})
				if rec.Code != 200 {
					b.Fatal(rec.Code, rec.Body)
				}
				api.add(time.Since(t0))
				t0 = time.Now()
				var err error
				if kind == "change" {
					_, err = sc.Subscriptions.Update("sub_bench", &stripego.SubscriptionParams{ProrationBehavior: stripego.String("create_prorations"),
						Items: []*stripego.SubscriptionItemsParams{{ID: stripego.String("si_bench"), Price: stripego.String("price_pro")}}})
				} else {
					_, err = sc.Invoices.Upcoming(&stripego.InvoiceUpcomingParams{Subscription: stripego.String("sub_bench")})
				}
				if err != nil {
					b.Fatal(err)
				}
				direct.add(time.Since(t0))
			}
			report(b, "%-7s endpoint                   p50 %8v  p99 %8v", kind, api.pct(0.5).Round(time.Microsecond), api.pct(0.99).Round(time.Microsecond))
			report(b, "%-7s direct stripe-go call       p50 %8v  p99 %8v", kind, direct.pct(0.5).Round(time.Microsecond), direct.pct(0.99).Round(time.Microsecond))
		})
	}
}

// BenchmarkPlans times GET /api/billing/plans (prices from the hourly
// cache) beside one direct stripe-go read of a price from stripe-mock.
func BenchmarkPlans(b *testing.B) {
	h := newHarness(b)
	w := newBenchWorld(b, h)
	sc := directClient(stripemock.URL(b))
	var api, direct latencies
	b.ResetTimer()
	for range 300 {
		t0 := time.Now()
		if rec := h.do("GET", "/api/billing/plans", w.token, nil); rec.Code != 200 {
			b.Fatal(rec.Code, rec.Body)
		}
		api.add(time.Since(t0))
		t0 = time.Now()
		if _, err := sc.Prices.Get("price_pro", nil); err != nil {
			b.Fatal(err)
		}
		direct.add(time.Since(t0))
	}
	report(b, "plans   endpoint                   p50 %8v  p99 %8v", api.pct(0.5).Round(time.Microsecond), api.pct(0.99).Round(time.Microsecond))
	report(b, "plans   direct stripe-go price read p50 %8v  p99 %8v", direct.pct(0.5).Round(time.Microsecond), direct.pct(0.99).Round(time.Microsecond))
}
