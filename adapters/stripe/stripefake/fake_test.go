package stripefake_test

import (
	"context"
	"testing"
	"time"

	"github.com/safeclose/billing/adapters/stripe"
	"github.com/safeclose/billing/adapters/stripe/stripefake"
	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// The fake applies the service's writes to the subscription it holds, so a
// test can follow a plan change or a cancellation end to end.
func TestUpdateAppliesPriceAndCancellation(t *testing.T) {
	prices := stripe.Prices{billing.TierStarter: "price_starter", billing.TierPro: "price_pro", billing.TierEnterprise: "price_enterprise"}
	factory, err := stripe.NewFactory(prices)
	if err != nil {
		t.Fatal(err)
	}
	fake := stripefake.New(factory)
	defer fake.Close()
	fake.SetSubscription(stripe.SubscriptionSpec{OrgID: "org_1", CustomerID: "cus_1", SubscriptionID: "sub_1", Tier: billing.TierPro, CurrentPeriodEnd: time.Now().AddDate(0, 1, 0)})
	c := stripe.NewClient(stripe.Config{SecretKey: "sk_test_fake", APIBase: fake.URL, Prices: prices, Timeout: 2 * time.Second})
	ctx := context.Background()

	s, err := c.ChangePrice(ctx, ports.PriceChange{SubscriptionID: "sub_1", Tier: "ENTERPRISE", ProrationDate: time.Now(), IdempotencyKey: "k1"})
	if err != nil || s.Tier != "ENTERPRISE" || s.PriceID != "price_enterprise" {
		t.Fatalf("change: %+v, %v", s, err)
	}
	if s, err = c.SetCancelAtPeriodEnd(ctx, "sub_1", true, "k2"); err != nil || !s.CancelAtPeriodEnd || s.Tier != "ENTERPRISE" {
		t.Fatalf("cancel: %+v, %v", s, err)
	}
	if s, err = c.SetCancelAtPeriodEnd(ctx, "sub_1", false, "k3"); err != nil || s.CancelAtPeriodEnd {
		t.Fatalf("resume: %+v, %v", s, err)
	}
	if _, err := c.SetCancelAtPeriodEnd(ctx, "sub_nope", true, "k4"); err == nil {
		t.Error("an unknown subscription was updated")
	}
}
