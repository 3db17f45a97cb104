package application

import (
	"context"
	"time"

	"github.com/safeclose/billing/ports"
)

// DefaultRetention is how long the payloads of settled Stripe events are
// kept by default (90 days).
const DefaultRetention = 2160 * time.Hour

// PruneReport says what [Prune] removed.
type PruneReport struct {
	Sessions int64     // expired sessions deleted
	Payloads int64     // settled Stripe events whose payload was removed
	Cutoff   time.Time // events received before it
}

// pruneBatch bounds each maintenance transaction.
const pruneBatch = 1000

// Prune deletes the sessions expired at now and removes the payloads of
// settled Stripe events received more than retention before now. Parked
// events keep theirs, and every event keeps its id, so a late duplicate is
// still recognized as one.
func Prune(ctx context.Context, m ports.Maintenance, now time.Time, retention time.Duration) (PruneReport, error) {
	rep := PruneReport{Cutoff: now.Add(-retention).UTC()}
	var err error
	if rep.Sessions, err = m.DeleteExpiredSessions(ctx, now, pruneBatch); err != nil {
		return rep, err
	}
	rep.Payloads, err = m.PruneInboxPayloads(ctx, rep.Cutoff, pruneBatch)
	return rep, err
}
