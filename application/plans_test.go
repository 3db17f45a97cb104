package application_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/safeclose/billing/application"
	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

type fixedPrices map[string]ports.Price

func (f fixedPrices) Prices(context.Context) map[string]ports.Price { return f }

func TestPlansCombineTheCatalogueAndPrices(t *testing.T) {
	t.Parallel()
	cat, err := billing.BuiltInCatalogue().With(billing.Plan{Tier: billing.TierPro, Name: "Pro", Limits: map[string]int64{"members": 25}, TrialDays: 14})
	if err != nil {
		t.Fatal(err)
	}
	prices := fixedPrices{
		"STARTER": {ID: "price_s", Known: true, UnitAmount: 1900, Currency: "usd", Interval: "month", IntervalCount: 1},
		"PRO":     {ID: "price_p"}, // not read
		// ENTERPRISE: no price configured
		"FREE": {ID: "price_free", Known: true, UnitAmount: 100, Currency: "usd"}, // never used: FREE is not sold
	}
	offers, err := application.Plans(context.Background(), cat, prices)
	if err != nil {
		t.Fatal(err)
	}
	pro, _ := cat.Plan(billing.TierPro)
	free, _ := cat.Plan(billing.TierFree)
	starter, _ := cat.Plan(billing.TierStarter)
	enterprise, _ := cat.Plan(billing.TierEnterprise)
	want := []application.PlanOffer{
		{Plan: free},
		{Plan: starter, PriceID: "price_s", Priced: true, UnitAmount: 1900, Currency: "usd", Interval: "month", IntervalCount: 1},
		{Plan: pro, PriceID: "price_p"},
		{Plan: enterprise},
	}
	if !reflect.DeepEqual(offers, want) {
		t.Errorf("offers:\n got %+v\nwant %+v", offers, want)
	}

	// Without a price source every paid tier is unpriced.
	offers, err = application.Plans(context.Background(), cat, nil)
	if err != nil || len(offers) != 4 {
		t.Fatalf("%v %v", offers, err)
	}
	for _, o := range offers {
		if o.Priced || o.PriceID != "" {
			t.Errorf("%s priced without prices: %+v", o.Tier, o)
		}
	}
	// A caller who is gone gets the context's error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := application.Plans(ctx, cat, prices); err == nil {
		t.Error("no error for a canceled context")
	}
}

func TestServicePlansDefaultToTheBuiltInCatalogue(t *testing.T) {
	t.Parallel()
	svc := application.NewService(application.Deps{})
	offers, err := svc.Plans(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []billing.Plan
	for _, o := range offers {
		got = append(got, o.Plan)
	}
	if !reflect.DeepEqual(got, billing.BuiltInCatalogue().Plans()) {
		t.Errorf("plans %+v", got)
	}
}
