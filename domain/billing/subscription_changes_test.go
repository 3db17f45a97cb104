package billing

import (
	"bytes"
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

// TestItemID: the current subscription's item is the one the newest fact
// naming an item said, in any order; facts that name none leave it, and
// two facts of one second that disagree make it unknown without asking
// for a sync.
func TestItemID(t *testing.T) {
	item := func(c SubscriptionRefreshed, id string) SubscriptionRefreshed { c.ItemID = id; return c }
	withItem := func(a SubscriptionAnswer, id string) SubscriptionAnswer { a.ItemID = id; return a }
	live := refreshed(StatusActive, TierPro, 1000, false)
	tests := []struct {
		name  string
		given []Event
		want  string
	}{
		{"linked by its checkout alone: unknown", []Event{ev(activated(TierPro), 10)}, ""},
		{"a subscription update names it", []Event{ev(activated(TierPro), 10), ev(item(live, "si_1"), 20)}, "si_1"},
		{"the newest fact wins, whatever the order", []Event{ev(item(live, "si_2"), 30), ev(activated(TierPro), 10), ev(item(live, "si_1"), 20)}, "si_2"},
		{"a fact naming no item leaves it", []Event{ev(item(live, "si_1"), 20), ev(live, 30), ev(paid("sub_1"), 40), ev(failed(), 50)}, "si_1"},
		{"a sync names it", []Event{ev(activated(TierPro), 10),
			ev(SubscriptionSynced{SubscriptionObject: SubscriptionObject{CustomerID: "cus_1", SubscriptionID: "sub_1", Status: StatusActive, Tier: TierPro, ItemID: "si_3"}, Reason: SyncReasonReconcile}, 20)}, "si_3"},
		{"a change's answer names it", []Event{ev(activated(TierPro), 10),
			ev(PlanChangeRequested{SubscriptionAnswer: withItem(answer(TierEnterprise, false), "si_4"), FromTier: TierPro}, 20)}, "si_4"},
		{"two items in one second: unknown", []Event{ev(activated(TierPro), 10), ev(item(live, "si_1"), 20), ev(item(live, "si_2"), 20)}, ""},
		{"a newer fact settles them", []Event{ev(item(live, "si_1"), 20), ev(item(live, "si_2"), 20), ev(item(live, "si_2"), 21)}, "si_2"},
		{"another subscription's item is not the current one's", []Event{ev(activated(TierPro), 10), ev(item(live, "si_1"), 20),
			ev(SubscriptionRefreshed{CustomerID: "cus_1", SubscriptionID: "sub_2", Status: StatusActive, Tier: TierStarter, ItemID: "si_9"}, 30)}, "si_1"},
		{"the newer checkout's subscription has none yet", []Event{ev(item(live, "si_1"), 20), ev(activated2("cus_1", TierStarter), 30)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Fold("org_1", tt.given)
			if got := a.ItemID(); got != tt.want {
				t.Errorf("ItemID = %q, want %q", got, tt.want)
			}
			if id, ok := a.NeedsSync(); ok {
				t.Errorf("NeedsSync = %s: an item asks for none", id)
			}
			rng := rand.New(rand.NewSource(1))
			for range 50 {
				shuffled := append([]Event(nil), tt.given...)
				rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
				if b := Fold("org_1", shuffled); !reflect.DeepEqual(b.state, a.state) {
					t.Fatalf("order %v folds to another state", shuffled)
				}
			}
			data, err := a.MarshalSnapshot()
			if err != nil {
				t.Fatal(err)
			}
			if b, err := RestoreAccount(data); err != nil || b.ItemID() != tt.want {
				t.Errorf("restored ItemID = %q (%v), want %q", b.ItemID(), err, tt.want)
			}
		})
	}
}

// TestItemIDKeepsOldEventsAsEncoded: a fact without an item encodes as
// before the item was recorded (no itemId key), so existing ledgers keep
// their bytes and hashes.
func TestItemIDKeepsOldEventsAsEncoded(t *testing.T) {
	for _, c := range []Change{refreshed(StatusActive, TierPro, 100, false),
		SubscriptionSynced{SubscriptionObject: SubscriptionObject{CustomerID: "cus_1", SubscriptionID: "sub_1", Status: StatusActive}, Reason: SyncReasonReconcile},
		PlanChangeRequested{SubscriptionAnswer: answer(TierEnterprise, false), FromTier: TierPro}} {
		data, err := EncodeChange(c)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte("itemId")) {
			t.Errorf("%s without an item encodes %s", c.EventType(), data)
		}
	}
}
