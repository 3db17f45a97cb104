package billing

import (
	"math/rand"
	"reflect"
	"testing"
	"time"
)

// FuzzFoldIsOrderIndependent: any set of Stripe facts folds to the same
// state in any order.
func FuzzFoldIsOrderIndependent(f *testing.F) {
	f.Add(int64(1), uint8(6))
	f.Add(int64(42), uint8(12))
	f.Fuzz(func(t *testing.T, seed int64, n uint8) {
		rng := rand.New(rand.NewSource(seed))
		statuses := []Status{StatusActive, StatusPastDue, StatusCanceled, StatusTrialing, StatusUnpaid}
		var events []Event
		for range int(n % 24) {
			at := t0.Add(time.Duration(rng.Intn(6)) * time.Second) // many ties
			sub := []string{"sub_1", "sub_2"}[rng.Intn(2)]
			var c Change
			switch rng.Intn(5) {
			case 0:
				c = PlanActivated{CheckoutSessionID: "cs", CustomerID: "cus_1", SubscriptionID: sub, Tier: PaidTiers[rng.Intn(3)]}
			case 1:
				c = SubscriptionRefreshed{CustomerID: "cus_1", SubscriptionID: sub, Status: statuses[rng.Intn(len(statuses))],
					Tier: PaidTiers[rng.Intn(3)], CurrentPeriodEnd: at.Add(time.Hour * time.Duration(rng.Intn(3))), CancelAtPeriodEnd: rng.Intn(2) == 0}
			case 2:
				c = SubscriptionCanceled{CustomerID: "cus_1", SubscriptionID: sub, CurrentPeriodEnd: at}
			case 3:
				c = PaymentSucceeded{Invoice{InvoiceID: "in", CustomerID: "cus_1", SubscriptionID: sub}}
			default:
				c = PaymentFailed{Invoice{InvoiceID: "in", CustomerID: "cus_1", SubscriptionID: sub}}
			}
			events = append(events, Event{Change: c, OccurredAt: at})
		}
		want := Fold("org", events)
		rng.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
		got := Fold("org", events)
		if !reflect.DeepEqual(got.state, want.state) {
			t.Fatalf("order changed the state:\n%+v\n%+v", got.state, want.state)
		}
		if _, a := got.NeedsSync(); func() bool { _, b := want.NeedsSync(); return a != b }() {
			t.Fatal("order changed whether a sync is needed")
		}
	})
}
