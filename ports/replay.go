package ports

import (
	"fmt"

	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/domain/ledger"
)

// Decode returns the domain event e stores.
func (e StoredEvent) Decode() (billing.Event, error) {
	return billing.DecodeEvent(e.Type, e.SchemaVersion, e.Data, e.OccurredAt)
}

// Replay folds a stream's stored events, in version order, into its
// account: the one replay every reader of the ledger uses.
func Replay(stream string, events []StoredEvent) (*billing.Account, error) {
	acc := billing.NewAccount(stream)
	for _, e := range events {
		de, err := e.Decode()
		if err != nil {
			return nil, fmt.Errorf("replay %s: event %d: %w", stream, e.Version, err)
		}
		acc.Apply(de)
	}
	return acc, nil
}

// AtLedgerPrecision returns e with its time as the ledger keeps it (UTC,
// [ledger.Precision]), so that an account folded from decided events is
// the account a replay of the stored ones gives.
func AtLedgerPrecision(e billing.Event) billing.Event {
	e.OccurredAt = e.OccurredAt.UTC().Truncate(ledger.Precision)
	return e
}
