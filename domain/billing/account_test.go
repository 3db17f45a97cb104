package billing

import (
	"errors"
	"math/rand"
	"reflect"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

func ev(c Change, sec int) Event { return Event{Change: c, OccurredAt: at(sec)} }

func activated(tier Tier) PlanActivated {
	return PlanActivated{CheckoutSessionID: "cs_1", CustomerID: "cus_1", SubscriptionID: "sub_1", Tier: tier}
}

func refreshed(st Status, tier Tier, periodEnd int, cancel bool) SubscriptionRefreshed {
	return SubscriptionRefreshed{CustomerID: "cus_1", SubscriptionID: "sub_1", Status: st, Tier: tier,
		CurrentPeriodEnd: at(periodEnd), CancelAtPeriodEnd: cancel}
}

func paid(sub string) PaymentSucceeded {
	return PaymentSucceeded{Invoice{InvoiceID: "in_1", CustomerID: "cus_1", SubscriptionID: sub, AmountPaid: 2000, Currency: "usd"}}
}

// activated2 is the completed checkout of a second subscription, sub_2,
// on the customer given.
func activated2(customer string, tier Tier) PlanActivated {
	return PlanActivated{CheckoutSessionID: "cs_2", CustomerID: customer, SubscriptionID: "sub_2", Tier: tier}
}

func refreshed2(customer string, st Status, tier Tier, periodEnd int, cancel bool) SubscriptionRefreshed {
	return SubscriptionRefreshed{CustomerID: customer, SubscriptionID: "sub_2", Status: st, Tier: tier,
		CurrentPeriodEnd: at(periodEnd), CancelAtPeriodEnd: cancel}
}

func paid2(customer string) PaymentSucceeded {
	return PaymentSucceeded{Invoice{InvoiceID: "in_3", CustomerID: customer, SubscriptionID: "sub_2", AmountPaid: 2000, Currency: "usd"}}
}

func failed() PaymentFailed {
	return PaymentFailed{Invoice{InvoiceID: "in_2", CustomerID: "cus_1", SubscriptionID: "sub_1", AmountDue: 2000, Currency: "usd", AttemptCount: 1}}
}

func canceled(periodEnd int) SubscriptionCanceled {
	return SubscriptionCanceled{CustomerID: "cus_1", SubscriptionID: "sub_1", CurrentPeriodEnd: at(periodEnd)}
}

// view is the part of the state the status API shows.
type view struct {
	Tier     Tier
	Status   Status
	Customer string
	Sub      string
	Period   time.Time
	Cancel   bool
}

func viewOf(a *Account) view {
	return view{a.Tier(), a.Status(), a.CustomerID(), a.SubscriptionID(), a.CurrentPeriodEnd(), a.CancelAtPeriodEnd()}
}

func TestFold(t *testing.T) {
	tests := []struct {
		name   string
		given  []Event
		want   view
		synced bool // NeedsSync expected
	}{
		{"new account is FREE with no subscription", nil, view{Tier: TierFree, Status: StatusNone}, false},
		{"membership events change no billing state",
			[]Event{ev(OrgCreated{Name: "Acme", OwnerUserID: "u1"}, 0), ev(MemberAdded{UserID: "u2"}, 1), ev(CheckoutStarted{Tier: TierPro, CheckoutSessionID: "cs_1"}, 2)},
			view{Tier: TierFree, Status: StatusNone}, false},
		{"checkout completed applies the tier and active",
			[]Event{ev(activated(TierPro), 10)},
			view{TierPro, StatusActive, "cus_1", "sub_1", time.Time{}, false}, false},
		{"subscription updated refreshes status, period and cancel flag",
			[]Event{ev(activated(TierPro), 10), ev(refreshed(StatusActive, TierPro, 1000, true), 20)},
			view{TierPro, StatusActive, "cus_1", "sub_1", at(1000), true}, false},
		{"a portal plan change shows as the new tier",
			[]Event{ev(activated(TierStarter), 10), ev(refreshed(StatusActive, TierEnterprise, 1000, false), 20)},
			view{TierEnterprise, StatusActive, "cus_1", "sub_1", at(1000), false}, false},
		{"an unknown price keeps the tier",
			[]Event{ev(activated(TierPro), 10), ev(refreshed(StatusActive, "", 1000, false), 20)},
			view{TierPro, StatusActive, "cus_1", "sub_1", at(1000), false}, false},
		{"payment failed flags past_due",
			[]Event{ev(activated(TierPro), 10), ev(failed(), 20)},
			view{TierPro, StatusPastDue, "cus_1", "sub_1", time.Time{}, false}, false},
		{"invoice paid confirms active after a failure",
			[]Event{ev(activated(TierPro), 10), ev(failed(), 20), ev(paid("sub_1"), 30)},
			view{TierPro, StatusActive, "cus_1", "sub_1", time.Time{}, false}, false},
		{"an invoice outside a subscription changes no status",
			[]Event{ev(activated(TierPro), 10), ev(failed(), 20), ev(paid(""), 30)},
			view{TierPro, StatusPastDue, "cus_1", "sub_1", time.Time{}, false}, false},
		{"deleted reverts to FREE, canceled, keeps the last period end",
			[]Event{ev(activated(TierPro), 10), ev(refreshed(StatusActive, TierPro, 1000, true), 20), ev(canceled(1000), 30)},
			view{TierFree, StatusCanceled, "cus_1", "sub_1", at(1000), false}, false},
		{"updated to canceled also reverts to FREE",
			[]Event{ev(activated(TierPro), 10), ev(refreshed(StatusCanceled, TierPro, 1000, true), 20)},
			view{TierFree, StatusCanceled, "cus_1", "sub_1", at(1000), false}, false},
		{"a stale update never overwrites newer state",
			[]Event{ev(activated(TierPro), 10), ev(canceled(1000), 30), ev(refreshed(StatusActive, TierPro, 900, true), 20)},
			view{TierFree, StatusCanceled, "cus_1", "sub_1", at(1000), false}, false},
		{"a stale failure after a newer payment is ignored",
			[]Event{ev(activated(TierPro), 10), ev(paid("sub_1"), 30), ev(failed(), 20)},
			view{TierPro, StatusActive, "cus_1", "sub_1", time.Time{}, false}, false},
		{"an early invoice.paid then checkout: both apply",
			[]Event{ev(paid("sub_1"), 11), ev(activated(TierPro), 10)},
			view{TierPro, StatusActive, "cus_1", "sub_1", time.Time{}, false}, false},
		{"same second, same values: no conflict",
			[]Event{ev(activated(TierPro), 10), ev(paid("sub_1"), 10), ev(refreshed(StatusActive, TierPro, 1000, false), 10)},
			view{TierPro, StatusActive, "cus_1", "sub_1", at(1000), false}, false},
		{"same second, different status: conflict asks for a sync",
			[]Event{ev(activated(TierPro), 10), ev(paid("sub_1"), 20), ev(failed(), 20)},
			view{TierPro, StatusPastDue, "cus_1", "sub_1", time.Time{}, false}, true},
		{"a newer fact settles a conflict",
			[]Event{ev(activated(TierPro), 10), ev(paid("sub_1"), 20), ev(failed(), 20), ev(paid("sub_1"), 21)},
			view{TierPro, StatusActive, "cus_1", "sub_1", time.Time{}, false}, false},
		{"same second: a deletion comes after an update, no conflict",
			[]Event{ev(activated(TierPro), 10), ev(refreshed(StatusActive, TierEnterprise, 1000, true), 20), ev(canceled(1000), 20)},
			view{TierFree, StatusCanceled, "cus_1", "sub_1", at(1000), false}, false},
		{"same second: a deletion comes after a failure, no conflict",
			[]Event{ev(activated(TierPro), 10), ev(failed(), 20), ev(canceled(900), 20)},
			view{TierFree, StatusCanceled, "cus_1", "sub_1", at(900), false}, false},
		{"a sync settles a conflict with Stripe's state",
			[]Event{ev(activated(TierPro), 10), ev(paid("sub_1"), 20), ev(failed(), 20),
				ev(SubscriptionSynced{SubscriptionObject: SubscriptionObject{CustomerID: "cus_1", SubscriptionID: "sub_1", Status: StatusActive, Tier: TierPro, CurrentPeriodEnd: at(1000)}, Reason: SyncReasonAmbiguousOrder}, 25)},
			view{TierPro, StatusActive, "cus_1", "sub_1", at(1000), false}, false},
		{"a new subscription after cancellation: the old period end is not the new one's",
			[]Event{ev(activated(TierPro), 10), ev(canceled(1000), 30),
				ev(PlanActivated{CheckoutSessionID: "cs_2", CustomerID: "cus_1", SubscriptionID: "sub_2", Tier: TierStarter}, 40)},
			view{TierStarter, StatusActive, "cus_1", "sub_2", time.Time{}, false}, false},
		// One current subscription: the most recent completed checkout's.
		{"two checkouts on one customer, then the older one canceled: the newer one stays",
			[]Event{ev(activated(TierPro), 10), ev(activated2("cus_1", TierEnterprise), 20),
				ev(refreshed2("cus_1", StatusActive, TierEnterprise, 2000, false), 21), ev(canceled(1000), 30)},
			view{TierEnterprise, StatusActive, "cus_1", "sub_2", at(2000), false}, false},
		{"a late payment failure of the replaced subscription changes nothing",
			[]Event{ev(activated(TierPro), 10), ev(canceled(1000), 20), ev(activated2("cus_1", TierStarter), 30),
				ev(paid2("cus_1"), 31), ev(failed(), 40)},
			view{TierStarter, StatusActive, "cus_1", "sub_2", time.Time{}, false}, false},
		{"a late deletion and update of the replaced subscription change nothing",
			[]Event{ev(activated(TierPro), 10), ev(activated2("cus_1", TierStarter), 30),
				ev(refreshed(StatusActive, TierPro, 900, true), 40), ev(canceled(900), 50)},
			view{TierStarter, StatusActive, "cus_1", "sub_2", time.Time{}, false}, false},
		{"a second checkout that made a new customer is current, with its customer",
			[]Event{ev(activated(TierPro), 10), ev(activated2("cus_2", TierEnterprise), 20), ev(paid("sub_1"), 30)},
			view{TierEnterprise, StatusActive, "cus_2", "sub_2", time.Time{}, false}, false},
		{"facts of the newer subscription before its checkout apply once it completes",
			[]Event{ev(activated(TierPro), 10), ev(refreshed2("cus_1", StatusPastDue, TierEnterprise, 3000, true), 25),
				ev(activated2("cus_1", TierEnterprise), 20)},
			view{TierEnterprise, StatusPastDue, "cus_1", "sub_2", at(3000), true}, false},
		{"an older checkout delivered last does not take over",
			[]Event{ev(activated2("cus_1", TierStarter), 20), ev(activated(TierPro), 10), ev(failed(), 40)},
			view{TierStarter, StatusActive, "cus_1", "sub_2", time.Time{}, false}, false},
		{"before any checkout, the first subscription named is current",
			[]Event{ev(refreshed2("cus_1", StatusActive, TierEnterprise, 2000, false), 30), ev(refreshed(StatusTrialing, TierPro, 1000, false), 20)},
			view{TierPro, StatusTrialing, "cus_1", "sub_1", at(1000), false}, false},
		{"a same-second conflict of an old subscription asks for no sync",
			[]Event{ev(activated(TierPro), 10), ev(activated2("cus_1", TierStarter), 15), ev(paid("sub_1"), 20), ev(failed(), 20)},
			view{TierStarter, StatusActive, "cus_1", "sub_2", time.Time{}, false}, false},
		{"reconcile makes a live subscription current once the current one ended",
			[]Event{ev(activated(TierPro), 10), ev(refreshed2("cus_1", StatusActive, TierEnterprise, 2000, false), 12), ev(canceled(1000), 20),
				ev(SubscriptionSynced{SubscriptionObject: SubscriptionObject{CustomerID: "cus_1", SubscriptionID: "sub_2", Status: StatusActive, Tier: TierEnterprise, CurrentPeriodEnd: at(2000)}, Reason: SyncReasonReconcile, Current: true}, 21)},
			view{TierEnterprise, StatusActive, "cus_1", "sub_2", at(2000), false}, false},
		{"a finding about an extra subscription changes nothing shown",
			[]Event{ev(activated(TierPro), 10), ev(SubscriptionSynced{SubscriptionObject: SubscriptionObject{CustomerID: "cus_1", SubscriptionID: "sub_2", Status: StatusActive, Tier: TierEnterprise, CurrentPeriodEnd: at(2000)}, Reason: SyncReasonExtraSubscription}, 21)},
			view{TierPro, StatusActive, "cus_1", "sub_1", time.Time{}, false}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Fold("org_1", tt.given)
			if got := viewOf(a); got != tt.want {
				t.Errorf("state = %+v, want %+v", got, tt.want)
			}
			if _, got := a.NeedsSync(); got != tt.synced {
				t.Errorf("NeedsSync = %v, want %v", got, tt.synced)
			}
			if a.Version() != int64(len(tt.given)) {
				t.Errorf("Version = %d, want %d", a.Version(), len(tt.given))
			}
			// Every order of the same facts folds to the same state.
			rng := rand.New(rand.NewSource(1))
			for range 50 {
				shuffled := append([]Event(nil), tt.given...)
				rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
				b := Fold("org_1", shuffled)
				if !reflect.DeepEqual(b.state, a.state) {
					t.Fatalf("order %v folds to %+v, want %+v", shuffled, viewOf(b), viewOf(a))
				}
			}
		})
	}
}

