package ports

import (
	"context"
	"time"
)

// BillingStatus is an organization's billing state as the status API
// serves it.
type BillingStatus struct {
	OrgID                string
	PlanTier             string
	Status               string
	CurrentPeriodEnd     time.Time // zero when unknown
	CancelAtPeriodEnd    bool
	StripeCustomerID     string
	StripeSubscriptionID string
	LedgerVersion        int64
	UpdatedAt            time.Time
}

// BillingStatusReader reads the billing status read model.
type BillingStatusReader interface {
	// Status returns an organization's current status, or ErrNotFound.
	Status(ctx context.Context, orgID string) (BillingStatus, error)
}

// Snapshots reads the account snapshot kept with the billing status read
// model, so that a command need not fold the whole stream.
type Snapshots interface {
	// Snapshot returns the stream's latest snapshot, or ErrNotFound.
	Snapshot(ctx context.Context, streamID string) ([]byte, error)
}

// Clock tells the time. Times are UTC with microsecond precision, what the
// ledger keeps.
type Clock interface {
	Now() time.Time
}
