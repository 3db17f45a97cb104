package billing

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// snapshotFormat is the version of the snapshot's shape. A snapshot of
// another format is refused by [RestoreAccount] ([ErrSnapshotFormat]): the
// caller folds the stream instead, and the next append writes the new
// format.
const snapshotFormat = 6

// ErrSnapshotFormat means a snapshot was written in another format.
var ErrSnapshotFormat = errors.New("account snapshot of another format")

// snapshot is the serialized form of an Account, kept beside read models so
// that they can fold new events without reading the whole stream.
type snapshot struct {
	Format       int                  `json:"format"`
	OrgID        string               `json:"orgId"`
	Version      int64                `json:"version"`
	LastAt       time.Time            `json:"lastAt"`
	LastFactAt   time.Time            `json:"lastFactAt"`
	State        state                `json:"state"`
	StripeIDs    map[string]bool      `json:"stripeIds,omitempty"`
	Name         string               `json:"name,omitempty"`
	CreatedAt    time.Time            `json:"createdAt"`
	Members      map[string]Member    `json:"members,omitempty"`
	Checkouts    map[string]*checkout `json:"checkouts,omitempty"`
	LastCheckout Tier                 `json:"lastCheckout,omitempty"`
	TrialUsed    bool                 `json:"trialUsed,omitempty"`
}

// MarshalSnapshot returns the account's full state, registers' Stripe times
// included, as JSON.
func (a *Account) MarshalSnapshot() ([]byte, error) {
	return a.MarshalSnapshotWith(json.Marshal)
}

// MarshalSnapshotWith is MarshalSnapshot with another JSON encoder
// (adapters writing millions bring a faster one).
func (a *Account) MarshalSnapshotWith(marshal func(any) ([]byte, error)) ([]byte, error) {
	return marshal(snapshot{Format: snapshotFormat, OrgID: a.orgID, Version: a.version, LastAt: a.lastAt, LastFactAt: a.lastFactAt,
		State: a.state, StripeIDs: a.stripeIDs, Name: a.name, CreatedAt: a.createdAt, Members: a.members, Checkouts: a.checkouts, LastCheckout: a.lastCheckout, TrialUsed: a.trialUsed})
}

// RestoreAccount returns the account saved by [Account.MarshalSnapshot].
func RestoreAccount(data []byte) (*Account, error) {
	var s snapshot
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("restore account snapshot: %w", err)
	}
	if s.Format != snapshotFormat {
		return nil, fmt.Errorf("restore account snapshot: %w (%d, want %d)", ErrSnapshotFormat, s.Format, snapshotFormat)
	}
	// MarshalSnapshot writes no null subscription or checkout: one is damage.
	if hasNil(s.State.Subs) || hasNil(s.Checkouts) {
		return nil, errors.New("restore account snapshot: a null subscription or checkout")
	}
	return &Account{orgID: s.OrgID, version: s.Version, lastAt: s.LastAt, lastFactAt: s.LastFactAt, state: s.State, stripeIDs: s.StripeIDs, name: s.Name, createdAt: s.CreatedAt,
		members: s.Members, checkouts: s.Checkouts, lastCheckout: s.LastCheckout, trialUsed: s.TrialUsed}, nil
}

// Clone returns a copy of the account that folds on independently of it.
func (a *Account) Clone() *Account {
	c := *a
	c.checkouts = cloneValues(a.checkouts)
	c.state.Subs = cloneValues(a.state.Subs)
	c.stripeIDs = maps.Clone(a.stripeIDs)
	if a.members != nil {
		c.members = make(map[string]Member, len(a.members))
		for id, m := range a.members {
			m.Permissions = slices.Clone(m.Permissions)
			c.members[id] = m
		}
	}
	return &c
}

// cloneValues copies m and the values its pointers point to.
func cloneValues[V any](m map[string]*V) map[string]*V {
	if m == nil {
		return nil
	}
	c := make(map[string]*V, len(m))
	for k, v := range m {
		copied := *v
		c[k] = &copied
	}
	return c
}

// hasNil reports whether m holds a nil value.
func hasNil[V any](m map[string]*V) bool {
	for _, v := range m {
		if v == nil {
			return true
		}
	}
	return false
}
