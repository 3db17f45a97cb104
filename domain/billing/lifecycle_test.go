package billing

import (
	"math/rand"
	"reflect"
	"slices"
	"testing"
	"time"
)

func trialing(trialEnd int) SubscriptionRefreshed {
	r := refreshed(StatusTrialing, TierPro, trialEnd, false)
	r.TrialEnd = at(trialEnd)
	return r
}

func object(st Status, trialEnd int) SubscriptionObject {
	o := SubscriptionObject{CustomerID: "cus_1", SubscriptionID: "sub_1", Status: st, Tier: TierPro, CurrentPeriodEnd: at(5000)}
	if trialEnd > 0 {
		o.TrialEnd = at(trialEnd)
	}
	return o
}

func actionRequired(url string) PaymentActionRequired {
	return PaymentActionRequired{Invoice{InvoiceID: "in_9", CustomerID: "cus_1", SubscriptionID: "sub_1", AmountDue: 2000, Currency: "eur", HostedInvoiceURL: url}}
}

func checkoutPaid(status string) PlanActivated {
	a := activated(TierPro)
	a.PaymentStatus = status
	return a
}

func payment() CheckoutPayment {
	return CheckoutPayment{CheckoutSessionID: "cs_1", CustomerID: "cus_1", SubscriptionID: "sub_1", Tier: TierPro}
}

// lifecycleView is what the lifecycle adds to the status.
type lifecycleView struct {
	Status      Status
	TrialEnd    time.Time
	TrialUsed   bool
	ActionURL   string
	UnpaidSince time.Time
	Sync        bool
}

func lifecycleOf(a *Account) lifecycleView {
	_, sync := a.NeedsSync()
	return lifecycleView{a.Status(), a.TrialEnd(), a.TrialUsed(), a.PaymentActionURL(), a.UnpaidSince(), sync}
}

