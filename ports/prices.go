package ports

import "context"

// Price is a paid tier's price as the payment provider sells it.
type Price struct {
	// ID is the provider's price id (STRIPE_PRICE_<TIER>); always set.
	ID string
	// Known says the fields below were read from the provider. A price
	// that could not be read (the provider unreachable, the price
	// missing, or one without a unit amount, such as a tiered price) is
	// not known.
	Known         bool
	UnitAmount    int64  // in the currency's minor units
	Currency      string // ISO 4217, lower case, as Stripe writes it
	Interval      string // day, week, month or year; "" for a one-time price
	IntervalCount int64  // intervals between charges (3 for "every 3 months")
}

// PriceSource tells what the paid tiers cost. Implementations are safe for
// concurrent use.
type PriceSource interface {
	// Prices returns the price of every paid tier it sells, by tier
	// (STARTER, PRO, ENTERPRISE). It never fails: a price it cannot read
	// now is returned with its ID alone, and the caller says the price is
	// unavailable.
	Prices(ctx context.Context) map[string]Price
}
