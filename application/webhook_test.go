package application_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/safeclose/billing/adapters/memory"
	"github.com/safeclose/billing/application"
	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// A whole webhook journey on the memory adapters alone, which pass the
// Postgres adapters' contract suites: a completed checkout for an org
// created through the service, its duplicate delivery, and an event for a
// customer no org has yet, parked until the checkout that links it.
func TestWebhooksOnMemoryAdapters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	clock := memory.NewClock(t0)
	mem := memory.NewStore(clock)
	users, inbox := mem.Users(), mem.Inbox()
	svc := application.NewService(application.Deps{Store: mem, Status: mem, Clock: clock, Inbox: inbox, Links: mem.Links(),
		Orgs: mem.Orgs(), Users: users, Memberships: users, History: mem.History(), Subscriptions: &fakeSubs{}})
	owner := ports.User{ID: "usr_owner", Email: "owner@example.com", PasswordHash: []byte("x"), CreatedAt: t0}
	if err := users.CreateUser(ctx, owner); err != nil {
		t.Fatal(err)
	}
	newOrg := func(name string) string {
		t.Helper()
		org, err := svc.CreateOrg(ctx, application.Actor{UserID: owner.ID}, name, "OWNER@example.com")
		if err != nil {
			t.Fatal(err)
		}
		return org
	}
	handle := func(ev application.StripeEvent, want string) {
		t.Helper()
		got, err := svc.HandleStripeEvent(ctx, ev)
		if err != nil || got != want {
			t.Fatalf("%s (%s): %q, %v; want %q", ev.ID, ev.Type, got, err, want)
		}
	}
	// kept returns the inbox's entry for id, counting one more delivery.
	kept := func(id string) ports.InboxEntry {
		t.Helper()
		e, isNew, err := inbox.Receive(ctx, ports.InboxEntry{ID: id, Payload: []byte(`{}`)})
		if err != nil || isNew {
			t.Fatalf("%s not in the inbox: %v", id, err)
		}
		return e
	}
	completed := func(id, org, customer, subscription string, created time.Time) application.StripeEvent {
		return application.StripeEvent{ID: id, Type: "checkout.session.completed", APIVersion: "2023-10-16", Created: created,
			Payload: fmt.Appendf(nil, `{"id":%q,"type":"checkout.session.completed"}`, id),
			Fact: &application.StripeFact{Change: billing.PlanActivated{CheckoutSessionID: "cs_" + id, CustomerID: customer,
				SubscriptionID: subscription, Tier: billing.TierPro}, OrgHint: org, CustomerID: customer, SubscriptionID: subscription}}
	}

	// A completed checkout for a new org, then its duplicate delivery.
	acme := newOrg("Acme")
	checkout := completed("evt_checkout", acme, "cus_1", "sub_1", t0.Add(time.Minute))
	handle(checkout, ports.OutcomeApplied)
	handle(checkout, ports.OutcomeDuplicate)
	if events, _ := mem.Load(ctx, acme); len(events) != 3 {
		t.Errorf("acme's ledger has %d events, want 3 (created, owner, plan)", len(events))
	}
	if st, err := mem.Status(ctx, acme); err != nil || st.PlanTier != "PRO" || st.Status != "active" || st.StripeCustomerID != "cus_1" {
		t.Errorf("acme's status: %+v, %v", st, err)
	}
	if e := kept("evt_checkout"); e.Outcome != ports.OutcomeApplied || e.OrgID != acme || e.Deliveries != 3 {
		t.Errorf("the checkout in the inbox: %+v; want applied to %s, 2 deliveries and this one", e, acme)
	}

	// An update for a customer no org has: parked, until the checkout
	// that links it, which may arrive after it.
	end := t0.Add(30 * 24 * time.Hour)
	updated := application.StripeEvent{ID: "evt_update", Type: "customer.subscription.updated", APIVersion: "2023-10-16",
		Created: t0.Add(3 * time.Minute), Payload: []byte(`{"id":"evt_update"}`),
		Fact: &application.StripeFact{Change: billing.SubscriptionRefreshed{CustomerID: "cus_2", SubscriptionID: "sub_2",
			Status: billing.StatusActive, Tier: billing.TierEnterprise, CurrentPeriodEnd: end}, CustomerID: "cus_2", SubscriptionID: "sub_2"}}
	handle(updated, ports.OutcomeParked)
	handle(updated, ports.OutcomeParked) // delivered again: still nowhere to go
	if parked, err := inbox.Parked(ctx, []string{"sub_2"}); err != nil || len(parked) != 1 || parked[0].ID != "evt_update" {
		t.Fatalf("parked for sub_2: %+v, %v", parked, err)
	}
	beta := newOrg("Beta")
	handle(completed("evt_checkout_2", beta, "cus_2", "sub_2", t0.Add(2*time.Minute)), ports.OutcomeApplied)
	if parked, _ := inbox.Parked(ctx, []string{"cus_2", "sub_2"}); len(parked) != 0 {
		t.Errorf("still parked after the linking checkout: %+v", parked)
	}
	if e := kept("evt_update"); e.Outcome != ports.OutcomeApplied || e.OrgID != beta {
		t.Errorf("the parked update in the inbox: %+v; want applied to %s", e, beta)
	}
	st, err := mem.Status(ctx, beta)
	if err != nil || st.PlanTier != "ENTERPRISE" || st.StripeSubscriptionID != "sub_2" || !st.CurrentPeriodEnd.Equal(end) || st.LedgerVersion != 4 {
		t.Errorf("beta's status: %+v, %v; want the update applied after the checkout (ENTERPRISE, version 4)", st, err)
	}
	handle(updated, ports.OutcomeDuplicate)

	// What the webhooks recorded reads back through the same adapters.
	page, err := svc.History(ctx, owner.ID, ports.HistoryQuery{OrgID: beta, AfterVersion: 2, Limit: 10})
	if err != nil || len(page.Events) != 2 || page.Events[0].Metadata.StripeEventID != "evt_checkout_2" ||
		page.Events[1].Metadata.StripeEventID != "evt_update" || page.NextCursor != "" {
		t.Errorf("beta's history after version 2: %+v, %v", page, err)
	}
	orgs, err := svc.OrgsOf(ctx, owner.ID)
	if err != nil || len(orgs) != 2 || orgs[0].OrgID != acme || orgs[1].OrgID != beta || orgs[0].Role != billing.RoleOwner {
		t.Errorf("the owner's orgs: %+v, %v", orgs, err)
	}
	if other, err := svc.HandleStripeEvent(ctx, completed("evt_foreign", beta, "cus_1", "sub_1", t0.Add(4*time.Minute))); err != nil ||
		other != ports.OutcomeRefused {
		t.Errorf("beta naming acme's customer: %q, %v; want refused", other, err)
	}
	if rep, err := application.VerifyLedger(ctx, mem, ""); err != nil || rep.Break != nil {
		t.Errorf("ledger: %+v, %v", rep, err)
	}
}
