// Package application holds the use cases of Safeclose Billing: commands
// that decide on an organization's billing account and append the events,
// and queries over the read models. It depends only on the domain and on
// ports.
package application

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"go.uber.org/zap"

	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// CachedAccounts bounds the accounts a Service remembers between commands
// (about 1 KB each).
const CachedAccounts = 10_000

// MaxAppendAttempts bounds how often a command reloads and decides again
// after a version conflict (another writer appended to the same stream).
const MaxAppendAttempts = 10

// ErrBusy means a command lost the race for its stream MaxAppendAttempts
// times in a row. The caller may retry later (webhooks: Stripe will).
var ErrBusy = errors.New("stream too busy, try again")

// Service runs the use cases. It is safe for concurrent use.
type Service struct {
	store      ports.EventStore
	status     ports.BillingStatusReader
	clock      ports.Clock
	log        *zap.Logger
	inbox      ports.Inbox
	links      ports.StripeLinks
	orgs       ports.OrgDirectory
	subs       ports.SubscriptionSource
	users      ports.Users
	member     ports.Memberships
	pay        ports.PaymentProvider
	base       string
	history    ports.History
	snaps      ports.Snapshots
	onConflict func()

	// accounts remembers each org's account after this process's last
	// append to it. An account at a version is true forever, so a
	// remembered one is at worst behind: the append then conflicts, and
	// the command reads the snapshot and decides again.
	accounts *lru.Cache[string, *billing.Account]

	// streams serializes this process's writers of one stream, so that
	// concurrent deliveries for one org wait for each other instead of
	// racing and retrying; optimistic concurrency still arbitrates between
	// processes.
	streams [256]sync.Mutex
}

// Deps are the ports a Service needs.
type Deps struct {
	Store         ports.EventStore
	Status        ports.BillingStatusReader
	Clock         ports.Clock
	Log           *zap.Logger
	Inbox         ports.Inbox
	Links         ports.StripeLinks
	Orgs          ports.OrgDirectory
	Subscriptions ports.SubscriptionSource
	Users         ports.Users
	Memberships   ports.Memberships
	Payments      ports.PaymentProvider
	History       ports.History
	// Snapshots, when set, spares commands folding whole streams.
	Snapshots ports.Snapshots
	// OnConflict, when set, is called at each append that lost a version
	// race and is retried (a metric).
	OnConflict func()
	// BaseURL is the app's public origin: Stripe sends users back to
	// {BaseURL}/orgs/{orgId}/billing.
	BaseURL string
}

// NewService returns a Service over the given ports.
func NewService(d Deps) *Service {
	log := d.Log
	if log == nil {
		log = zap.NewNop()
	}
	accounts, _ := lru.New[string, *billing.Account](CachedAccounts)
	return &Service{accounts: accounts, store: d.Store, status: d.Status, clock: d.Clock, log: log,
		inbox: d.Inbox, links: d.Links, orgs: d.Orgs, subs: d.Subscriptions,
		users: d.Users, member: d.Memberships, pay: d.Payments, base: strings.TrimRight(d.BaseURL, "/"),
		history: d.History, snaps: d.Snapshots, onConflict: d.OnConflict}
}

// Decision is what a command decides on an account: the events to append,
// none to append nothing.
type Decision func(acc *billing.Account) ([]billing.Event, error)

// UpdateResult tells what [Service.update] did.
type UpdateResult struct {
	Account   *billing.Account // after the new events
	Appended  []ports.StoredEvent
	Duplicate bool // the idempotency key was already recorded
	Attempts  int
}

// update is the one write path: load the stream, fold it, decide, append
// at the loaded version; on a version conflict, start again, at most
// MaxAppendAttempts times.
func (s *Service) update(ctx context.Context, orgID string, meta ports.Metadata, key string, decide Decision) (UpdateResult, error) {
	return s.updateWith(ctx, orgID, meta, key, nil, decide)
}

