package httpapi_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/safeclose/billing/adapters/stripe"
	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
	"github.com/safeclose/billing/ports/porttest"
)

// TestOneCurrentSubscriptionPerOrg: facts of a subscription other than the
// org's current one (the most recent completed checkout's) are recorded
// but leave a paying org as it is, in any delivery order.
func TestOneCurrentSubscriptionPerOrg(t *testing.T) {
	h := newHarness(t)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	end := t0.Add(30 * 24 * time.Hour).UTC()
	type delivery struct {
		id, typ string
		at      time.Time
		obj     map[string]any
	}
	scenarios := []struct {
		name   string
		events func(org string) []delivery
		want   func(org string) ports.BillingStatus
	}{
		{"two checkouts on one customer, then the older subscription canceled",
			func(org string) []delivery {
				s1 := stripe.SubscriptionSpec{OrgID: org, CustomerID: "cus_" + org, SubscriptionID: "sub_1" + org, Tier: billing.TierPro}
				s2 := stripe.SubscriptionSpec{OrgID: org, CustomerID: "cus_" + org, SubscriptionID: "sub_2" + org, Tier: billing.TierEnterprise, CurrentPeriodEnd: end}
				gone := s1
				gone.Status, gone.CurrentPeriodEnd = "canceled", t0
				return []delivery{
					{"evt_a1" + org, "checkout.session.completed", t0, h.factory.CheckoutSession("cs_1"+org, s1)},
					{"evt_a2" + org, "checkout.session.completed", t0.Add(10 * time.Second), h.factory.CheckoutSession("cs_2"+org, s2)},
					{"evt_a3" + org, "customer.subscription.updated", t0.Add(11 * time.Second), h.factory.Subscription(s2)},
					{"evt_a4" + org, "customer.subscription.deleted", t0.Add(20 * time.Second), h.factory.Subscription(gone)},
				}
			},
			func(org string) ports.BillingStatus {
				return ports.BillingStatus{OrgID: org, PlanTier: "ENTERPRISE", Status: "active", CurrentPeriodEnd: end,
					StripeCustomerID: "cus_" + org, StripeSubscriptionID: "sub_2" + org}
			}},
		{"re-subscribed, then a late payment failure of the old subscription",
			func(org string) []delivery {
				s1 := stripe.SubscriptionSpec{OrgID: org, CustomerID: "cus_" + org, SubscriptionID: "sub_1" + org, Tier: billing.TierPro}
				s2 := stripe.SubscriptionSpec{OrgID: org, CustomerID: "cus_" + org, SubscriptionID: "sub_2" + org, Tier: billing.TierStarter}
				gone := s1
				gone.Status = "canceled"
				return []delivery{
					{"evt_b1" + org, "checkout.session.completed", t0, h.factory.CheckoutSession("cs_1"+org, s1)},
					{"evt_b2" + org, "customer.subscription.deleted", t0.Add(10 * time.Second), h.factory.Subscription(gone)},
					{"evt_b3" + org, "checkout.session.completed", t0.Add(20 * time.Second), h.factory.CheckoutSession("cs_2"+org, s2)},
					{"evt_b4" + org, "invoice.payment_failed", t0.Add(30 * time.Second), h.factory.Invoice(s1, stripe.InvoiceSpec{InvoiceID: "in_" + org, Amount: 4900, Currency: "usd", AttemptCount: 4})},
				}
			},
			func(org string) ports.BillingStatus {
				return ports.BillingStatus{OrgID: org, PlanTier: "STARTER", Status: "active",
					StripeCustomerID: "cus_" + org, StripeSubscriptionID: "sub_2" + org}
			}},
		{"a second checkout that made a new customer",
			func(org string) []delivery {
				s1 := stripe.SubscriptionSpec{OrgID: org, CustomerID: "cus_1" + org, SubscriptionID: "sub_1" + org, Tier: billing.TierPro}
				s2 := stripe.SubscriptionSpec{OrgID: org, CustomerID: "cus_2" + org, SubscriptionID: "sub_2" + org, Tier: billing.TierEnterprise}
				return []delivery{
					{"evt_c1" + org, "checkout.session.completed", t0, h.factory.CheckoutSession("cs_1"+org, s1)},
					{"evt_c2" + org, "checkout.session.completed", t0.Add(10 * time.Second), h.factory.CheckoutSession("cs_2"+org, s2)},
					{"evt_c3" + org, "invoice.paid", t0.Add(20 * time.Second), h.factory.Invoice(s1, stripe.InvoiceSpec{InvoiceID: "in_" + org, Amount: 4900, Currency: "usd", Paid: true})},
				}
			},
			func(org string) ports.BillingStatus {
				return ports.BillingStatus{OrgID: org, PlanTier: "ENTERPRISE", Status: "active",
					StripeCustomerID: "cus_2" + org, StripeSubscriptionID: "sub_2" + org}
			}},
	}
	for i, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			// In order, and in reverse order: the same state.
			for _, reverse := range []bool{false, true} {
				org := "org_cur" + string(rune('a'+i))
				if reverse {
					org += "r"
				}
				h.createOrg(org)
				events := sc.events(org)
				for j := range events {
					d := events[j]
					if reverse {
						d = events[len(events)-1-j]
					}
					if out := mustOK(t, h.deliver(h.factory.Event(d.id, d.typ, d.at, d.obj)), d.typ); out != ports.OutcomeApplied && out != ports.OutcomeParked {
						t.Fatalf("%s: outcome %q", d.typ, out)
					}
				}
				got, want := h.billingStatus(org), sc.want(org)
				got.LedgerVersion, got.UpdatedAt = 0, time.Time{}
				got.CurrentPeriodEnd = got.CurrentPeriodEnd.UTC()
				if got != want {
					t.Errorf("reverse %v: status %+v, want %+v", reverse, got, want)
				}
				// Every fact is kept in the ledger.
				if n := len(h.billingEvents(org)); n != len(events) {
					t.Errorf("reverse %v: %d facts in the ledger, want %d", reverse, n, len(events))
				}
			}
		})
	}
	h.verifyLedger()
}

