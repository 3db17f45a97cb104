package ports

import (
	"context"
	"time"

	"github.com/safeclose/billing/domain/billing"
)

// BillingStatus is an organization's billing state as the status API
// serves it: what the domain's account shows ([billing.Account.View]).
type BillingStatus = billing.StatusView

// BillingStatusReader reads the billing status read model.
type BillingStatusReader interface {
	// Status returns an organization's current status, or ErrNotFound.
	Status(ctx context.Context, orgID string) (BillingStatus, error)
}

// Clock tells the time. Times are UTC with microsecond precision, what the
// ledger keeps.
type Clock interface {
	Now() time.Time
}
