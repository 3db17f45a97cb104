package application_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safeclose/billing/adapters/memory"
	"github.com/safeclose/billing/application"
	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
	"github.com/safeclose/billing/ports/porttest"
)

// everyoneOwns lets every caller act as an owner of every org, where the
// Memberships port is asked. The use cases that read the org's account
// (checkout, portal, plan changes) authorize on the members it holds.
type everyoneOwns struct{ ports.Memberships }

func (everyoneOwns) Membership(_ context.Context, orgID, userID string) (ports.Membership, error) {
	return ports.Membership{OrgID: orgID, UserID: userID, Role: billing.RoleOwner}, nil
}

// ownedService is a Service on the in-memory store where every caller owns
// every org, with the Stripe ports d gives.
func ownedService(mem *memory.Store, clock *memory.Clock, d application.Deps) *application.Service {
	d.Store, d.Status, d.Users, d.Orgs, d.Memberships, d.Clock = mem, mem, fakeUsers{}, noOrgs{}, everyoneOwns{}, clock
	return application.NewService(d)
}

// fakePay is a payment provider that, like Stripe, answers a repeated
// idempotency key with the session it made for it.
type fakePay struct {
	ports.PaymentProvider
	mu       sync.Mutex
	sessions map[string]string // idempotency key → session id
	keys     []string
	expired  []string
	requests []ports.CheckoutSessionRequest
}

func (p *fakePay) CreateCheckoutSession(_ context.Context, req ports.CheckoutSessionRequest) (ports.HostedSession, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sessions == nil {
		p.sessions = map[string]string{}
	}
	p.keys = append(p.keys, req.IdempotencyKey)
	p.requests = append(p.requests, req)
	id, ok := p.sessions[req.IdempotencyKey]
	if !ok {
		id = fmt.Sprintf("cs_%d", len(p.sessions)+1)
		p.sessions[req.IdempotencyKey] = id
	}
	return ports.HostedSession{ID: id, URL: "https://checkout.stripe.test/" + id}, nil
}

func (p *fakePay) ExpireCheckoutSession(_ context.Context, id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expired = append(p.expired, id)
	return nil
}

// fakeSubs is Stripe's API for subscriptions.
type fakeSubs struct{ subs []ports.Subscription }

func (f *fakeSubs) Subscription(_ context.Context, id string) (ports.Subscription, error) {
	for _, s := range f.subs {
		if s.ID == id {
			return s, nil
		}
	}
	return ports.Subscription{}, ports.ErrNotFound
}

func (f *fakeSubs) CustomerSubscriptions(_ context.Context, customer string) ([]ports.Subscription, error) {
	var out []ports.Subscription
	for _, s := range f.subs {
		if s.CustomerID == customer {
			out = append(out, s)
		}
	}
	return out, nil
}

// linked is the reconciliation port over fixed orgs.
type linked struct{ orgs map[string]string }

func (l linked) LinkedOrgs(context.Context, string) (map[string]string, error) { return l.orgs, nil }
func (linked) RecordRun(context.Context, ports.ReconcileRun) error             { return nil }
func (linked) LastRun(context.Context) (ports.ReconcileRun, error) {
	return ports.ReconcileRun{}, ports.ErrNotFound
}

func TestCheckoutKeyRepeatsForARepeatedRequestOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := memory.NewClock(time.Date(2026, 11, 30, 12, 0, 59, 900_000_000, time.UTC))
	mem := memory.NewStore(clock)
	pay := &fakePay{}
	svc := ownedService(mem, clock, application.Deps{Payments: pay})
	org, err := svc.CreateOrg(ctx, application.Actor{}, "Acme", "o@example.com")
	if err != nil {
		t.Fatal(err)
	}
	user := application.Actor{UserID: "usr_o@example.com"} // the owner
	start := func(at time.Time, tier string) string {
		t.Helper()
		clock.Set(at)
		url, err := svc.StartCheckout(ctx, user, org, tier)
		if err != nil {
			t.Fatal(err)
		}
		// Superseded sessions are expired after the answer: wait for it.
		if err := svc.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		return strings.TrimPrefix(url, "https://checkout.stripe.test/")
	}
	t0 := time.Date(2026, 11, 30, 12, 0, 59, 900_000_000, time.UTC)
	first := start(t0, "PRO")
	// A double click across a minute boundary sends the same key.
	if again := start(t0.Add(300*time.Millisecond), "PRO"); again != first || pay.keys[1] != pay.keys[0] {
		t.Errorf("double click across a minute: session %s key %s, want %s key %s", again, pay.keys[1], first, pay.keys[0])
	}
	if len(pay.expired) != 0 {
		t.Errorf("the repeated session was expired: %v", pay.expired)
	}
	// A new intent, later: a new key, and the open session is expired.
	later := start(t0.Add(application.RepeatWindow+time.Second), "PRO")
	if later == first || pay.keys[2] == pay.keys[0] {
		t.Errorf("a new intent after %v repeated the key %s", application.RepeatWindow, pay.keys[2])
	}
	// Another tier at once is a new intent too.
	starter := start(t0.Add(application.RepeatWindow+2*time.Second), "STARTER")
	if starter == later || pay.keys[3] == pay.keys[2] {
		t.Errorf("another tier repeated the key %s", pay.keys[3])
	}
	if want := []string{first, later}; !slices.Equal(pay.expired, want) {
		t.Errorf("expired %v, want %v (each superseded session once, never the one returned)", pay.expired, want)
	}
}

