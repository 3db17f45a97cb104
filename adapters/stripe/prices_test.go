package stripe_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safeclose/billing/adapters/memory"
	"github.com/safeclose/billing/adapters/stripe"
	"github.com/safeclose/billing/adapters/stripe/stripemock"
	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

func TestPriceIsReadFromStripe(t *testing.T) {
	c := stripe.NewClient(stripe.Config{SecretKey: "sk_test_x", APIBase: stripemock.URL(t), Timeout: 5 * time.Second})
	p, err := c.Price(context.Background(), "price_pro")
	if err != nil {
		t.Fatal(err)
	}
	// stripe-mock's price: 20.00 USD a month.
	want := ports.Price{ID: "price_pro", Known: true, UnitAmount: 2000, Currency: "usd", Interval: "month", IntervalCount: 1}
	if p != want {
		t.Errorf("price %+v, want %+v", p, want)
	}
}

func TestPricesWithoutOneAmountOrStripeAreUnknown(t *testing.T) {
	body := map[string]string{
		"/v1/prices/price_tiered":  `{"id":"price_tiered","object":"price","billing_scheme":"tiered","currency":"usd","recurring":{"interval":"month","interval_count":1,"usage_type":"licensed"},"unit_amount":null}`,
		"/v1/prices/price_metered": `{"id":"price_metered","object":"price","billing_scheme":"per_unit","currency":"usd","recurring":{"interval":"month","interval_count":1,"usage_type":"metered"},"unit_amount":5}`,
		"/v1/prices/price_once":    `{"id":"price_once","object":"price","billing_scheme":"per_unit","currency":"jpy","recurring":null,"type":"one_time","unit_amount":4900}`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := body[r.URL.Path]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			b = `{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such price"}}`
		}
		_, _ = w.Write([]byte(b))
	}))
	defer srv.Close()
	c := stripe.NewClient(stripe.Config{SecretKey: "sk_test_x", APIBase: srv.URL, Timeout: 5 * time.Second})
	ctx := context.Background()
	for _, id := range []string{"price_tiered", "price_metered"} {
		if p, err := c.Price(ctx, id); err != nil || p != (ports.Price{ID: id}) {
			t.Errorf("%s: %+v %v; want it not known", id, p, err)
		}
	}
	if p, err := c.Price(ctx, "price_once"); err != nil || p != (ports.Price{ID: "price_once", Known: true, UnitAmount: 4900, Currency: "jpy"}) {
		t.Errorf("one-time price: %+v %v", p, err)
	}
	if _, err := c.Price(ctx, "price_gone"); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("missing price: %v", err)
	}
	dead := stripe.NewClient(stripe.Config{SecretKey: "sk_test_x", APIBase: "http://127.0.0.1:1", Timeout: 2 * time.Second})
	if _, err := dead.Price(ctx, "price_pro"); !errors.Is(err, ports.ErrProviderUnavailable) {
		t.Errorf("Stripe down: %v", err)
	}
}

// fakePrices is a PriceReader whose answers a test sets; every read is
// counted, and a read may be held until the test lets it go.
type fakePrices struct {
	mu    sync.Mutex
	amt   int64
	fail  map[string]bool
	reads atomic.Int64
	hold  chan struct{} // when not nil, reads wait for it to close
}

func (f *fakePrices) read(ctx context.Context, id string) (ports.Price, error) {
	f.reads.Add(1)
	f.mu.Lock()
	hold, amt, fail := f.hold, f.amt, f.fail[id]
	f.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return ports.Price{ID: id}, ctx.Err()
		}
	}
	if fail {
		return ports.Price{ID: id}, ports.ErrProviderUnavailable
	}
	return ports.Price{ID: id, Known: true, UnitAmount: amt, Currency: "usd", Interval: "month", IntervalCount: 1}, nil
}

func (f *fakePrices) set(amt int64, fail ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.amt, f.fail = amt, map[string]bool{}
	for _, id := range fail {
		f.fail[id] = true
	}
}

