package application

import (
	"context"

	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// PlanOffer is a plan as it is offered: the catalogue's entry and, for a
// paid tier, its price.
type PlanOffer struct {
	billing.Plan
	// PriceID is the paid tier's price (STRIPE_PRICE_<TIER>); "" for FREE
	// and for a tier sold at no configured price.
	PriceID string
	// Priced says the amount, currency and interval below are known: for
	// a paid tier, once its price was read from Stripe. FREE is never
	// priced: it costs 0 in no currency.
	Priced        bool
	UnitAmount    int64 // minor units of Currency
	Currency      string
	Interval      string // "" for a one-time price
	IntervalCount int64
}

// Plans returns every tier's offer in catalogue order (FREE first). It
// does not fail when prices cannot be read: those offers are not Priced.
// Its error is the context's, when the caller is gone.
func Plans(ctx context.Context, catalogue billing.Catalogue, prices ports.PriceSource) ([]PlanOffer, error) {
	var known map[string]ports.Price
	if prices != nil {
		known = prices.Prices(ctx)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	plans := catalogue.Plans()
	out := make([]PlanOffer, len(plans))
	for i, p := range plans {
		out[i] = PlanOffer{Plan: p}
		if !p.Tier.Paid() {
			continue
		}
		price, ok := known[string(p.Tier)]
		if !ok {
			continue
		}
		out[i].PriceID = price.ID
		if price.Known {
			out[i].Priced, out[i].UnitAmount, out[i].Currency = true, price.UnitAmount, price.Currency
			out[i].Interval, out[i].IntervalCount = price.Interval, price.IntervalCount
		}
	}
	return out, nil
}

// Plans returns the service's plan offers ([Plans] over its catalogue and
// price source).
func (s *Service) Plans(ctx context.Context) ([]PlanOffer, error) {
	return Plans(ctx, s.catalogue, s.prices)
}
