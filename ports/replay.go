package ports

import (
	"fmt"
	"time"

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
	if err := replayOnto(acc, events); err != nil {
		return nil, err
	}
	return acc, nil
}

func replayOnto(acc *billing.Account, events []StoredEvent) error {
	for _, e := range events {
		de, err := e.Decode()
		if err != nil {
			return fmt.Errorf("replay %s: event %d: %w", acc.OrgID(), e.Version, err)
		}
		acc.Apply(de)
	}
	return nil
}

// KnownAccount is an account as of an instant ([History.AccountAt]): the
// fold of the events selected, and the newest recorded_at among them
// (zero with none).
type KnownAccount struct {
	Account   *billing.Account
	UpdatedAt time.Time
}

// FoldKnown folds events (in version order) onto acc, whose own events
// were recorded by updated at the latest: the replay of an as-of answer,
// from the start (a new account, zero) or from a snapshot.
func FoldKnown(acc *billing.Account, updated time.Time, events []StoredEvent) (KnownAccount, error) {
	if err := replayOnto(acc, events); err != nil {
		return KnownAccount{}, err
	}
	for _, e := range events {
		if e.RecordedAt.After(updated) {
			updated = e.RecordedAt
		}
	}
	return KnownAccount{Account: acc, UpdatedAt: updated}, nil
}

// AtLedgerPrecision returns e with its time as the ledger keeps it (UTC,
// [ledger.Precision]), so that an account folded from decided events is
// the account a replay of the stored ones gives.
func AtLedgerPrecision(e billing.Event) billing.Event {
	e.OccurredAt = e.OccurredAt.UTC().Truncate(ledger.Precision)
	return e
}
