package application_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/safeclose/billing/adapters/memory"
	"github.com/safeclose/billing/application"
	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// entitledService is a Service on the memory adapters, with real members
// (so a non-member is refused), the catalogue cat and grace.
func entitledService(t *testing.T, clock *memory.Clock, cat billing.Catalogue, grace time.Duration) (*application.Service, *memory.Store, ports.User) {
	t.Helper()
	mem := memory.NewStore(clock)
	users := mem.Users()
	svc := application.NewService(application.Deps{Store: mem, Status: mem, Clock: clock, Inbox: mem.Inbox(), Links: mem.Links(),
		Orgs: mem.Orgs(), Users: users, Memberships: users, History: mem.History(), Plans: cat, Grace: grace})
	owner := ports.User{ID: "usr_owner", Email: "owner@example.com", PasswordHash: []byte("x"), CreatedAt: clock.Now()}
	if err := users.CreateUser(context.Background(), owner); err != nil {
		t.Fatal(err)
	}
	return svc, mem, owner
}

func catalogue(t *testing.T, plans ...billing.Plan) billing.Catalogue {
	t.Helper()
	cat := billing.BuiltInCatalogue()
	for _, p := range plans {
		var err error
		if cat, err = cat.With(p); err != nil {
			t.Fatal(err)
		}
	}
	return cat
}

