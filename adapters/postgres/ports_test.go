package postgres_test

import (
	"testing"

	"github.com/safeclose/billing/adapters/postgres"
	"github.com/safeclose/billing/adapters/system"
	"github.com/safeclose/billing/ports/porttest"
)

// newPorts returns the ports of one fresh database, as serve wires them
// (history on the same database: a replica behind it is not tested here),
// with periodic account snapshots every 7 versions, so that as-of answers
// start from them in the history contract.
func newPorts(t *testing.T) porttest.Ports {
	store, status, db := newStore(t)
	postgres.SetSnapshotEvery(status, 7)
	users := postgres.NewUsers(db.DB)
	return porttest.Ports{Store: store, Inbox: postgres.NewInbox(db.DB, system.Clock{}), Links: postgres.NewLinksProjection(db.DB),
		Orgs: postgres.NewOrgs(db.DB), Users: users, Memberships: users, History: postgres.NewHistory(db.DB, db.DB)}
}

func TestInboxContract(t *testing.T) { porttest.RunInbox(t, newPorts) }

func TestStripeLinksContract(t *testing.T) { porttest.RunStripeLinks(t, newPorts) }

func TestUsersContract(t *testing.T) { porttest.RunUsers(t, newPorts) }

func TestHistoryContract(t *testing.T) { porttest.RunHistory(t, newPorts) }