// roundRobin sends each request to the next instance in turn, as a load
// balancer would.
type roundRobin struct{ instances []*harness }

func (rr *roundRobin) on(i int) *harness { return rr.instances[i%len(rr.instances)] }

// TestTwoInstancesAnswerFromTheCommittedLedger: what one instance remembers
// never makes it answer from a state older than the one the other has
// committed.
func TestTwoInstancesAnswerFromTheCommittedLedger(t *testing.T) {
	a := newHarness(t)
	b := a.instance()
	w := newWorld(t, a)
	x := a.user("x@example.com")
	tX := a.session(x)

	// The owner adds X on A, grants billing on B, revokes it on A.
	if rec := a.do("POST", "/api/orgs/"+w.org+"/members", w.tOwner, map[string]any{"email": x.Email, "permissions": []string{}}); rec.Code != 201 {
		t.Fatalf("add on A: %d %s", rec.Code, rec.Body)
	}
	if rec := b.do("PUT", "/api/orgs/"+w.org+"/members/"+x.ID+"/permissions", w.tOwner, map[string]any{"permissions": []string{"billing"}}); rec.Code != 200 {
		t.Fatalf("grant on B: %d %s", rec.Code, rec.Body)
	}
	if rec := a.do("PUT", "/api/orgs/"+w.org+"/members/"+x.ID+"/permissions", w.tOwner, map[string]any{"permissions": []string{}}); rec.Code != 200 {
		t.Fatalf("revoke on A: %d %s", rec.Code, rec.Body)
	}
	for _, inst := range []*harness{a, b} {
		if rec := inst.do("POST", "/api/billing/checkout-session", tX, map[string]any{"orgId": w.org, "planTier": "PRO"}); rec.Code != 403 {
			t.Errorf("X after the revoke: checkout %d, want 403", rec.Code)
		}
	}
	var members struct {
		Members []struct {
			UserID      string   `json:"userId"`
			Permissions []string `json:"permissions"`
		} `json:"members"`
	}
	_ = json.Unmarshal(b.do("GET", "/api/orgs/"+w.org+"/members", w.tOwner, nil).Body.Bytes(), &members)
	for _, m := range members.Members {
		if m.UserID == x.ID && len(m.Permissions) != 0 {
			t.Errorf("X still holds %v after the revoke", m.Permissions)
		}
	}

	// A remembers the org (it appended CheckoutStarted); B applies the
	// checkout webhook; the portal on A opens for the customer.
	if rec := a.do("POST", "/api/billing/checkout-session", w.tBilling, map[string]any{"orgId": w.org, "planTier": "PRO"}); rec.Code != 200 {
		t.Fatalf("checkout on A: %d %s", rec.Code, rec.Body)
	}
	spec := stripe.SubscriptionSpec{OrgID: w.org, CustomerID: "cus_rr", SubscriptionID: "sub_rr", Tier: billing.TierPro}
	mustOK(t, b.deliver(b.factory.Event("evt_rr1", "checkout.session.completed", time.Now(), b.factory.CheckoutSession("cs_rr", spec))), "checkout on B")
	if rec := a.do("POST", "/api/billing/portal", w.tBilling, map[string]any{"orgId": w.org}); rec.Code != 200 {
		t.Errorf("portal on A after B linked the customer: %d %s", rec.Code, rec.Body)
	}
	// A now remembers a live subscription; B applies its deletion; a new
	// checkout on A is allowed.
	gone := spec
	gone.Status, gone.CurrentPeriodEnd = "canceled", time.Now()
	mustOK(t, b.deliver(b.factory.Event("evt_rr2", "customer.subscription.deleted", time.Now().Add(time.Second), b.factory.Subscription(gone))), "deleted on B")
	if rec := a.do("POST", "/api/billing/checkout-session", w.tBilling, map[string]any{"orgId": w.org, "planTier": "STARTER"}); rec.Code != 200 {
		t.Errorf("checkout on A after B applied the deletion: %d %s", rec.Code, rec.Body)
	}

	// Round robin over both: every answer is the single-instance one.
	rr := &roundRobin{instances: []*harness{a, b}}
	for i, perms := range [][]string{{"audit"}, {"billing"}, {}, {"audit", "billing"}, {}} {
		rec := rr.on(i).do("PUT", "/api/orgs/"+w.org+"/members/"+x.ID+"/permissions", w.tOwner, map[string]any{"permissions": perms})
		if rec.Code != 200 {
			t.Fatalf("round %d: %d %s", i, rec.Code, rec.Body)
		}
		status := rr.on(i+1).do("GET", "/api/billing/events?orgId="+w.org, tX, nil).Code
		if want := map[bool]int{true: 200, false: 403}[len(perms) > 0]; status != want {
			t.Errorf("round %d (%v): history as X %d, want %d", i, perms, status, want)
		}
	}
	a.verifyLedger()
}