// Without asOf the entitlements are the committed account judged by the
// Service's clock: full while trialing and active, grace for
// BILLING_GRACE_DAYS from the first failed payment, free after; a paid
// invoice ends the unpaid period.
func TestEntitlementsFollowTheClock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	clock := memory.NewClock(t0)
	cat := catalogue(t, billing.Plan{Tier: billing.TierPro, Name: "Pro", Features: []string{"sso"}, Limits: map[string]int64{"members": 10}, TrialDays: 14},
		billing.Plan{Tier: billing.TierFree, Name: "Free", Limits: map[string]int64{"members": 2}})
	svc, mem, owner := entitledService(t, clock, cat, 5*day)
	org, err := svc.CreateOrg(ctx, application.Actor{UserID: owner.ID}, "Acme", owner.Email)
	if err != nil {
		t.Fatal(err)
	}
	sub := func(st billing.Status, trialEnd time.Time) billing.SubscriptionRefreshed {
		return billing.SubscriptionRefreshed{CustomerID: "cus_1", SubscriptionID: "sub_1", Status: st, Tier: billing.TierPro, CurrentPeriodEnd: t0.Add(60 * day), TrialEnd: trialEnd}
	}
	invoice := billing.Invoice{InvoiceID: "in_1", CustomerID: "cus_1", SubscriptionID: "sub_1", AmountDue: 4900, Currency: "usd", AttemptCount: 1}
	check := func(name string, tier billing.Tier, access billing.Access, trialEnds, graceEnds time.Time) {
		t.Helper()
		e, err := svc.Entitlements(ctx, owner.ID, org, time.Time{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		plan, _ := cat.Plan(tier)
		if e.OrgID != org || e.PlanTier != tier || e.Access != access || !e.TrialEndsAt.Equal(trialEnds) || !e.GraceEndsAt.Equal(graceEnds) ||
			!slices.Equal(e.Features, plan.Features) || e.Limits[billing.LimitMembers] != plan.Limits[billing.LimitMembers] {
			t.Errorf("%s: %+v; want %s %s, trial ends %v, grace ends %v", name, e, tier, access, trialEnds, graceEnds)
		}
	}
	check("a new org", billing.TierFree, billing.AccessFree, time.Time{}, time.Time{})

	trialEnd := t0.Add(14 * day)
	stripeFacts(t, mem, org,
		billing.Event{Change: billing.PlanActivated{CheckoutSessionID: "cs_1", CustomerID: "cus_1", SubscriptionID: "sub_1", Tier: billing.TierPro, PaymentStatus: billing.PaymentStatusNoPaymentRequired}, OccurredAt: t0.Add(time.Minute)},
		billing.Event{Change: sub(billing.StatusTrialing, trialEnd), OccurredAt: t0.Add(time.Minute)})
	clock.Set(t0.Add(day))
	check("trialing", billing.TierPro, billing.AccessFull, trialEnd, time.Time{})

	failedAt := trialEnd.Add(time.Hour)
	stripeFacts(t, mem, org,
		billing.Event{Change: billing.PaymentFailed{Invoice: invoice}, OccurredAt: failedAt},
		billing.Event{Change: sub(billing.StatusPastDue, time.Time{}), OccurredAt: failedAt.Add(time.Second)})
	clock.Set(failedAt.Add(day))
	check("past_due, within grace", billing.TierPro, billing.AccessGrace, time.Time{}, failedAt.Add(5*day))
	stripeFacts(t, mem, org, billing.Event{Change: billing.PaymentFailed{Invoice: invoice}, OccurredAt: failedAt.Add(3 * day)})
	clock.Set(failedAt.Add(5*day - time.Second))
	check("a retry that failed does not move the end", billing.TierPro, billing.AccessGrace, time.Time{}, failedAt.Add(5*day))
	clock.Set(failedAt.Add(5 * day))
	check("grace over", billing.TierFree, billing.AccessFree, time.Time{}, time.Time{})

	paidAt := failedAt.Add(6 * day)
	invoice.AmountPaid = 4900
	stripeFacts(t, mem, org, billing.Event{Change: billing.PaymentSucceeded{Invoice: invoice}, OccurredAt: paidAt},
		billing.Event{Change: sub(billing.StatusActive, time.Time{}), OccurredAt: paidAt})
	clock.Set(paidAt.Add(time.Hour))
	check("paid: active", billing.TierPro, billing.AccessFull, time.Time{}, time.Time{})
	again := paidAt.Add(20 * day)
	stripeFacts(t, mem, org, billing.Event{Change: billing.PaymentFailed{Invoice: invoice}, OccurredAt: again})
	clock.Set(again.Add(day))
	check("the next failure starts a new period", billing.TierPro, billing.AccessGrace, time.Time{}, again.Add(5*day))

	// asOf: the facts that had happened by then, judged then.
	for _, tc := range []struct {
		asOf   time.Time
		access billing.Access
	}{
		{t0, billing.AccessFree},
		{t0.Add(2 * day), billing.AccessFull},
		{failedAt.Add(4 * day), billing.AccessGrace},
		{failedAt.Add(5 * day), billing.AccessFree},
		{paidAt, billing.AccessFull},
		{again.Add(6 * day), billing.AccessFree}, // a future instant: judged then
	} {
		e, err := svc.Entitlements(ctx, owner.ID, org, tc.asOf)
		if err != nil || e.Access != tc.access {
			t.Errorf("asOf %v: %+v, %v; want %s", tc.asOf, e, err, tc.access)
		}
	}
	// Anyone else: forbidden, whether the org exists or not.
	for _, o := range []string{org, "org_nope"} {
		if _, err := svc.Entitlements(ctx, "usr_stranger", o, time.Time{}); !errors.Is(err, application.ErrForbidden) {
			t.Errorf("a stranger's entitlements of %s: %v", o, err)
		}
		if _, err := svc.Entitlements(ctx, "usr_stranger", o, t0); !errors.Is(err, application.ErrForbidden) {
			t.Errorf("a stranger's entitlements of %s asOf: %v", o, err)
		}
	}
}

// BILLING_GRACE_DAYS=0: a failed payment ends the plan's entitlements at
// once.
func TestNoGracePeriod(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	clock := memory.NewClock(t0)
	svc, mem, owner := entitledService(t, clock, billing.BuiltInCatalogue(), 0)
	org, err := svc.CreateOrg(ctx, application.Actor{UserID: owner.ID}, "Acme", owner.Email)
	if err != nil {
		t.Fatal(err)
	}
	stripeFacts(t, mem, org,
		billing.Event{Change: billing.PlanActivated{CheckoutSessionID: "cs_1", CustomerID: "cus_1", SubscriptionID: "sub_1", Tier: billing.TierPro}, OccurredAt: t0},
		billing.Event{Change: billing.PaymentFailed{Invoice: billing.Invoice{InvoiceID: "in_1", CustomerID: "cus_1", SubscriptionID: "sub_1", AmountDue: 1}}, OccurredAt: t0.Add(time.Hour)})
	clock.Set(t0.Add(time.Hour))
	if e, err := svc.Entitlements(ctx, owner.ID, org, time.Time{}); err != nil || e.Access != billing.AccessFree || e.PlanTier != billing.TierFree {
		t.Errorf("no grace: %+v, %v", e, err)
	}
}

// The members limit where the application adds members: AddMember and
// GrantPermission refuse a new member at the limit and record nothing;
// permissions of members are never refused; concurrent adds one short of
// the limit add exactly one.
func TestMembersLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	clock := memory.NewClock(t0)
	cat := catalogue(t, billing.Plan{Tier: billing.TierFree, Name: "Free", Limits: map[string]int64{"members": 3}})
	svc, mem, owner := entitledService(t, clock, cat, 7*24*time.Hour)
	users := mem.Users()
	var people []ports.User
	for i := range 8 {
		u := ports.User{ID: fmt.Sprintf("usr_%d", i), Email: fmt.Sprintf("u%d@example.com", i), PasswordHash: []byte("x"), CreatedAt: t0}
		if err := users.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		people = append(people, u)
	}
	actor := application.Actor{UserID: owner.ID}
	org, err := svc.CreateOrg(ctx, actor, "Acme", owner.Email)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AddMember(ctx, actor, org, people[0].Email, nil); err != nil {
		t.Fatal(err)
	}
	if err := svc.GrantPermission(ctx, org, people[1].Email, billing.PermAudit); err != nil {
		t.Fatal(err)
	}
	before, _ := mem.Load(ctx, org)
	if _, err := svc.AddMember(ctx, actor, org, people[2].Email, nil); !errors.Is(err, billing.ErrLimitReached) {
		t.Errorf("add at the limit: %v", err)
	}
	if err := svc.GrantPermission(ctx, org, people[2].Email, billing.PermAudit); !errors.Is(err, billing.ErrLimitReached) {
		t.Errorf("grant at the limit: %v", err)
	}
	if after, _ := mem.Load(ctx, org); len(after) != len(before) {
		t.Errorf("refusals recorded %d events", len(after)-len(before))
	}
	if err := svc.GrantPermission(ctx, org, people[1].Email, billing.PermBilling); err != nil {
		t.Errorf("grant to a member at the limit: %v", err)
	}
	if _, err := svc.SetPermissions(ctx, actor, org, people[0].ID, []string{billing.PermAudit}); err != nil {
		t.Errorf("permissions at the limit: %v", err)
	}
	if _, err := svc.AddMember(ctx, actor, org, people[0].Email, []string{billing.PermBilling}); err != nil {
		t.Errorf("re-adding a member at the limit: %v", err)
	}

	// Concurrent adds to fresh orgs one short of the limit.
	for round := range 3 {
		org, err := svc.CreateOrg(ctx, actor, "Race", owner.Email)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.AddMember(ctx, actor, org, people[3].Email, nil); err != nil {
			t.Fatal(err)
		}
		errs := make([]error, 4)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = svc.AddMember(ctx, actor, org, people[4+i].Email, nil)
			}()
		}
		wg.Wait()
		added, refused := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				added++
			case errors.Is(err, billing.ErrLimitReached):
				refused++
			default:
				t.Errorf("round %d: %v", round, err)
			}
		}
		if ms, _ := svc.Members(ctx, owner.ID, org); added != 1 || refused != 3 || len(ms) != 3 {
			t.Errorf("round %d: %d added, %d refused, %d members; want 1, 3, 3", round, added, refused, len(ms))
		}
	}
}