func TestCommands(t *testing.T) {
	live := []Event{ev(activated(TierPro), 10)}
	tests := []struct {
		name    string
		given   []Event
		when    func(a *Account) (Event, error)
		want    Change
		wantErr error
	}{
		{"checkout on FREE starts", nil,
			func(a *Account) (Event, error) {
				return a.StartCheckout(CheckoutStarted{Tier: TierPro, CheckoutSessionID: "cs_9"}, at(1))
			},
			CheckoutStarted{Tier: TierPro, CheckoutSessionID: "cs_9"}, nil},
		{"checkout for FREE is refused", nil,
			func(a *Account) (Event, error) {
				return a.StartCheckout(CheckoutStarted{Tier: TierFree, CheckoutSessionID: "cs_9"}, at(1))
			}, nil, ErrInvalidTier},
		{"checkout for an unknown tier is refused", nil,
			func(a *Account) (Event, error) {
				return a.StartCheckout(CheckoutStarted{Tier: "pro", CheckoutSessionID: "cs_9"}, at(1))
			}, nil, ErrInvalidTier},
		{"checkout without a session id is refused", nil,
			func(a *Account) (Event, error) {
				return a.StartCheckout(CheckoutStarted{Tier: TierPro, CheckoutSessionID: ""}, at(1))
			}, nil, ErrInvalidFact},
		{"checkout with an active subscription is refused", live,
			func(a *Account) (Event, error) {
				return a.StartCheckout(CheckoutStarted{Tier: TierEnterprise, CheckoutSessionID: "cs_9"}, at(11))
			}, nil, ErrSubscriptionExists},
		{"checkout while past_due is refused", append(live, ev(failed(), 20)),
			func(a *Account) (Event, error) {
				return a.StartCheckout(CheckoutStarted{Tier: TierEnterprise, CheckoutSessionID: "cs_9"}, at(21))
			}, nil, ErrSubscriptionExists},
		{"checkout while paused is refused", append(live, ev(refreshed(StatusPaused, TierPro, 100, false), 20)),
			func(a *Account) (Event, error) {
				return a.StartCheckout(CheckoutStarted{Tier: TierEnterprise, CheckoutSessionID: "cs_9"}, at(21))
			}, nil, ErrSubscriptionExists},
		{"checkout after cancellation starts", append(live, ev(canceled(100), 20)),
			func(a *Account) (Event, error) {
				return a.StartCheckout(CheckoutStarted{Tier: TierStarter, CheckoutSessionID: "cs_9"}, at(21))
			},
			CheckoutStarted{Tier: TierStarter, CheckoutSessionID: "cs_9"}, nil},
		{"portal before a customer is refused", nil,
			func(a *Account) (Event, error) { return a.OpenPortal("bps_1", at(1)) }, nil, ErrNoCustomer},
		{"portal with a customer opens", live,
			func(a *Account) (Event, error) { return a.OpenPortal("bps_1", at(11)) }, PortalOpened{PortalSessionID: "bps_1"}, nil},
		{"portal after cancellation still opens (invoices stay readable)", append(live, ev(canceled(100), 20)),
			func(a *Account) (Event, error) { return a.OpenPortal("bps_1", at(21)) }, PortalOpened{PortalSessionID: "bps_1"}, nil},
		{"a Stripe fact is recorded", nil,
			func(a *Account) (Event, error) { return a.RecordStripeFact(activated(TierPro), at(10)) }, activated(TierPro), nil},
		{"a stale Stripe fact is still recorded", append(live, ev(canceled(100), 30)),
			func(a *Account) (Event, error) { return a.RecordStripeFact(failed(), at(20)) }, failed(), nil},
		{"a fact naming another customer than its subscription's is refused", live,
			func(a *Account) (Event, error) {
				c := refreshed(StatusActive, TierPro, 100, false)
				c.CustomerID = "cus_evil"
				return a.RecordStripeFact(c, at(20))
			}, nil, ErrCustomerMismatch},
		{"a fact of a new subscription of an unknown customer is refused", live,
			func(a *Account) (Event, error) {
				return a.RecordStripeFact(refreshed2("cus_evil", StatusActive, TierPro, 100, false), at(20))
			},
			nil, ErrCustomerMismatch},
		{"a fact of a new subscription of a known customer is recorded", live,
			func(a *Account) (Event, error) { return a.RecordStripeFact(paid2("cus_1"), at(20)) }, paid2("cus_1"), nil},
		{"a completed checkout that made a new customer is recorded", live,
			func(a *Account) (Event, error) { return a.RecordStripeFact(activated2("cus_2", TierPro), at(20)) },
			activated2("cus_2", TierPro), nil},
		{"a late fact of a replaced subscription's customer is recorded", []Event{ev(activated(TierPro), 10), ev(activated2("cus_2", TierPro), 20)},
			func(a *Account) (Event, error) { return a.RecordStripeFact(failed(), at(30)) }, failed(), nil},
		{"a checkout fact without a tier takes its started session's", []Event{ev(CheckoutStarted{Tier: TierEnterprise, CheckoutSessionID: "cs_1"}, 1), ev(CheckoutStarted{Tier: TierStarter, CheckoutSessionID: "cs_2"}, 2)},
			func(a *Account) (Event, error) { return a.RecordStripeFact(activated(""), at(10)) }, activated(TierEnterprise), nil},
		{"a checkout fact of an unknown session takes the last started tier", []Event{ev(CheckoutStarted{Tier: TierStarter, CheckoutSessionID: "cs_9"}, 2)},
			func(a *Account) (Event, error) { return a.RecordStripeFact(activated(""), at(10)) }, activated(TierStarter), nil},
		{"a sync from the API may name another customer", live,
			func(a *Account) (Event, error) {
				return a.RecordStripeFact(SubscriptionSynced{SubscriptionObject: SubscriptionObject{CustomerID: "cus_other", SubscriptionID: "sub_1", Status: StatusActive}, Reason: SyncReasonReconcile}, at(20))
			}, SubscriptionSynced{SubscriptionObject: SubscriptionObject{CustomerID: "cus_other", SubscriptionID: "sub_1", Status: StatusActive}, Reason: SyncReasonReconcile}, nil},
		{"a checkout fact for FREE is refused", nil,
			func(a *Account) (Event, error) { return a.RecordStripeFact(activated(TierFree), at(10)) }, nil, ErrInvalidTier},
		{"a fact without a customer is refused", nil,
			func(a *Account) (Event, error) { return a.RecordStripeFact(PaymentSucceeded{}, at(10)) }, nil, ErrInvalidFact},
		{"a fact without a subscription is refused", nil,
			func(a *Account) (Event, error) {
				return a.RecordStripeFact(SubscriptionCanceled{CustomerID: "cus_1"}, at(10))
			}, nil, ErrInvalidFact},
		{"a fact with an unknown status is refused", nil,
			func(a *Account) (Event, error) {
				return a.RecordStripeFact(refreshed("weird", TierPro, 10, false), at(10))
			}, nil, ErrInvalidFact},
		{"a fact with status none is refused", nil,
			func(a *Account) (Event, error) {
				return a.RecordStripeFact(refreshed(StatusNone, TierPro, 10, false), at(10))
			}, nil, ErrInvalidFact},
		{"a fact without a Stripe time is refused", nil,
			func(a *Account) (Event, error) { return a.RecordStripeFact(failed(), time.Time{}) }, nil, ErrInvalidFact},
		{"a user action is not a Stripe fact", nil,
			func(a *Account) (Event, error) { return a.RecordStripeFact(PortalOpened{}, at(10)) }, nil, ErrInvalidFact},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Fold("org_1", tt.given)
			before := *a
			got, err := tt.when(a)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(*a, before) {
				t.Error("a command changed the account; only Apply may")
			}
			if tt.wantErr != nil {
				return
			}
			if !reflect.DeepEqual(got.Change, tt.want) {
				t.Errorf("event = %#v, want %#v", got.Change, tt.want)
			}
		})
	}
}

