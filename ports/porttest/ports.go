package porttest

import (
	"context"
	"testing"
	"time"

	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// Ports are the adapters of one database under test: its event store and
// the ports that read what the store writes (the inbox it keeps Stripe
// events in, the read models it updates with each append) or that live
// beside it (users and sessions). A suite uses those it tests.
type Ports struct {
	Store       ports.EventStore
	Inbox       ports.Inbox
	Links       ports.StripeLinks
	Orgs        ports.OrgDirectory
	Users       ports.Users
	Memberships ports.Memberships
	History     ports.History
}

// update runs decide on stream's account through the store's one write
// path and fails the test on an error.
func update(t testing.TB, store ports.EventStore, stream string, decide ports.Decide) ports.Updated {
	t.Helper()
	res, err := store.Update(context.Background(), ports.Update{StreamID: stream, Metadata: ports.Metadata{Actor: "system:test"}, Decide: decide})
	if err != nil {
		t.Fatalf("update %s: %v", stream, err)
	}
	return res
}

// createOrg creates the org named name, owned by the user, at base.
func createOrg(t testing.TB, store ports.EventStore, org, name string, owner ports.User) {
	t.Helper()
	update(t, store, org, func(acc *billing.Account) ([]billing.Event, error) {
		return acc.CreateOrg(name, billing.Member{UserID: owner.ID, Email: owner.Email}, base)
	})
}

// recordFact returns a decision recording c as a Stripe fact of time at.
func recordFact(c billing.Change, at time.Time) ports.Decide {
	return func(acc *billing.Account) ([]billing.Event, error) {
		ev, err := acc.RecordStripeFact(c, at)
		return []billing.Event{ev}, err
	}
}

// activated is a completed checkout linking customer and subscription.
func activated(customer, subscription string) billing.PlanActivated {
	return billing.PlanActivated{CheckoutSessionID: "cs_" + subscription, CustomerID: customer, SubscriptionID: subscription, Tier: billing.TierPro}
}
