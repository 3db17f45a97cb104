package porttest

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// RunStripeLinks runs the Stripe links and org directory contract against
// the ports newPorts returns (Store, Links and Orgs of one empty
// database): both are read models the store updates with each append.
func RunStripeLinks(t *testing.T, newPorts func(t *testing.T) Ports) {
	ctx := context.Background()
	orgsOf := func(t *testing.T, links ports.StripeLinks, ids ...string) map[string]string {
		t.Helper()
		got, err := links.OrgsOf(ctx, ids...)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	exists := func(t *testing.T, orgs ports.OrgDirectory, org string) bool {
		t.Helper()
		ok, err := orgs.OrgExists(ctx, org)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}

	t.Run("each Stripe id the ledger names is linked to the first org that held it, for good", func(t *testing.T) {
		p := newPorts(t)
		if got := orgsOf(t, p.Links); len(got) != 0 {
			t.Errorf("no ids: %v", got)
		}
		if got := orgsOf(t, p.Links, "cus_1", "sub_1"); len(got) != 0 {
			t.Errorf("empty ledger: %v", got)
		}
		// A fact that names no Stripe id links nothing.
		mustAppend(t, Ledger{Store: p.Store}, "org_a", 0, started(t, 1))
		// Each write path links, as it commits.
		update(t, p.Store, "org_a", recordFact(activated("cus_1", "sub_1"), base.Add(time.Minute)))
		want := map[string]string{"cus_1": "org_a", "sub_1": "org_a"}
		if got := orgsOf(t, p.Links, "cus_1", "sub_1", "cus_unknown", "cus_1"); !maps.Equal(got, want) {
			t.Errorf("after the checkout: %v, want %v", got, want)
		}
		// A new subscription of the customer: the old one stays linked.
		refreshed := billing.SubscriptionRefreshed{CustomerID: "cus_1", SubscriptionID: "sub_2", Status: billing.StatusActive, Tier: billing.TierPro}
		mustAppend(t, Ledger{Store: p.Store}, "org_a", 2, Event(t, refreshed, base.Add(2*time.Minute)))
		e := inboxEntry(t, "evt_b", "cus_b", "sub_b", 3*time.Minute)
		if _, err := p.Store.RecordStripeEvent(ctx, e, ports.Update{StreamID: "org_b", IdempotencyKey: e.ID,
			Decide: recordFact(activated("cus_b", "sub_b"), e.Created)}); err != nil {
			t.Fatal(err)
		}
		want = map[string]string{"cus_1": "org_a", "sub_1": "org_a", "sub_2": "org_a", "cus_b": "org_b", "sub_b": "org_b"}
		if got := orgsOf(t, p.Links, "cus_1", "sub_1", "sub_2", "cus_b", "sub_b"); !maps.Equal(got, want) {
			t.Errorf("after a second subscription and a second org: %v, want %v", got, want)
		}
		// Another org naming cus_1 later does not take it: the first keeps it.
		want = map[string]string{"cus_1": "org_a", "sub_1": "org_a", "sub_c": "org_c"}
		mustAppend(t, Ledger{Store: p.Store}, "org_c", 0, Event(t, activated("cus_1", "sub_c"), base.Add(4*time.Minute)))
		if got := orgsOf(t, p.Links, "cus_1", "sub_1", "sub_c"); !maps.Equal(got, want) {
			t.Errorf("after org_c named cus_1: %v, want %v", got, want)
		}
		mustAppend(t, Ledger{Store: p.Store}, "org_a", 3, Event(t, billing.SubscriptionRefreshed{CustomerID: "cus_1", SubscriptionID: "sub_1",
			Status: billing.StatusCanceled, Tier: billing.TierPro}, base.Add(5*time.Minute)))
		mustAppend(t, Ledger{Store: p.Store}, "org_c", 1, Event(t, billing.SubscriptionRefreshed{CustomerID: "cus_1", SubscriptionID: "sub_c",
			Status: billing.StatusActive, Tier: billing.TierPro}, base.Add(6*time.Minute)))
		if got := orgsOf(t, p.Links, "cus_1", "sub_1", "sub_c"); !maps.Equal(got, want) {
			t.Errorf("after both orgs appended again: %v, want %v", got, want)
		}
	})

	t.Run("an org exists once created, not because its stream has events", func(t *testing.T) {
		p := newPorts(t)
		if exists(t, p.Orgs, "org_a") {
			t.Error("an unknown org exists")
		}
		update(t, p.Store, "org_facts", recordFact(activated("cus_1", "sub_1"), base))
		if exists(t, p.Orgs, "org_facts") {
			t.Error("a stream of Stripe facts, never created, exists")
		}
		createOrg(t, p.Store, "org_a", "Acme", ports.User{ID: "usr_1", Email: "owner@example.com"})
		if !exists(t, p.Orgs, "org_a") {
			t.Error("a created org does not exist")
		}
		if exists(t, p.Orgs, "org_b") || exists(t, p.Orgs, "") {
			t.Error("another org exists")
		}
	})
}