func TestCodecRoundTripsEveryEvent(t *testing.T) {
	changes := []Change{
		OrgCreated{Name: "Acme", OwnerUserID: "u1"},
		MemberAdded{UserID: "u2", Email: "b@x", Role: "member", Permissions: []string{"audit"}},
		MemberPermissionsChanged{UserID: "u2", Permissions: []string{"billing"}},
		MemberRemoved{UserID: "u2"},
		CheckoutStarted{Tier: TierPro, CheckoutSessionID: "cs_1"},
		PortalOpened{PortalSessionID: "bps_1"},
		activated(TierPro), refreshed(StatusActive, TierPro, 100, true), canceled(100), paid("sub_1"), failed(),
		SubscriptionSynced{SubscriptionObject: SubscriptionObject{CustomerID: "cus_1", SubscriptionID: "sub_1", Status: StatusActive, Tier: TierPro, CurrentPeriodEnd: at(5), ItemID: "si_1"}, Reason: SyncReasonReconcile},
		SubscriptionRefreshed{CustomerID: "cus_1", SubscriptionID: "sub_1", Status: StatusActive, ItemID: "si_1"},
		PlanChangeRequested{SubscriptionAnswer: SubscriptionAnswer{CustomerID: "cus_1", SubscriptionID: "sub_1", Tier: TierPro, Status: StatusActive,
			CurrentPeriodEnd: at(5), ItemID: "si_1"}, FromTier: TierStarter, ProrationDate: at(4)},
		CancellationRequested{SubscriptionAnswer: SubscriptionAnswer{CustomerID: "cus_1", SubscriptionID: "sub_1", Tier: TierPro, CancelAtPeriodEnd: true}},
		CancellationWithdrawn{SubscriptionAnswer: SubscriptionAnswer{CustomerID: "cus_1", SubscriptionID: "sub_1", Tier: TierPro}},
		trialing(100), checkoutPaid(PaymentStatusNoPaymentRequired),
		TrialWillEnd{object(StatusTrialing, 90)}, SubscriptionPaused{object(StatusPaused, 0)}, SubscriptionResumed{object(StatusActive, 0)},
		actionRequired("https://invoice.stripe.com/i/1"), CheckoutExpired{CheckoutSessionID: "cs_1"},
		AsyncPaymentSucceeded{payment()}, AsyncPaymentFailed{payment()},
	}
	for _, c := range changes {
		data, err := EncodeChange(c)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeChange(c.EventType(), SchemaVersion, data)
		if err != nil {
			t.Fatalf("%s: %v", c.EventType(), err)
		}
		if !reflect.DeepEqual(back, c) {
			t.Errorf("%s round trip = %#v, want %#v", c.EventType(), back, c)
		}
	}
	if _, err := DecodeChange("Nope", SchemaVersion, []byte(`{}`)); !errors.Is(err, ErrUnknownEventType) {
		t.Errorf("unknown type: %v", err)
	}
	if _, err := DecodeChange(TypePortalOpened, 99, []byte(`{}`)); !errors.Is(err, ErrUnknownEventType) {
		t.Errorf("unknown schema version: %v", err)
	}
}