func TestLifecycleFold(t *testing.T) {
	tests := []struct {
		name  string
		given []Event
		want  lifecycleView
	}{
		{"a trial shows its end",
			[]Event{ev(checkoutPaid(PaymentStatusNoPaymentRequired), 10), ev(trialing(1000), 11)},
			lifecycleView{Status: StatusTrialing, TrialEnd: at(1000), TrialUsed: true}},
		{"a trial checkout alone shows trialing until the subscription's facts arrive",
			[]Event{ev(checkoutPaid(PaymentStatusNoPaymentRequired), 10)},
			lifecycleView{Status: StatusTrialing, TrialUsed: true}},
		{"a subscription fact earlier than the trial checkout still sets the status",
			[]Event{ev(checkoutPaid(PaymentStatusNoPaymentRequired), 10), ev(refreshed(StatusActive, TierPro, 1000, false), 9)},
			lifecycleView{Status: StatusActive, TrialUsed: true}},
		{"after the trial: active, no trial end, the trial stays used",
			[]Event{ev(checkoutPaid(PaymentStatusNoPaymentRequired), 10), ev(trialing(1000), 11), ev(refreshed(StatusActive, TierPro, 4000, false), 1000)},
			lifecycleView{Status: StatusActive, TrialUsed: true}},
		{"trial_will_end is a subscription fact with the trial's end",
			[]Event{ev(activated(TierPro), 10), ev(TrialWillEnd{object(StatusTrialing, 900)}, 600)},
			lifecycleView{Status: StatusTrialing, TrialEnd: at(900), TrialUsed: true}},
		{"a paid checkout of the same second does not override trialing",
			[]Event{ev(activated(TierPro), 10), ev(trialing(1000), 10)},
			lifecycleView{Status: StatusTrialing, TrialEnd: at(1000), TrialUsed: true}},
		{"invoice.paid of the same second does not override trialing",
			[]Event{ev(activated(TierPro), 5), ev(paid("sub_1"), 10), ev(trialing(1000), 10)},
			lifecycleView{Status: StatusTrialing, TrialEnd: at(1000), TrialUsed: true}},
		{"a paid invoice and a failed one of the same second still ask the API",
			[]Event{ev(activated(TierPro), 5), ev(paid("sub_1"), 10), ev(failed(), 10)},
			lifecycleView{Status: StatusPastDue, UnpaidSince: at(10), Sync: true}},
		{"paused, then resumed to the subscription's status",
			[]Event{ev(activated(TierPro), 10), ev(SubscriptionPaused{object(StatusPaused, 0)}, 20), ev(SubscriptionResumed{object(StatusActive, 0)}, 30)},
			lifecycleView{Status: StatusActive}},
		{"paused",
			[]Event{ev(activated(TierPro), 10), ev(SubscriptionPaused{object(StatusPaused, 0)}, 20)},
			lifecycleView{Status: StatusPaused}},
		{"a payment waiting for the customer",
			[]Event{ev(activated(TierPro), 10), ev(actionRequired("https://invoice.stripe.com/i/1"), 20)},
			lifecycleView{Status: StatusActive, ActionURL: "https://invoice.stripe.com/i/1"}},
		{"a later paid invoice clears the action",
			[]Event{ev(activated(TierPro), 10), ev(actionRequired("https://invoice.stripe.com/i/1"), 20), ev(paid("sub_1"), 30)},
			lifecycleView{Status: StatusActive}},
		{"a paid invoice of the same second clears it too",
			[]Event{ev(activated(TierPro), 10), ev(actionRequired("https://invoice.stripe.com/i/1"), 20), ev(paid("sub_1"), 20)},
			lifecycleView{Status: StatusActive}},
		{"an earlier paid invoice does not",
			[]Event{ev(activated(TierPro), 10), ev(actionRequired("https://invoice.stripe.com/i/1"), 20), ev(paid("sub_1"), 15)},
			lifecycleView{Status: StatusActive, ActionURL: "https://invoice.stripe.com/i/1"}},
		{"an asynchronous payment: incomplete until it settles",
			[]Event{ev(checkoutPaid(PaymentStatusUnpaid), 10)},
			lifecycleView{Status: StatusIncomplete}},
		{"an asynchronous payment that succeeded",
			[]Event{ev(checkoutPaid(PaymentStatusUnpaid), 10), ev(AsyncPaymentSucceeded{payment()}, 50)},
			lifecycleView{Status: StatusActive}},
		{"an asynchronous payment that failed: the subscription's facts tell",
			[]Event{ev(checkoutPaid(PaymentStatusUnpaid), 10), ev(AsyncPaymentFailed{payment()}, 50), ev(refreshed(StatusIncompleteExpired, TierPro, 900, false), 60)},
			lifecycleView{Status: StatusIncompleteExpired}},
		{"the unpaid period starts at the first failure",
			[]Event{ev(activated(TierPro), 10), ev(failed(), 100), ev(refreshed(StatusPastDue, TierPro, 5000, false), 101), ev(failed(), 200)},
			lifecycleView{Status: StatusPastDue, UnpaidSince: at(100)}},
		{"a paid invoice ends the unpaid period: the next starts at the next failure",
			[]Event{ev(activated(TierPro), 10), ev(failed(), 100), ev(paid("sub_1"), 150), ev(failed(), 200)},
			lifecycleView{Status: StatusPastDue, UnpaidSince: at(200)}},
		{"without a failed payment, the unpaid period starts at the fact that set past_due",
			[]Event{ev(activated(TierPro), 10), ev(refreshed(StatusUnpaid, TierPro, 5000, false), 300), ev(refreshed(StatusUnpaid, TierPro, 5000, true), 400)},
			lifecycleView{Status: StatusUnpaid, UnpaidSince: at(300)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Fold("org_1", tt.given)
			if got := lifecycleOf(a); got != tt.want {
				t.Errorf("lifecycle = %+v, want %+v", got, tt.want)
			}
			rng := rand.New(rand.NewSource(2))
			for range 50 {
				shuffled := slices.Clone(tt.given)
				rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
				if b := Fold("org_1", shuffled); !reflect.DeepEqual(b.state, a.state) || lifecycleOf(b) != lifecycleOf(a) {
					t.Fatalf("order %v folds to %+v, want %+v", shuffled, lifecycleOf(b), lifecycleOf(a))
				}
			}
		})
	}
}