// stripeFacts appends Stripe facts to org's ledger as webhooks record them.
func stripeFacts(t *testing.T, store ports.EventStore, org string, facts ...billing.Event) {
	t.Helper()
	events, _ := store.Load(context.Background(), org)
	req := ports.AppendRequest{StreamID: org, ExpectedVersion: int64(len(events))}
	for _, f := range facts {
		req.Events = append(req.Events, porttest.Event(t, f.Change, f.OccurredAt))
	}
	if _, err := store.Append(context.Background(), req); err != nil {
		t.Fatal(err)
	}
}

func TestReconcileFindsExtraLiveSubscriptionsAndUnknownPrices(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	clock := memory.NewClock(t0.Add(time.Hour))
	mem := memory.NewStore(clock)
	end := t0.Add(30 * 24 * time.Hour)
	subs := &fakeSubs{subs: []ports.Subscription{
		{ID: "sub_1", CustomerID: "cus_1", Status: "canceled", PriceID: "price_pro", Tier: "PRO", CurrentPeriodEnd: t0},
		{ID: "sub_2", CustomerID: "cus_1", Status: "active", PriceID: "price_ent", Tier: "ENTERPRISE", CurrentPeriodEnd: end},
		{ID: "sub_old", CustomerID: "cus_1", Status: "canceled", PriceID: "price_pro", Tier: "PRO"},
		{ID: "sub_b", CustomerID: "cus_b", Status: "active", PriceID: "price_legacy", CurrentPeriodEnd: end},
	}}
	svc := ownedService(mem, clock, application.Deps{Subscriptions: subs})
	stripeFacts(t, mem, "org_a", billing.Event{Change: billing.PlanActivated{CheckoutSessionID: "cs_1", CustomerID: "cus_1",
		SubscriptionID: "sub_1", Tier: billing.TierPro}, OccurredAt: t0})
	stripeFacts(t, mem, "org_b", billing.Event{Change: billing.PlanActivated{CheckoutSessionID: "cs_b", CustomerID: "cus_b",
		SubscriptionID: "sub_b", Tier: billing.TierPro}, OccurredAt: t0}, billing.Event{Change: billing.SubscriptionRefreshed{CustomerID: "cus_b",
		SubscriptionID: "sub_b", Status: billing.StatusActive, PriceID: "price_legacy", CurrentPeriodEnd: end}, OccurredAt: t0.Add(time.Second)})
	rec := linked{orgs: map[string]string{"org_a": "sub_1", "org_b": "sub_b"}}
	reconcile := func(apply bool) []string {
		t.Helper()
		var lines []string
		if _, err := svc.Reconcile(ctx, rec, "", apply, func(d application.Drift) { lines = append(lines, d.String()) }); err != nil {
			t.Fatal(err)
		}
		return lines
	}
	got := reconcile(false)
	for _, want := range []string{"org_a status: active -> canceled", "org_a planTier: PRO -> FREE", "org_a subscription: extra live sub_2",
		"org_b planTier: PRO -> unknown price_legacy"} {
		if !slices.Contains(got, want) {
			t.Errorf("reconcile lacks %q:\n%s", want, strings.Join(got, "\n"))
		}
	}
	// --apply: the current subscription ended and sub_2 alone is live, so
	// sub_2 becomes current.
	reconcile(true)
	st, err := mem.Status(ctx, "org_a")
	if err != nil {
		t.Fatal(err)
	}
	if st.StripeSubscriptionID != "sub_2" || st.PlanTier != "ENTERPRISE" || st.Status != "active" || !st.CurrentPeriodEnd.Equal(end) {
		t.Errorf("after --apply: %+v, want sub_2 current on ENTERPRISE, active", st)
	}
	if got := reconcile(false); len(got) != 1 || got[0] != "org_b planTier: PRO -> unknown price_legacy" {
		t.Errorf("after --apply, drift left: %q", got)
	}
}