// TestSubscriptionEventsWireFormat: the ledger's JSON of the events that
// carry a subscription object is flat, in this field order (what the
// events already recorded hold; a hash covers it).
func TestSubscriptionEventsWireFormat(t *testing.T) {
	obj := SubscriptionObject{CustomerID: "cus_1", SubscriptionID: "sub_1", Status: StatusActive, Tier: TierPro, PriceID: "price_p",
		CurrentPeriodEnd: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), CancelAtPeriodEnd: true, ItemID: "si_1"}
	const fields = `"customerId":"cus_1","subscriptionId":"sub_1","status":"active","tier":"PRO","priceId":"price_p","currentPeriodEnd":"2027-01-01T00:00:00Z","cancelAtPeriodEnd":true,"itemId":"si_1"`
	for _, tc := range []struct {
		c    Change
		want string
	}{
		{SubscriptionRefreshed(obj), "{" + fields + "}"},
		{SubscriptionSynced{SubscriptionObject: obj, Reason: SyncReasonReconcile, Current: true}, "{" + fields + `,"reason":"reconcile","current":true}`},
	} {
		data, err := EncodeChange(tc.c)
		if err != nil || string(data) != tc.want {
			t.Errorf("%s: %s %v\nwant %s", tc.c.EventType(), data, err, tc.want)
		}
	}
}