func (f *fakePrices) holdReads() func() {
	ch := make(chan struct{})
	f.mu.Lock()
	f.hold = ch
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		f.hold = nil
		f.mu.Unlock()
		close(ch)
	}
}

func ids() stripe.Prices {
	return stripe.Prices{billing.TierStarter: "price_s", billing.TierPro: "price_p", billing.TierEnterprise: "price_e"}
}

func amounts(prices map[string]ports.Price) map[string]int64 {
	out := map[string]int64{}
	for t, p := range prices {
		if p.Known {
			out[t] = p.UnitAmount
		} else {
			out[t] = -1
		}
	}
	return out
}

// eventually waits until cond holds.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition never held")
		}
	}
}

func TestPriceCacheReadsAtMostHourly(t *testing.T) {
	start := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	clock := memory.NewClock(start)
	f := &fakePrices{}
	f.set(1900)
	cache := stripe.NewPriceCache(ids(), f.read, stripe.CacheOptions{Now: clock.Now})
	ctx := context.Background()

	// Nothing known yet: the first caller waits for the read.
	got := cache.Prices(ctx)
	if len(got) != 3 || got["PRO"] != (ports.Price{ID: "price_p", Known: true, UnitAmount: 1900, Currency: "usd", Interval: "month", IntervalCount: 1}) {
		t.Fatalf("first prices: %+v", got)
	}
	if n := f.reads.Load(); n != 3 {
		t.Fatalf("%d reads, want one per tier", n)
	}
	// Within the hour: no read, whoever asks.
	f.set(2900)
	clock.Set(start.Add(59 * time.Minute))
	for range 10 {
		if a := amounts(cache.Prices(ctx)); a["PRO"] != 1900 {
			t.Fatalf("prices within the hour: %v", a)
		}
	}
	if n := f.reads.Load(); n != 3 {
		t.Fatalf("%d reads within the hour", n)
	}
	// An hour on: the caller is answered with the old prices at once while
	// a read runs; the next caller gets the new ones.
	release := f.holdReads()
	clock.Set(start.Add(61 * time.Minute))
	if a := amounts(cache.Prices(ctx)); a["PRO"] != 1900 {
		t.Fatalf("stale prices while reading: %v", a)
	}
	eventually(t, func() bool { return f.reads.Load() == 6 })
	if a := amounts(cache.Prices(ctx)); a["PRO"] != 1900 || f.reads.Load() != 6 {
		t.Fatalf("a second read started while one was under way (%d reads), or prices changed early: %v", f.reads.Load(), a)
	}
	release()
	eventually(t, func() bool { return amounts(cache.Prices(ctx))["PRO"] == 2900 })
	if n := f.reads.Load(); n != 6 {
		t.Errorf("%d reads, want 6", n)
	}
}

func TestPriceCacheKeepsTheLastKnownPricesWhenStripeFails(t *testing.T) {
	start := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	clock := memory.NewClock(start)
	f := &fakePrices{}
	f.set(1900)
	cache := stripe.NewPriceCache(ids(), f.read, stripe.CacheOptions{Now: clock.Now})
	ctx := context.Background()
	cache.Prices(ctx)

	// Stripe down an hour later: the read fails, the old prices stay.
	f.set(2900, "price_s", "price_p", "price_e")
	clock.Set(start.Add(2 * time.Hour))
	cache.Prices(ctx)
	eventually(t, func() bool { return f.reads.Load() == 6 })
	for range 5 {
		if a := amounts(cache.Prices(ctx)); a["STARTER"] != 1900 || a["PRO"] != 1900 || a["ENTERPRISE"] != 1900 {
			t.Fatalf("after a failed read: %v", a)
		}
	}
	// Tried again a minute after the failure, not before; a price read
	// replaces its old one, a price that failed keeps it.
	f.set(2900, "price_e")
	clock.Set(start.Add(2*time.Hour + 30*time.Second))
	cache.Prices(ctx)
	if n := f.reads.Load(); n != 6 {
		t.Fatalf("tried again within a minute of a failure: %d reads", n)
	}
	clock.Set(start.Add(2*time.Hour + 61*time.Second))
	cache.Prices(ctx)
	eventually(t, func() bool { return amounts(cache.Prices(ctx))["PRO"] == 2900 })
	if a := amounts(cache.Prices(ctx)); a["STARTER"] != 2900 || a["ENTERPRISE"] != 1900 {
		t.Errorf("after a partial read: %v", a)
	}
	// Not every price was read, so the next minute tries again.
	clock.Set(start.Add(2*time.Hour + 2*time.Minute + 2*time.Second))
	f.set(3900)
	cache.Prices(ctx)
	eventually(t, func() bool { return amounts(cache.Prices(ctx))["ENTERPRISE"] == 3900 })
}

