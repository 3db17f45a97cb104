package stripe

import (
	"context"
	"sync"
	"time"

	stripego "github.com/stripe/stripe-go/v76"
	"go.uber.org/zap"

	"github.com/safeclose/billing/ports"
)

// Price reads one price from Stripe (GET /v1/prices/{id}). A price
// without a fixed amount per period (a tiered or a metered one) is
// returned not Known: no one amount can be shown for it.
func (c *Client) Price(ctx context.Context, id string) (ports.Price, error) {
	params := &stripego.PriceParams{}
	params.Context = ctx
	p, err := c.api.Prices.Get(id, params)
	if err != nil {
		return ports.Price{ID: id}, mapError("retrieve price", err)
	}
	out := ports.Price{ID: id}
	if p.BillingScheme == stripego.PriceBillingSchemeTiered || (p.Recurring != nil && p.Recurring.UsageType == stripego.PriceRecurringUsageTypeMetered) {
		return out, nil
	}
	out.Known, out.UnitAmount, out.Currency = true, p.UnitAmount, string(p.Currency)
	if p.Recurring != nil {
		out.Interval, out.IntervalCount = string(p.Recurring.Interval), p.Recurring.IntervalCount
	}
	return out, nil
}

// PriceReader reads one price by id; [Client.Price] is one.
type PriceReader func(ctx context.Context, id string) (ports.Price, error)

// CacheOptions tune a [PriceCache]; the zero value is the service's.
type CacheOptions struct {
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// MaxAge is how long prices read are served before they are read
	// again: 1 hour when 0.
	MaxAge time.Duration
	// RetryAfter is how long after a failed read the next is tried:
	// 1 minute when 0.
	RetryAfter time.Duration
	// FirstWait is how long a caller waits for a read under way when no
	// price is known yet (at start, or while Stripe is down), before it
	// is answered without amounts: 3 s when 0.
	FirstWait time.Duration
	// ReadTimeout bounds one read of all the prices: 15 s when 0.
	ReadTimeout time.Duration
	// Log says when a read fails (nothing when nil).
	Log *zap.Logger
}

// PriceCache serves the paid tiers' prices read from Stripe, reading them
// again at most once per MaxAge (an hour). Reads run in the background,
// one at a time, whoever asks: a caller is answered with the prices last
// read at once (a read under way will replace them), and waits for a read
// only while no price is known yet, for at most FirstWait. A price that
// cannot be read keeps its last known value, or none, and is tried again
// after RetryAfter. It is safe for concurrent use.
type PriceCache struct {
	ids  Prices
	read PriceReader
	opt  CacheOptions

	mu      sync.Mutex
	known   map[string]ports.Price // by tier: the last price read of each
	readAt  time.Time              // when the last read that read every price began
	triedAt time.Time              // when the last read began
	reading chan struct{}          // closed when the read under way ends; nil when none is
}

var _ ports.PriceSource = (*PriceCache)(nil)

// NewPriceCache returns a cache of the prices ids names, read by read.
// Tiers with no price id are left out.
func NewPriceCache(ids Prices, read PriceReader, opt CacheOptions) *PriceCache {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.MaxAge == 0 {
		opt.MaxAge = time.Hour
	}
	if opt.RetryAfter == 0 {
		opt.RetryAfter = time.Minute
	}
	if opt.FirstWait == 0 {
		opt.FirstWait = 3 * time.Second
	}
	if opt.ReadTimeout == 0 {
		opt.ReadTimeout = 15 * time.Second
	}
	if opt.Log == nil {
		opt.Log = zap.NewNop()
	}
	own := Prices{}
	for t, id := range ids {
		if id != "" {
			own[t] = id
		}
	}
	return &PriceCache{ids: own, read: read, opt: opt, known: map[string]ports.Price{}}
}

// Prices implements [ports.PriceSource].
func (c *PriceCache) Prices(ctx context.Context) map[string]ports.Price {
	c.mu.Lock()
	c.startReadIfDue()
	reading, empty := c.reading, len(c.known) == 0
	c.mu.Unlock()
	if empty && reading != nil {
		t := time.NewTimer(c.opt.FirstWait)
		defer t.Stop()
		select {
		case <-reading:
		case <-t.C:
		case <-ctx.Done():
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]ports.Price, len(c.ids))
	for t, id := range c.ids {
		if p, ok := c.known[string(t)]; ok {
			out[string(t)] = p
		} else {
			out[string(t)] = ports.Price{ID: id}
		}
	}
	return out
}

// startReadIfDue starts a read unless one is under way, every price was
// read within MaxAge, or the last read began within RetryAfter. c.mu is
// held.
func (c *PriceCache) startReadIfDue() {
	now := c.opt.Now()
	fresh := !c.readAt.IsZero() && now.Sub(c.readAt) < c.opt.MaxAge
	tried := !c.triedAt.IsZero() && now.Sub(c.triedAt) < c.opt.RetryAfter
	if c.reading != nil || fresh || tried || len(c.ids) == 0 {
		return
	}
	c.triedAt = now
	done := make(chan struct{})
	c.reading = done
	go c.readAll(now, done)
}

// readAll reads every price at once, keeps those it could read, and marks
// the cache fresh when it read them all.
func (c *PriceCache) readAll(began time.Time, done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), c.opt.ReadTimeout)
	defer cancel()
	type result struct {
		tier  string
		price ports.Price
		err   error
	}
	results := make(chan result, len(c.ids))
	for t, id := range c.ids {
		go func() {
			p, err := c.read(ctx, id)
			results <- result{string(t), p, err}
		}()
	}
	read := map[string]ports.Price{}
	failed := false
	for range c.ids {
		r := <-results
		if r.err != nil {
			failed = true
			c.opt.Log.Warn("read a plan's price from Stripe: the last known price is served, or none", zap.String("tier", r.tier), zap.Error(r.err))
			continue
		}
		read[r.tier] = r.price
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for t, p := range read {
		c.known[t] = p
	}
	if !failed {
		c.readAt = began
	}
	c.reading = nil
	close(done)
}
