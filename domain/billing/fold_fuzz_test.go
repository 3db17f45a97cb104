package billing

import (
	"math/rand"
	"reflect"
	"testing"
	"time"
)

// FuzzFoldIsOrderIndependent: any set of Stripe facts, about several
// subscriptions of one organization, folds to the same state in any order.
func FuzzFoldIsOrderIndependent(f *testing.F) {
	f.Add(int64(1), uint8(6))
	f.Add(int64(42), uint8(12))
	f.Fuzz(func(t *testing.T, seed int64, n uint8) {
		rng := rand.New(rand.NewSource(seed))
		statuses := []Status{StatusActive, StatusPastDue, StatusCanceled, StatusTrialing, StatusUnpaid}
		var events []Event
		for range int(n % 24) {
			at := t0.Add(time.Duration(rng.Intn(6)) * time.Second) // many ties
			// Three subscriptions, the third on a second customer: a
			// re-subscription, a second checkout, and late facts of the
			// replaced ones.
			i := rng.Intn(3)
			item := []string{"", "si_a", "si_b"}[rng.Intn(3)] // the subscription's item, when the fact names it
			sub, cus, cs := []string{"sub_1", "sub_2", "sub_3"}[i], []string{"cus_1", "cus_1", "cus_2"}[i], []string{"cs_1", "cs_2", "cs_3"}[i]
			var c Change
			switch rng.Intn(16) {
			case 0:
				c = PlanActivated{CheckoutSessionID: cs, CustomerID: cus, SubscriptionID: sub, Tier: PaidTiers()[rng.Intn(3)],
					PaymentStatus: []string{"", PaymentStatusPaid, PaymentStatusUnpaid, PaymentStatusNoPaymentRequired}[rng.Intn(4)]}
			case 1:
				c = SubscriptionRefreshed{CustomerID: cus, SubscriptionID: sub, Status: statuses[rng.Intn(len(statuses))],
					Tier: PaidTiers()[rng.Intn(3)], CurrentPeriodEnd: at.Add(time.Hour * time.Duration(rng.Intn(3))), CancelAtPeriodEnd: rng.Intn(2) == 0, ItemID: item}
			case 2:
				c = SubscriptionCanceled{CustomerID: cus, SubscriptionID: sub, CurrentPeriodEnd: at}
			case 3:
				c = PaymentSucceeded{Invoice{InvoiceID: "in", CustomerID: cus, SubscriptionID: sub}}
			case 4:
				c = SubscriptionSynced{SubscriptionObject: SubscriptionObject{CustomerID: cus, SubscriptionID: sub, Status: statuses[rng.Intn(len(statuses))], Tier: PaidTiers()[rng.Intn(3)], ItemID: item}, Reason: SyncReasonReconcile, Current: rng.Intn(2) == 0}
			case 5:
				c = CheckoutStarted{Tier: PaidTiers()[rng.Intn(3)], CheckoutSessionID: cs}
			case 6:
				// A change made in the app, as Stripe answered it.
				c = PlanChangeRequested{SubscriptionAnswer: SubscriptionAnswer{CustomerID: cus, SubscriptionID: sub,
					Tier: PaidTiers()[rng.Intn(3)], Status: statuses[rng.Intn(len(statuses))], ItemID: item}, FromTier: PaidTiers()[rng.Intn(3)]}
			case 7:
				c = CancellationRequested{SubscriptionAnswer: SubscriptionAnswer{CustomerID: cus, SubscriptionID: sub,
					Tier: PaidTiers()[rng.Intn(3)], CancelAtPeriodEnd: rng.Intn(2) == 0}}
			case 9, 10, 11:
				o := SubscriptionObject{CustomerID: cus, SubscriptionID: sub, Status: statuses[rng.Intn(len(statuses))],
					Tier: PaidTiers()[rng.Intn(3)], CurrentPeriodEnd: at.Add(time.Hour)}
				if rng.Intn(2) == 0 {
					o.TrialEnd = at.Add(time.Hour * time.Duration(rng.Intn(3)))
				}
				c = []Change{TrialWillEnd{o}, SubscriptionPaused{o}, SubscriptionResumed{o}}[rng.Intn(3)]
			case 12:
				c = PaymentActionRequired{Invoice{InvoiceID: "in", CustomerID: cus, SubscriptionID: sub, HostedInvoiceURL: "https://i/" + sub + at.String()}}
			case 13:
				c = CheckoutExpired{CheckoutSessionID: cs}
			case 14:
				p := CheckoutPayment{CheckoutSessionID: cs, CustomerID: cus, SubscriptionID: sub, Tier: PaidTiers()[rng.Intn(3)]}
				c = []Change{AsyncPaymentSucceeded{p}, AsyncPaymentFailed{p}}[rng.Intn(2)]
			default:
				c = PaymentFailed{Invoice{InvoiceID: "in", CustomerID: cus, SubscriptionID: sub}}
			}
			events = append(events, Event{Change: c, OccurredAt: at})
		}
		want := Fold("org", events)
		rng.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
		got := Fold("org", events)
		if !reflect.DeepEqual(got.state, want.state) {
			t.Fatalf("order changed the state:\n%+v\n%+v", got.state, want.state)
		}
		if viewOf(got) != viewOf(want) || got.ItemID() != want.ItemID() || !got.lastFactAt.Equal(want.lastFactAt) {
			t.Fatalf("order changed the view: %+v, want %+v", viewOf(got), viewOf(want))
		}
		if got.TrialUsed() != want.TrialUsed() || !got.UnpaidSince().Equal(want.UnpaidSince()) || !got.TrialEnd().Equal(want.TrialEnd()) ||
			got.PaymentActionURL() != want.PaymentActionURL() {
			t.Fatal("order changed the trial, the unpaid period or the payment action")
		}
		for id, c := range want.checkouts {
			if got.checkout(id).Completed != c.Completed || got.checkout(id).Expired != c.Expired {
				t.Fatalf("order changed whether checkout %s completed", id)
			}
		}
		if _, a := got.NeedsSync(); func() bool { _, b := want.NeedsSync(); return a != b }() {
			t.Fatal("order changed whether a sync is needed")
		}
	})
}
