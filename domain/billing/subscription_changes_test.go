package billing

import (
	"errors"
	"math/rand"
	"reflect"
	"testing"
)

func answer(tier Tier, cancel bool) SubscriptionAnswer {
	return SubscriptionAnswer{CustomerID: "cus_1", SubscriptionID: "sub_1", Tier: tier, PriceID: "price_" + string(tier),
		Status: StatusActive, CurrentPeriodEnd: at(1000), CancelAtPeriodEnd: cancel}
}

func TestChangesMadeInTheApp(t *testing.T) {
	live := []Event{ev(activated(TierPro), 10)}
	tests := []struct {
		name    string
		given   []Event
		change  Change
		wantErr error
		want    view
	}{
		{"a plan change applies the new tier at once", live,
			PlanChangeRequested{SubscriptionAnswer: answer(TierEnterprise, false), FromTier: TierPro}, nil,
			view{TierEnterprise, StatusActive, "cus_1", "sub_1", at(1000), false}},
		{"the tier in force is refused", live,
			PlanChangeRequested{SubscriptionAnswer: answer(TierPro, false), FromTier: TierPro}, ErrSamePlan, view{}},
		{"FREE is not a plan to change to", live,
			PlanChangeRequested{SubscriptionAnswer: answer(TierFree, false)}, ErrInvalidTier, view{}},
		{"without a subscription: use checkout", nil,
			PlanChangeRequested{SubscriptionAnswer: answer(TierEnterprise, false)}, ErrNoSubscription, view{}},
		{"after cancellation: use checkout", append(live, ev(canceled(100), 20)),
			CancellationRequested{SubscriptionAnswer: answer(TierPro, true)}, ErrNoSubscription, view{}},
		{"cancel at period end", live,
			CancellationRequested{SubscriptionAnswer: answer(TierPro, true)}, nil,
			view{TierPro, StatusActive, "cus_1", "sub_1", at(1000), true}},
		{"resume", append(live, ev(refreshed(StatusActive, TierPro, 1000, true), 20)),
			CancellationWithdrawn{SubscriptionAnswer: answer(TierPro, false)}, nil,
			view{TierPro, StatusActive, "cus_1", "sub_1", at(1000), false}},
		{"an answer that did not show the change keeps status and period", append(live, ev(refreshed(StatusPastDue, TierPro, 900, false), 20)),
			PlanChangeRequested{SubscriptionAnswer: SubscriptionAnswer{CustomerID: "cus_1", SubscriptionID: "sub_1", Tier: TierStarter}, FromTier: TierPro}, nil,
			view{TierStarter, StatusPastDue, "cus_1", "sub_1", at(900), false}},
		{"a change of another subscription than the current one is refused", live,
			CancellationRequested{SubscriptionAnswer: SubscriptionAnswer{CustomerID: "cus_1", SubscriptionID: "sub_9", Tier: TierPro}}, ErrInvalidFact, view{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Fold("org_1", tt.given)
			e, err := a.RecordSubscriptionAnswer(tt.change, a.ReadAt(at(30)))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			a.Apply(e)
			if got := viewOf(a); got != tt.want {
				t.Errorf("state %+v, want %+v", got, tt.want)
			}
		})
	}
}

// The webhooks that follow a change made in the app change nothing
// further, in any order relative to it.
func TestAChangeAndItsWebhooksFoldAlikeInAnyOrder(t *testing.T) {
	events := []Event{
		ev(activated(TierPro), 10),
		ev(PlanChangeRequested{SubscriptionAnswer: answer(TierEnterprise, false), FromTier: TierPro}, 31), // ReadAt: a second after the newest fact
		ev(refreshed(StatusActive, TierEnterprise, 1000, false), 30),                                      // Stripe's customer.subscription.updated
		ev(paid("sub_1"), 30), // the proration invoice
		ev(CancellationRequested{SubscriptionAnswer: answer(TierEnterprise, true)}, 41),
		ev(refreshed(StatusActive, TierEnterprise, 1000, true), 40),
	}
	want := Fold("org_1", events)
	if v := viewOf(want); v != (view{TierEnterprise, StatusActive, "cus_1", "sub_1", at(1000), true}) {
		t.Fatalf("in order: %+v", v)
	}
	rng := rand.New(rand.NewSource(7))
	for range 200 {
		shuffled := append([]Event(nil), events...)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if got := Fold("org_1", shuffled); !reflect.DeepEqual(got.state, want.state) {
			t.Fatalf("order %v folds to %+v, want %+v", shuffled, viewOf(got), viewOf(want))
		}
	}
}
