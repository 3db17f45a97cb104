package postgres_test

import (
	"testing"

	"github.com/safeclose/billing/adapters/postgres"
	"github.com/safeclose/billing/adapters/postgres/pgtest"
	"github.com/safeclose/billing/adapters/system"
	"github.com/safeclose/billing/ports/porttest"
)

func newStore(t testing.TB) (*postgres.Store, *postgres.StatusProjection, *pgtest.DB) {
	db := pgtest.New(t)
	status := postgres.NewStatusProjection(db.DB)
	store := postgres.NewStore(db.DB, system.Clock{}, []postgres.Projection{status, postgres.NewLinksProjection(db.DB)})
	return store, status, db
}

func TestStoreContract(t *testing.T) {
	porttest.RunEventStore(t, func(t *testing.T) porttest.Ledger {
		store, status, _ := newStore(t)
		return porttest.Ledger{Store: store, Scanner: store, Status: status}
	})
}