func TestPriceCacheWithStripeDownFromTheStart(t *testing.T) {
	clock := memory.NewClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	f := &fakePrices{}
	f.set(1900, "price_s", "price_p", "price_e")
	cache := stripe.NewPriceCache(ids(), f.read, stripe.CacheOptions{Now: clock.Now})
	got := cache.Prices(context.Background())
	want := map[string]ports.Price{"STARTER": {ID: "price_s"}, "PRO": {ID: "price_p"}, "ENTERPRISE": {ID: "price_e"}}
	if len(got) != 3 || got["STARTER"] != want["STARTER"] || got["PRO"] != want["PRO"] || got["ENTERPRISE"] != want["ENTERPRISE"] {
		t.Errorf("prices with Stripe down: %+v", got)
	}
}

func TestPriceCacheWaitsBoundedForAHangingStripe(t *testing.T) {
	f := &fakePrices{}
	f.set(1900)
	release := f.holdReads()
	defer release()
	cache := stripe.NewPriceCache(ids(), f.read, stripe.CacheOptions{FirstWait: 50 * time.Millisecond})
	began := time.Now()
	got := cache.Prices(context.Background())
	if took := time.Since(began); took > 2*time.Second || got["PRO"].Known || got["PRO"].ID != "price_p" {
		t.Errorf("after %v: %+v", took, got)
	}
	// A caller whose request ends is let go too.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cache = stripe.NewPriceCache(ids(), f.read, stripe.CacheOptions{FirstWait: time.Hour})
	if got := cache.Prices(ctx); got["PRO"].Known {
		t.Errorf("%+v", got)
	}
}

func TestPriceCacheReadsOnceForConcurrentCallers(t *testing.T) {
	f := &fakePrices{}
	f.set(1900)
	release := f.holdReads()
	cache := stripe.NewPriceCache(ids(), f.read, stripe.CacheOptions{})
	var wg sync.WaitGroup
	results := make(chan map[string]ports.Price, 20)
	for range 20 {
		wg.Go(func() { results <- cache.Prices(context.Background()) })
	}
	eventually(t, func() bool { return f.reads.Load() == 3 })
	release()
	wg.Wait()
	close(results)
	for got := range results {
		if a := amounts(got); a["PRO"] != 1900 {
			t.Errorf("a concurrent caller got %v", a)
		}
	}
	if n := f.reads.Load(); n != 3 {
		t.Errorf("%d reads for 20 concurrent callers, want 3", n)
	}
}

func TestPriceCacheLeavesOutTiersWithoutAPrice(t *testing.T) {
	f := &fakePrices{}
	f.set(1900)
	cache := stripe.NewPriceCache(stripe.Prices{billing.TierPro: "price_p", billing.TierStarter: ""}, f.read, stripe.CacheOptions{})
	if got := cache.Prices(context.Background()); len(got) != 1 || !got["PRO"].Known {
		t.Errorf("%+v", got)
	}
	if got := stripe.NewPriceCache(nil, f.read, stripe.CacheOptions{}).Prices(context.Background()); len(got) != 0 {
		t.Errorf("no prices configured: %+v", got)
	}
}