func TestReconcileRecordsAnExtraSubscriptionWithoutTakingOver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	clock := memory.NewClock(t0.Add(time.Hour))
	mem := memory.NewStore(clock)
	subs := &fakeSubs{subs: []ports.Subscription{
		{ID: "sub_1", CustomerID: "cus_1", Status: "active", PriceID: "price_pro", Tier: "PRO"},
		{ID: "sub_2", CustomerID: "cus_1", Status: "active", PriceID: "price_ent", Tier: "ENTERPRISE"},
	}}
	svc := ownedService(mem, clock, application.Deps{Subscriptions: subs})
	stripeFacts(t, mem, "org_a", billing.Event{Change: billing.PlanActivated{CheckoutSessionID: "cs_1", CustomerID: "cus_1",
		SubscriptionID: "sub_1", Tier: billing.TierPro}, OccurredAt: t0})
	if _, err := svc.Reconcile(ctx, linked{orgs: map[string]string{"org_a": "sub_1"}}, "", true, func(application.Drift) {}); err != nil {
		t.Fatal(err)
	}
	events, _ := mem.Load(ctx, "org_a")
	last, _ := billing.DecodeChange(events[len(events)-1].Type, billing.SchemaVersion, events[len(events)-1].Data)
	if sync, ok := last.(billing.SubscriptionSynced); !ok || sync.SubscriptionID != "sub_2" || sync.Reason != billing.SyncReasonExtraSubscription || sync.Current {
		t.Errorf("finding recorded as %#v", last)
	}
	if st, _ := mem.Status(ctx, "org_a"); st.StripeSubscriptionID != "sub_1" || st.PlanTier != "PRO" {
		t.Errorf("an extra live subscription took over while the current one is live: %+v", st)
	}
}

func TestSyncIsStampedOneSecondAfterTheNewestFact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	clock := memory.NewClock(t0) // Stripe's clock runs 30 s ahead of ours
	mem := memory.NewStore(clock)
	subs := &fakeSubs{subs: []ports.Subscription{{ID: "sub_1", CustomerID: "cus_1", Status: "active", Tier: "PRO"}}}
	svc := ownedService(mem, clock, application.Deps{Subscriptions: subs})
	stripeFacts(t, mem, "org_a", billing.Event{Change: billing.PlanActivated{CheckoutSessionID: "cs_1", CustomerID: "cus_1",
		SubscriptionID: "sub_1", Tier: billing.TierPro}, OccurredAt: t0.Add(30 * time.Second)})
	if err := svc.SyncSubscription(ctx, "org_a", "sub_1", billing.SyncReasonAmbiguousOrder, "evt_1"); err != nil {
		t.Fatal(err)
	}
	events, _ := mem.Load(ctx, "org_a")
	if got := events[len(events)-1].OccurredAt; !got.Equal(t0.Add(31 * time.Second)) {
		t.Errorf("sync stamped %v, want one second after the newest fact (%v)", got, t0.Add(31*time.Second))
	}
}

// refusingPay is Stripe refusing every proration date.
type refusingPay struct{ ports.PaymentProvider }

func (refusingPay) ChangePrice(context.Context, ports.PriceChange) (ports.Subscription, error) {
	return ports.Subscription{}, fmt.Errorf("change the subscription's price: %w: too old", ports.ErrProrationDateRefused)
}

func TestAProrationDateStripeRefusesIsTheCallersToCorrect(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	clock := memory.NewClock(t0.Add(time.Hour))
	mem := memory.NewStore(clock)
	svc := ownedService(mem, clock, application.Deps{Payments: refusingPay{}})
	stripeFacts(t, mem, "org_a", billing.Event{Change: billing.MemberAdded{UserID: "usr_1", Role: billing.RoleOwner}, OccurredAt: t0},
		billing.Event{Change: billing.PlanActivated{CheckoutSessionID: "cs_1", CustomerID: "cus_1",
			SubscriptionID: "sub_1", Tier: billing.TierPro}, OccurredAt: t0})
	_, err := svc.ChangePlan(ctx, application.Actor{UserID: "usr_1"}, "org_a", "ENTERPRISE", t0.Add(-48*time.Hour))
	var in *application.InputError
	if !errors.As(err, &in) || in.Field != "prorationDate" {
		t.Fatalf("refused proration date: %v, want an input error naming prorationDate", err)
	}
	if events, _ := mem.Load(ctx, "org_a"); len(events) != 2 {
		t.Errorf("%d events, want only the member and the checkout: a refused change records nothing", len(events))
	}
}