// updateWith is update that also keeps a Stripe event in the inbox in the
// append's transaction.
func (s *Service) updateWith(ctx context.Context, orgID string, meta ports.Metadata, key string, inbox *ports.InboxEntry, decide Decision) (UpdateResult, error) {
	h := fnv.New32a()
	_, _ = h.Write([]byte(orgID))
	mu := &s.streams[h.Sum32()%uint32(len(s.streams))]
	mu.Lock()
	defer mu.Unlock()
	for attempt := 1; attempt <= MaxAppendAttempts; attempt++ {
		acc, remembered, err := s.loadForUpdate(ctx, orgID, attempt)
		if err != nil {
			return UpdateResult{}, err
		}
		events, err := decide(acc)
		if err != nil || len(events) == 0 {
			if remembered {
				// No append checks this decision against the ledger, and
				// another instance may have appended since this one
				// remembered the account: decide again on a fresh read.
				s.accounts.Remove(orgID)
				continue
			}
			return UpdateResult{Account: acc, Attempts: attempt}, err
		}
		req := ports.AppendRequest{StreamID: orgID, ExpectedVersion: acc.Version(), Metadata: meta, IdempotencyKey: key, Inbox: inbox, Prior: acc}
		for _, e := range events {
			data, err := billing.EncodeChange(e.Change)
			if err != nil {
				return UpdateResult{}, err
			}
			req.Events = append(req.Events, ports.NewEvent{Type: e.Type(), SchemaVersion: billing.SchemaVersion, Data: data, OccurredAt: e.OccurredAt})
		}
		res, err := s.store.Append(ctx, req)
		if errors.Is(err, ports.ErrVersionConflict) {
			s.accounts.Remove(orgID)
			if s.onConflict != nil {
				s.onConflict()
			}
			s.logger(ctx).Debug("append conflict, retrying", zap.String("orgId", orgID), zap.Int("attempt", attempt))
			backoff(ctx, attempt)
			continue
		}
		if err != nil {
			return UpdateResult{}, fmt.Errorf("append: %w", err)
		}
		if res.Duplicate {
			return UpdateResult{Account: acc, Duplicate: true, Attempts: attempt}, nil
		}
		for _, e := range events {
			acc.Apply(e)
		}
		s.accounts.Add(orgID, acc.Clone())
		return UpdateResult{Account: acc, Appended: res.Events, Attempts: attempt}, nil
	}
	return UpdateResult{}, ErrBusy
}

// backoff waits a little, growing with jitter, before the next attempt.
func backoff(ctx context.Context, attempt int) {
	d := time.Duration(1<<min(attempt, 7)) * time.Millisecond
	d += time.Duration(rand.Int64N(int64(d)))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// loadForUpdate loads the account for a command's attempt: the first
// from the account this process remembers (remembered true), else the
// snapshot; the second from the snapshot; later ones from the stream
// itself, in case the snapshot is behind.
func (s *Service) loadForUpdate(ctx context.Context, orgID string, attempt int) (acc *billing.Account, remembered bool, err error) {
	if attempt == 1 {
		if acc, ok := s.accounts.Get(orgID); ok {
			return acc.Clone(), true, nil
		}
	}
	if attempt > 2 {
		acc, err := s.loadAccount(ctx, orgID)
		return acc, false, err
	}
	acc, err = s.freshAccount(ctx, orgID)
	return acc, false, err
}

// freshAccount reads the account as the ledger has committed it: from the
// snapshot written with the stream's last append, else from the stream.
func (s *Service) freshAccount(ctx context.Context, orgID string) (*billing.Account, error) {
	if s.snaps == nil {
		return s.loadAccount(ctx, orgID)
	}
	snap, err := s.snaps.Snapshot(ctx, orgID)
	if errors.Is(err, ports.ErrNotFound) {
		return s.loadAccount(ctx, orgID)
	}
	if err != nil {
		return nil, err
	}
	acc, err := billing.RestoreAccount(snap)
	if err != nil || acc.OrgID() != orgID {
		// Another format (written before an upgrade) or damaged: fold.
		return s.loadAccount(ctx, orgID)
	}
	return acc, nil
}

func (s *Service) loadAccount(ctx context.Context, orgID string) (*billing.Account, error) {
	stored, err := s.store.Load(ctx, orgID)
	if err != nil {
		return nil, err
	}
	acc := billing.NewAccount(orgID)
	for _, e := range stored {
		de, err := billing.DecodeEvent(e.Type, e.SchemaVersion, e.Data, e.OccurredAt)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", orgID, err)
		}
		acc.Apply(de)
	}
	return acc, nil
}

type requestIDKey struct{}

// WithRequestID returns ctx carrying the id of the request being served,
// so that the use cases' log lines name it.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// logger is the service's logger with the request id of ctx, if any.
func (s *Service) logger(ctx context.Context) *zap.Logger {
	if id, ok := ctx.Value(requestIDKey{}).(string); ok && id != "" {
		return s.log.With(zap.String("requestId", id))
	}
	return s.log
}
