package porttest

import (
	"context"

	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// WithPrior wraps an event store so that every append carries the account
// it was decided on, as the application's appends do: the stream folded
// up to the expected version, when it has that many events.
func WithPrior(store ports.EventStore) ports.EventStore { return priorStore{store} }

type priorStore struct{ ports.EventStore }

func (s priorStore) Append(ctx context.Context, req ports.AppendRequest) (ports.AppendResult, error) {
	events, err := s.Load(ctx, req.StreamID)
	if err != nil {
		return ports.AppendResult{}, err
	}
	if int64(len(events)) >= req.ExpectedVersion {
		acc := billing.NewAccount(req.StreamID)
		for _, e := range events[:req.ExpectedVersion] {
			de, err := billing.DecodeEvent(e.Type, e.SchemaVersion, e.Data, e.OccurredAt)
			if err != nil {
				return ports.AppendResult{}, err
			}
			acc.Apply(de)
		}
		req.Prior = acc
	}
	return s.EventStore.Append(ctx, req)
}