func TestSnapshotRestoresTheSameAccount(t *testing.T) {
	a := Fold("org_1", []Event{ev(activated(TierPro), 10), ev(paid("sub_1"), 20), ev(failed(), 20)})
	data, err := a.MarshalSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := RestoreAccount(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("restored %+v, want %+v", b, a)
	}
	// A restored account keeps folding as the original would.
	next := ev(paid("sub_1"), 10)
	a.Apply(next)
	b.Apply(next)
	if !reflect.DeepEqual(a, b) {
		t.Error("restored account folds differently")
	}
}

func TestCloneFoldsIndependently(t *testing.T) {
	base := []Event{ev(OrgCreated{Name: "Acme", OwnerUserID: "u1"}, 0), ev(MemberAdded{UserID: "u2", Role: RoleMember, Permissions: []string{"billing:read"}}, 1),
		ev(CheckoutStarted{Tier: TierPro, CheckoutSessionID: "cs_1"}, 2), ev(activated(TierPro), 10)}
	for _, next := range []Event{
		ev(MemberPermissionsChanged{UserID: "u2", Permissions: []string{"billing:manage"}}, 11),
		ev(MemberRemoved{UserID: "u2"}, 11),
		ev(CheckoutStarted{Tier: TierEnterprise, CheckoutSessionID: "cs_2"}, 11),
		ev(canceled(30), 12),
	} {
		a := Fold("org_1", base)
		c := a.Clone()
		if !reflect.DeepEqual(a, c) {
			t.Fatalf("clone %+v, want %+v", c, a)
		}
		c.Apply(next)
		if !reflect.DeepEqual(a, Fold("org_1", base)) {
			t.Errorf("folding %s into the clone changed the original", next.Type())
		}
		if want := Fold("org_1", append(base[:len(base):len(base)], next)); !reflect.DeepEqual(c, want) {
			t.Errorf("clone after %s: %+v, want %+v", next.Type(), c, want)
		}
	}
}