func TestCheckoutExpiredIsNoLongerOpen(t *testing.T) {
	a := Fold("org_1", []Event{ev(CheckoutStarted{Tier: TierPro, CheckoutSessionID: "cs_1"}, 0), ev(CheckoutStarted{Tier: TierPro, CheckoutSessionID: "cs_2"}, 1)})
	if got := a.OpenCheckouts(at(2)); len(got) != 2 {
		t.Fatalf("open = %v", got)
	}
	e, err := a.RecordStripeFact(CheckoutExpired{CheckoutSessionID: "cs_1"}, at(3))
	if err != nil {
		t.Fatal(err)
	}
	a.Apply(e)
	if got := a.OpenCheckouts(at(4)); !slices.Equal(got, []string{"cs_2"}) || !a.CheckoutExpired("cs_1") || a.CheckoutExpired("cs_2") {
		t.Errorf("open = %v, expired cs_1 %v", got, a.CheckoutExpired("cs_1"))
	}
	if _, err := a.RecordStripeFact(CheckoutExpired{}, at(5)); err == nil {
		t.Error("an expiry without a session was recorded")
	}
}

func TestEntitlements(t *testing.T) {
	cat, err := BuiltInCatalogue().With(Plan{Tier: TierPro, Name: "Pro", Features: []string{"audit"}, Limits: map[string]int64{"members": 10}, TrialDays: 14})
	if err != nil {
		t.Fatal(err)
	}
	cat, _ = cat.With(Plan{Tier: TierFree, Name: "Free", Features: []string{"basic"}, Limits: map[string]int64{"members": 2}})
	grace := 7 * 24 * time.Hour
	day := 24 * 60 * 60
	tests := []struct {
		name             string
		given            []Event
		now              int
		tier             Tier
		access           Access
		members          int64
		trialEnd, graced time.Time
	}{
		{"a new org is free", nil, 0, TierFree, AccessFree, 2, time.Time{}, time.Time{}},
		{"active: the tier's", []Event{ev(activated(TierPro), 10)}, 20, TierPro, AccessFull, 10, time.Time{}, time.Time{}},
		{"trialing: the tier's, with the trial's end", []Event{ev(activated(TierPro), 10), ev(trialing(1000), 11)}, 20, TierPro, AccessFull, 10, at(1000), time.Time{}},
		{"past_due within grace", []Event{ev(activated(TierPro), 10), ev(failed(), 100)}, 100 + day, TierPro, AccessGrace, 10, time.Time{}, at(100).Add(grace)},
		{"past_due once grace is over", []Event{ev(activated(TierPro), 10), ev(failed(), 100)}, 100 + 7*day, TierFree, AccessFree, 2, time.Time{}, time.Time{}},
		{"grace counts from the first failure of the period", []Event{ev(activated(TierPro), 10), ev(failed(), 100), ev(failed(), 100+5*day)}, 100 + 7*day, TierFree, AccessFree, 2, time.Time{}, time.Time{}},
		{"a paid invoice restarts it", []Event{ev(activated(TierPro), 10), ev(failed(), 100), ev(paid("sub_1"), 200), ev(failed(), 100+5*day)}, 100 + 7*day, TierPro, AccessGrace, 10, time.Time{}, at(100 + 5*day).Add(grace)},
		{"canceled is free", []Event{ev(activated(TierPro), 10), ev(canceled(500), 20)}, 30, TierFree, AccessFree, 2, time.Time{}, time.Time{}},
		{"paused is free", []Event{ev(activated(TierPro), 10), ev(SubscriptionPaused{object(StatusPaused, 0)}, 20)}, 30, TierFree, AccessFree, 2, time.Time{}, time.Time{}},
		{"incomplete is free", []Event{ev(checkoutPaid(PaymentStatusUnpaid), 10)}, 30, TierFree, AccessFree, 2, time.Time{}, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := Fold("org_1", tt.given).Entitlements(cat, grace, at(tt.now))
			plan, _ := cat.Plan(tt.tier)
			if e.PlanTier != tt.tier || e.Access != tt.access || !e.TrialEndsAt.Equal(tt.trialEnd) || !e.GraceEndsAt.Equal(tt.graced) ||
				!slices.Equal(e.Features, plan.Features) {
				t.Errorf("got %+v", e)
			}
			if n, ok := e.MemberLimit(); !ok || n != tt.members {
				t.Errorf("members limit %d %v, want %d", n, ok, tt.members)
			}
		})
	}
	if e := NewAccount("org_1").Entitlements(BuiltInCatalogue(), grace, t0); e.Features == nil || e.Limits == nil {
		t.Error("features and limits must read as [] and {}")
	} else if _, ok := e.MemberLimit(); ok {
		t.Error("the built-in catalogue has no members limit")
	}
}
