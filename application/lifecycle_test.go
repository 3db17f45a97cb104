package application_test

import (
	"context"
	"testing"
	"time"

	"github.com/safeclose/billing/adapters/memory"
	"github.com/safeclose/billing/application"
	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// A checkout starts with the catalogue's trial once per org: not after
// the org had a trialing subscription, also once it was deleted.
func TestCheckoutAsksForTheTrialOncePerOrg(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	clock := memory.NewClock(t0)
	mem := memory.NewStore(clock)
	cat, err := billing.BuiltInCatalogue().With(billing.Plan{Tier: billing.TierPro, Name: "Pro", TrialDays: 14})
	if err != nil {
		t.Fatal(err)
	}
	pay := &fakePay{}
	svc := ownedService(mem, clock, application.Deps{Payments: pay, Plans: cat, Inbox: mem.Inbox(), Links: mem.Links(), Subscriptions: &fakeSubs{}})
	org, err := svc.CreateOrg(ctx, application.Actor{}, "Acme", "o@example.com")
	if err != nil {
		t.Fatal(err)
	}
	user := application.Actor{UserID: "usr_o@example.com"} // the owner
	start := func(tier string) ports.CheckoutSessionRequest {
		t.Helper()
		clock.Set(clock.Now().Add(time.Hour))
		if _, err := svc.StartCheckout(ctx, user, org, tier); err != nil {
			t.Fatal(err)
		}
		return pay.requests[len(pay.requests)-1]
	}
	fact := func(id string, at time.Time, c billing.Change) {
		t.Helper()
		ev := application.StripeEvent{ID: id, Type: "x", Created: at, Payload: []byte(`{}`),
			Fact: &application.StripeFact{Change: c, OrgHint: org, CustomerID: "cus_1"}}
		if out, err := svc.HandleStripeEvent(ctx, ev); err != nil || out != ports.OutcomeApplied {
			t.Fatalf("%s: %q %v", id, out, err)
		}
	}
	if r := start("STARTER"); r.TrialDays != 0 {
		t.Errorf("a plan without trialDays asked for %d", r.TrialDays)
	}
	if r := start("PRO"); r.TrialDays != 14 {
		t.Errorf("the first PRO checkout asked for %d trial days, want 14", r.TrialDays)
	}
	now := clock.Now().Truncate(time.Second)
	fact("evt_1", now, billing.PlanActivated{CheckoutSessionID: "cs_2", CustomerID: "cus_1", SubscriptionID: "sub_1", Tier: billing.TierPro, PaymentStatus: "no_payment_required"})
	fact("evt_2", now.Add(time.Second), billing.SubscriptionRefreshed{CustomerID: "cus_1", SubscriptionID: "sub_1", Status: billing.StatusTrialing,
		Tier: billing.TierPro, CurrentPeriodEnd: now.AddDate(0, 0, 14), TrialEnd: now.AddDate(0, 0, 14)})
	if st, _ := mem.Status(ctx, org); st.Status != "trialing" || !st.TrialEnd.Equal(now.AddDate(0, 0, 14)) {
		t.Errorf("status %+v", st)
	}
	fact("evt_3", now.Add(2*time.Second), billing.SubscriptionCanceled{CustomerID: "cus_1", SubscriptionID: "sub_1", CurrentPeriodEnd: now.Add(2 * time.Second)})
	if r := start("PRO"); r.TrialDays != 0 || r.CustomerID != "cus_1" {
		t.Errorf("after a trial and its deletion: trial %d days, customer %q", r.TrialDays, r.CustomerID)
	}
}

// checkout.session.expired names only its session: it reaches the org
// through client_reference_id; one that names no org, customer or
// subscription is ignored, not parked for ever.
func TestCheckoutExpiredRouting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	clock := memory.NewClock(t0)
	mem := memory.NewStore(clock)
	pay := &fakePay{}
	svc := ownedService(mem, clock, application.Deps{Payments: pay, Inbox: mem.Inbox(), Links: mem.Links(), Subscriptions: &fakeSubs{}})
	org, err := svc.CreateOrg(ctx, application.Actor{}, "Acme", "o@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.StartCheckout(ctx, application.Actor{UserID: "usr_o@example.com"}, org, "PRO"); err != nil {
		t.Fatal(err)
	}
	expired := func(id, hint, customer string) string {
		t.Helper()
		out, err := svc.HandleStripeEvent(ctx, application.StripeEvent{ID: id, Type: "checkout.session.expired", Created: t0.Add(time.Hour), Payload: []byte(`{}`),
			Fact: &application.StripeFact{Change: billing.CheckoutExpired{CheckoutSessionID: "cs_1", CustomerID: customer}, OrgHint: hint, CustomerID: customer}})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got, _ := svc.CheckoutExpired(ctx, "usr_1", org, "cs_1"); got {
		t.Fatal("expired before the event")
	}
	if out := expired("evt_nobody", "", ""); out != ports.OutcomeIgnored {
		t.Errorf("an expiry naming nothing: %q, want ignored", out)
	}
	if out := expired("evt_unknown_customer", "", "cus_nobody"); out != ports.OutcomeParked {
		t.Errorf("an expiry naming an unknown customer: %q, want parked until it is linked", out)
	}
	if out := expired("evt_hint", org, ""); out != ports.OutcomeApplied {
		t.Errorf("an expiry naming the org: %q", out)
	}
	if got, err := svc.CheckoutExpired(ctx, "usr_1", org, "cs_1"); err != nil || !got {
		t.Errorf("CheckoutExpired = %v, %v", got, err)
	}
	if got, _ := svc.CheckoutExpired(ctx, "usr_1", org, ""); got {
		t.Error("no session is no expired session")
	}
}

// A subscription read from the API keeps its trial's end.
func TestSyncKeepsTheTrialEnd(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	clock := memory.NewClock(t0)
	mem := memory.NewStore(clock)
	trialEnd := t0.AddDate(0, 0, 14)
	subs := &fakeSubs{subs: []ports.Subscription{{ID: "sub_1", CustomerID: "cus_1", Status: "trialing", Tier: "PRO", CurrentPeriodEnd: trialEnd, TrialEnd: trialEnd}}}
	svc := ownedService(mem, clock, application.Deps{Inbox: mem.Inbox(), Links: mem.Links(), Subscriptions: subs})
	org, err := svc.CreateOrg(ctx, application.Actor{}, "Acme", "o@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.SyncSubscription(ctx, org, "sub_1", billing.SyncReasonReconcile, ""); err != nil {
		t.Fatal(err)
	}
	if st, _ := mem.Status(ctx, org); st.Status != "trialing" || !st.TrialEnd.Equal(trialEnd) {
		t.Errorf("status %+v", st)
	}
}