// TestCheckoutExpiresTheOrgsOtherOpenSessions: after creating a session,
// the service expires the org's earlier open ones in Stripe, never the one
// it returned.
func TestCheckoutExpiresTheOrgsOtherOpenSessions(t *testing.T) {
	h := newHarness(t)
	w := newWorld(t, h)
	// stripe-mock answers every create with the same session id: record an
	// earlier open session of the org the way the service does.
	_, err := h.store.Append(t.Context(), ports.AppendRequest{StreamID: w.org, ExpectedVersion: int64(len(h.ledger(w.org))),
		Metadata: ports.Metadata{Actor: "user:" + w.billingU.ID},
		Events: []ports.NewEvent{porttest.Event(t, billing.CheckoutStarted{Tier: billing.TierPro, CheckoutSessionID: "cs_earlier",
			RequestedBy: w.owner.ID, IdempotencyKey: "checkout-earlier"}, time.Now().Add(-time.Hour))}})
	if err != nil {
		t.Fatal(err)
	}
	rec := h.do("POST", "/api/billing/checkout-session", w.tBilling, map[string]any{"orgId": w.org, "planTier": "ENTERPRISE"})
	if rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	// The earlier session is expired after the answer: wait for it.
	if err := h.svc.Drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(h.mock.Requests("/v1/checkout/sessions/cs_earlier/expire")); n != 1 {
		t.Errorf("the earlier open session was expired %d times, want 1", n)
	}
	// A double click sends the same idempotency key, so Stripe answers with
	// the same session. (stripe-mock, stateless, makes a new one each time:
	// the service then expires the first, but never the one it returned.)
	h.do("POST", "/api/billing/checkout-session", w.tBilling, map[string]any{"orgId": w.org, "planTier": "ENTERPRISE"})
	if err := h.svc.Drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	creates := h.mock.Requests("/v1/checkout/sessions")
	if len(creates) != 2 || creates[0].Header.Get("Idempotency-Key") != creates[1].Header.Get("Idempotency-Key") {
		t.Fatalf("a double click sent %d creates with different keys", len(creates))
	}
	var returned []string
	for _, e := range h.ledger(w.org) {
		if e.Type == billing.TypeCheckoutStarted {
			c, _ := billing.DecodeChange(e.Type, e.SchemaVersion, e.Data)
			returned = append(returned, c.(billing.CheckoutStarted).CheckoutSessionID)
		}
	}
	if len(returned) != 3 {
		t.Fatalf("sessions recorded %v", returned)
	}
	if n := len(h.mock.Requests("/v1/checkout/sessions/" + returned[2] + "/expire")); n != 0 {
		t.Errorf("the session returned was expired %d times", n)
	}
	if n := len(h.mock.Requests("/v1/checkout/sessions/cs_earlier/expire")); n != 1 {
		t.Errorf("the earlier session was expired %d times in all, want 1", n)
	}
}