func TestParse(t *testing.T) {
	for _, s := range []string{"STARTER", "PRO", "ENTERPRISE"} {
		if _, err := ParsePaidTier(s); err != nil {
			t.Errorf("ParsePaidTier(%q): %v", s, err)
		}
	}
	for _, s := range []string{"FREE", "pro", "Pro", "", " PRO"} {
		if _, err := ParsePaidTier(s); !errors.Is(err, ErrInvalidTier) {
			t.Errorf("ParsePaidTier(%q) accepted", s)
		}
	}
	if tier, err := ParseTier("FREE"); err != nil || tier != TierFree {
		t.Errorf("ParseTier(FREE) = %v, %v", tier, err)
	}
	if _, err := ParseStatus("past_due"); err != nil {
		t.Error(err)
	}
	if _, err := ParseStatus("PAST_DUE"); err == nil {
		t.Error("ParseStatus accepted PAST_DUE")
	}
}

func TestStripeIDs(t *testing.T) {
	for _, tc := range []struct {
		c        Change
		cus, sub string
	}{
		{activated(TierPro), "cus_1", "sub_1"},
		{refreshed(StatusActive, TierPro, 10, false), "cus_1", "sub_1"},
		{canceled(10), "cus_1", "sub_1"},
		{paid("sub_1"), "cus_1", "sub_1"},
		{paid(""), "cus_1", ""}, // an invoice outside any subscription
		{failed(), "cus_1", "sub_1"},
		{OrgCreated{Name: "Acme"}, "", ""},
	} {
		var want []string
		for _, id := range []string{tc.cus, tc.sub} {
			if id != "" {
				want = append(want, id)
			}
		}
		a := Fold("org_1", []Event{ev(tc.c, 1)})
		if got := a.StripeIDs(); !slices.Equal(got, want) || a.StripeIDCount() != len(want) {
			t.Errorf("%s: held %v (count %d), want %v", tc.c.EventType(), got, a.StripeIDCount(), want)
		}
	}
}
