// Package application holds the use cases of Safeclose Billing: commands
// that decide on an organization's billing account and append the events,
// and queries over the read models. It depends only on the domain and on
// ports.
package application

import (
	"context"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// Service runs the use cases. It is safe for concurrent use.
type Service struct {
	store   ports.EventStore
	status  ports.BillingStatusReader
	clock   ports.Clock
	log     *zap.Logger
	inbox   ports.Inbox
	links   ports.StripeLinks
	orgs    ports.OrgDirectory
	subs    ports.SubscriptionSource
	users   ports.Users
	member  ports.Memberships
	pay     ports.PaymentProvider
	base    string
	history ports.History

	catalogue billing.Catalogue
	grace     time.Duration
	prices    ports.PriceSource

	pending pending // work left to run after answering
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
	// BaseURL is the app's public origin: Stripe sends users back to
	// {BaseURL}/orgs/{orgId}/billing.
	BaseURL string
	// Plans is the plan catalogue; the zero Catalogue stands for
	// [billing.BuiltInCatalogue].
	Plans billing.Catalogue
	// Prices tells the paid tiers' prices; nil offers them unpriced.
	Prices ports.PriceSource
	// Grace is how long a past_due or unpaid org keeps its plan's
	// entitlements, counted from the first failed payment of the unpaid
	// period (BILLING_GRACE_DAYS); zero is none.
	Grace time.Duration
}

// NewService returns a Service over the given ports.
func NewService(d Deps) *Service {
	log := d.Log
	if log == nil {
		log = zap.NewNop()
	}
	s := &Service{store: d.Store, status: d.Status, clock: d.Clock, log: log,
		inbox: d.Inbox, links: d.Links, orgs: d.Orgs, subs: d.Subscriptions,
		users: d.Users, member: d.Memberships, pay: d.Payments, base: strings.TrimRight(d.BaseURL, "/"),
		history: d.History, catalogue: d.Plans, grace: d.Grace, prices: d.Prices}
	if len(s.catalogue.Plans()) == 0 {
		s.catalogue = billing.BuiltInCatalogue()
	}
	return s
}

// update runs a command's decision through the store's one write path
// (ports.EventStore.Update).
func (s *Service) update(ctx context.Context, orgID string, meta ports.Metadata, decide ports.Decide) (ports.Updated, error) {
	return s.store.Update(ctx, ports.Update{StreamID: orgID, Metadata: meta, Decide: decide})
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

// requestIDField is the request id of ctx as the first field of a line
// written through s.log.Check, as s.logger(ctx) would write it; for the
// lines of every request, where building a logger per line costs more
// than the line (or the level drops it).
func requestIDField(ctx context.Context) zap.Field {
	if id, ok := ctx.Value(requestIDKey{}).(string); ok && id != "" {
		return zap.String("requestId", id)
	}
	return zap.Skip()
}
