package billing

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"
)

// snapshot is the serialized form of an Account, kept beside read models so
// that they can fold new events without reading the whole stream.
type snapshot struct {
	OrgID        string            `json:"orgId"`
	Version      int64             `json:"version"`
	LastAt       time.Time         `json:"lastAt"`
	State        state             `json:"state"`
	Name         string            `json:"name,omitempty"`
	Members      map[string]Member `json:"members,omitempty"`
	Checkouts    map[string]Tier   `json:"checkouts,omitempty"`
	LastCheckout Tier              `json:"lastCheckout,omitempty"`
}

// MarshalSnapshot returns the account's full state, registers' Stripe times
// included, as JSON.
func (a *Account) MarshalSnapshot() ([]byte, error) {
	return a.MarshalSnapshotWith(json.Marshal)
}

// MarshalSnapshotWith is MarshalSnapshot with another JSON encoder
// (adapters writing millions bring a faster one).
func (a *Account) MarshalSnapshotWith(marshal func(any) ([]byte, error)) ([]byte, error) {
	return marshal(snapshot{OrgID: a.orgID, Version: a.version, LastAt: a.lastAt, State: a.state, Name: a.name, Members: a.members,
		Checkouts: a.checkouts, LastCheckout: a.lastCheckout})
}

// RestoreAccount returns the account saved by [Account.MarshalSnapshot].
func RestoreAccount(data []byte) (*Account, error) {
	var s snapshot
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("restore account snapshot: %w", err)
	}
	return &Account{orgID: s.OrgID, version: s.Version, lastAt: s.LastAt, state: s.State, name: s.Name, members: s.Members,
		checkouts: s.Checkouts, lastCheckout: s.LastCheckout}, nil
}

// Clone returns a copy of the account that folds on independently of it.
func (a *Account) Clone() *Account {
	c := *a
	c.checkouts = maps.Clone(a.checkouts)
	if a.members != nil {
		c.members = make(map[string]Member, len(a.members))
		for id, m := range a.members {
			m.Permissions = slices.Clone(m.Permissions)
			c.members[id] = m
		}
	}
	return &c
}
