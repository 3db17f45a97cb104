package ports

import (
	"context"
	"time"
)

// OutboundLease is an org whose events an instance delivers to one
// endpoint, alone, until its lease ends: the events after Delivered up to
// Target, strictly in version order.
type OutboundLease struct {
	OrgID     string
	Delivered int64 // delivered or given up, up to this version
	Target    int64 // the last version the endpoint's follower has read
	Attempts  int   // failed attempts of the event after Delivered
	// Events are the first of the events after Delivered, in version
	// order (read with the claim; the rest with [OutboundQueue.Events]).
	Events []StoredEvent
}

// OutboundAck is a delivered event: the org's event at Version.
type OutboundAck struct {
	OrgID   string
	Version int64
}

// OutboundAcked is what an [OutboundAck] did.
type OutboundAcked struct {
	Counted bool  // the lease was still the owner's and Version the next event: the ack counted
	Target  int64 // the org's target after it; the lease stays held while Version < Target
}

// OutboundFailure is a failed attempt at the event after an org's
// delivered version.
type OutboundFailure struct {
	OrgID   string
	Version int64
	Retry   time.Duration // the delay before the next attempt
	GiveUp  time.Duration // retries stop this long after the event's first failed attempt (0: now)
	Error   string
}

// OutboundOrg is one org's events of a batch the follower read, for an
// org with nothing due or in flight at the endpoint: the follower's
// instance may deliver them itself, in version order, before the cursor
// moves past them.
type OutboundOrg struct {
	OrgID  string
	Events []StoredEvent // in version order
}

// OutboundDirect is how far the follower's instance got with an
// [OutboundOrg]: its events up to Delivered are delivered (the version
// before its first event when none is). The rest becomes due at the
// endpoint; with Hold, leased to the follower's instance, which goes on
// with it as with a claimed lease (an attempt was in flight, or failed,
// when deliver returned).
type OutboundDirect struct {
	Delivered int64
	Hold      bool
}

// DeliverFunc delivers a followed batch's orgs directly, within the
// follower's turn, and answers for each (same order) how far it got.
type DeliverFunc func(ctx context.Context, orgs []OutboundOrg) []OutboundDirect

// OutboundFollowed is what one [OutboundQueue.Follow] did.
type OutboundFollowed struct {
	Read int  // events read past the cursor
	Due  bool // some org has events due now (to claim)
}

// OutboundQueue is the outbound events' durable state: each endpoint's
// cursor on the ledger and each endpoint and org's delivery state, with
// leases, so that any number of instances deliver each event from one of
// them at a time. Methods are safe for concurrent use.
type OutboundQueue interface {
	// Register makes an endpoint known; an unknown one starts at the
	// ledger's head, so it receives the events appended from then on.
	Register(ctx context.Context, endpoint string) error
	// Follow reads up to limit events past the endpoint's cursor that no
	// running transaction can precede, and moves the cursor past them,
	// while no other instance follows the endpoint (then it reads nothing).
	// The events of orgs with nothing due at the endpoint are handed to
	// deliver (nil: none delivered), which may send them itself before the
	// cursor moves; what it did not deliver becomes due, leased to owner
	// for lease where it says Hold. The other orgs' targets are raised.
	Follow(ctx context.Context, endpoint, owner string, limit int, lease time.Duration, deliver DeliverFunc) (OutboundFollowed, error)
	// Claim leases up to n orgs with events due for the endpoint, for
	// lease, to owner, and reads the first of their due events.
	Claim(ctx context.Context, endpoint, owner string, n int, lease time.Duration) ([]OutboundLease, error)
	// Events returns the org's events from version from to to, in
	// version order.
	Events(ctx context.Context, orgID string, from, to int64) ([]StoredEvent, error)
	// Renew extends owner's lease on an org whose delivered version is
	// still delivered; false when the lease is no longer owner's.
	Renew(ctx context.Context, endpoint, owner, orgID string, delivered int64, lease time.Duration) (bool, error)
	// Ack records deliveries (at most one per org), each only while owner
	// holds the org's lease and the event is the one after its delivered
	// version; it keeps the lease (for lease more) while events remain and
	// releases it otherwise.
	Ack(ctx context.Context, endpoint, owner string, lease time.Duration, acks []OutboundAck) ([]OutboundAcked, error)
	// Fail records a failed attempt and releases the lease: the event is
	// retried after f.Retry, or, past f.GiveUp since its first failure,
	// marked failed and the org's next event becomes due. It returns
	// whether it gave up and the attempts counted; held is false when the
	// lease was no longer owner's (nothing recorded).
	Fail(ctx context.Context, endpoint, owner string, f OutboundFailure) (gaveUp bool, attempts int, held bool, err error)
	// Release gives up owner's lease on an org, if still held.
	Release(ctx context.Context, endpoint, owner, orgID string) error
	// Oldest returns, per endpoint with undelivered events, the age of the
	// oldest.
	Oldest(ctx context.Context) (map[string]time.Duration, error)
	// Replay makes the org's events from version from (1 at least) due
	// again at every endpoint, in version order, and returns the org's
	// last version.
	Replay(ctx context.Context, endpoints []string, orgID string, from int64) (int64, error)
}