// blockingPay holds every expiry until released, recording whether its
// context was still live.
type blockingPay struct {
	fakePay
	release chan struct{}
	live    []bool
}

func (p *blockingPay) ExpireCheckoutSession(ctx context.Context, id string) error {
	<-p.release
	p.mu.Lock()
	p.live = append(p.live, ctx.Err() == nil)
	p.mu.Unlock()
	return p.fakePay.ExpireCheckoutSession(ctx, id)
}

// TestCheckoutAnswersBeforeExpiringSupersededSessions: the checkout answers
// without waiting for Stripe to expire the sessions it supersedes; that
// runs on a context of its own (the request's ends with the answer), and
// Drain waits for it.
func TestCheckoutAnswersBeforeExpiringSupersededSessions(t *testing.T) {
	t.Parallel()
	clock := memory.NewClock(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	mem := memory.NewStore(clock)
	pay := &blockingPay{release: make(chan struct{})}
	svc := ownedService(mem, clock, application.Deps{Payments: pay})
	org, err := svc.CreateOrg(context.Background(), application.Actor{}, "Acme", "o@example.com")
	if err != nil {
		t.Fatal(err)
	}
	owner := application.Actor{UserID: "usr_o@example.com"}
	if _, err := svc.StartCheckout(context.Background(), owner, org, "PRO"); err != nil {
		t.Fatal(err)
	}
	reqCtx, endRequest := context.WithCancel(context.Background())
	if _, err := svc.StartCheckout(reqCtx, owner, org, "ENTERPRISE"); err != nil {
		t.Fatal(err) // answered while the expiry of the PRO session waits
	}
	endRequest()
	stopped, cancel := context.WithCancel(context.Background())
	cancel()
	if err := svc.Drain(stopped); !errors.Is(err, context.Canceled) {
		t.Errorf("Drain with an expiry under way and its context ended: %v", err)
	}
	close(pay.release)
	if err := svc.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pay.expired, []string{"cs_1"}) || !slices.Equal(pay.live, []bool{true}) {
		t.Errorf("expired %v with live contexts %v, want [cs_1] on a live context after the request ended", pay.expired, pay.live)
	}
}

// TestCheckoutAndPlanChangesAuthorizeOnTheAccount: the use cases that read
// the org's account authorize on its members, as the Memberships port
// would: nobody outside the org, nobody without the billing permission.
func TestCheckoutAndPlanChangesAuthorizeOnTheAccount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	clock := memory.NewClock(t0.Add(time.Hour))
	mem := memory.NewStore(clock)
	svc := ownedService(mem, clock, application.Deps{Payments: &fakePay{}}) // the port says everyone owns everything
	stripeFacts(t, mem, "org_a",
		billing.Event{Change: billing.MemberAdded{UserID: "usr_audit", Role: billing.RoleMember, Permissions: []string{billing.PermAudit}}, OccurredAt: t0},
		billing.Event{Change: billing.PlanActivated{CheckoutSessionID: "cs_1", CustomerID: "cus_1", SubscriptionID: "sub_1", Tier: billing.TierPro}, OccurredAt: t0})
	for _, who := range []string{"usr_audit", "usr_outsider"} {
		actor := application.Actor{UserID: who}
		for name, err := range map[string]error{
			"checkout": func() error { _, err := svc.StartCheckout(ctx, actor, "org_a", "PRO"); return err }(),
			"portal":   func() error { _, err := svc.OpenPortal(ctx, actor, "org_a"); return err }(),
			"preview":  func() error { _, err := svc.PreviewPlanChange(ctx, actor, "org_a", "ENTERPRISE"); return err }(),
			"change":   func() error { _, err := svc.ChangePlan(ctx, actor, "org_a", "ENTERPRISE", time.Time{}); return err }(),
			"cancel":   func() error { _, err := svc.CancelAtPeriodEnd(ctx, actor, "org_a"); return err }(),
			"unknown":  func() error { _, err := svc.ChangePlan(ctx, actor, "org_nope", "ENTERPRISE", time.Time{}); return err }(),
		} {
			if !errors.Is(err, application.ErrForbidden) {
				t.Errorf("%s by %s: %v, want forbidden", name, who, err)
			}
		}
	}
}
