package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/uptrace/bun"

	"github.com/safeclose/billing/domain/billing"
)

// LinksProjection keeps stripe_links: the organization each Stripe customer
// and subscription recorded in the ledger belongs to, old subscriptions
// included, so that late webhooks are routed to their org.
type LinksProjection struct {
	db *bun.DB
	// known remembers links read: a link, once written, never changes
	// (ON CONFLICT DO NOTHING), so a remembered one is never stale.
	known *lru.Cache[string, string]
}

// linkCacheSize bounds the links a LinksProjection remembers (about 100
// bytes each).
const linkCacheSize = 100_000

var _ Projection = (*LinksProjection)(nil)

// NewLinksProjection returns the projection, reading through db.
func NewLinksProjection(db *bun.DB) *LinksProjection {
	known, _ := lru.New[string, string](linkCacheSize)
	return &LinksProjection{db: db, known: known}
}

// Table implements [Projection].
func (*LinksProjection) Table() string { return "stripe_links" }

// StreamColumn implements [Projection].
func (*LinksProjection) StreamColumn() string { return "org_id" }

// linksShape: the first org to claim a Stripe id keeps it.
var linksShape = newShape("stripe_links", []string{"stripe_id", "org_id"}, []string{"stripe_id"}, true)

func (*LinksProjection) shape() shape { return linksShape }

type linkRow struct {
	bun.BaseModel `bun:"table:stripe_links"`

	StripeID string `bun:"stripe_id,pk"`
	OrgID    string `bun:"org_id"`
}

// rows implements [Projection]: every Stripe id the account has held. (A
// rebuild writes the ids in the order the ledger first named them, so
// that of two orgs naming one id the first keeps it, as live.)
func (*LinksProjection) rows(acc *billing.Account, _ time.Time) ([][]any, error) {
	ids := acc.StripeIDs()
	out := make([][]any, len(ids))
	for i, id := range ids {
		out[i] = []any{id, acc.OrgID()}
	}
	return out, nil
}

// stage implements [Projection]: the ids the account after holds and the
// account before did not (those were linked when it recorded them, to it
// or to the org that had them first).
func (p *LinksProjection) stage(b *batch, a appended) error {
	for _, id := range a.after.StripeIDsSince(a.prior) {
		b.add(linksShape.live, id, a.after.OrgID())
	}
	return nil
}

// OrgsOf implements [ports.StripeLinks] in one query.
func (p *LinksProjection) OrgsOf(ctx context.Context, stripeIDs ...string) (map[string]string, error) {
	out := map[string]string{}
	var unknown []string
	for _, id := range stripeIDs {
		if org, ok := p.known.Get(id); ok {
			out[id] = org
		} else {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) == 0 {
		return out, nil
	}
	var rows []linkRow
	if err := p.db.NewSelect().Model(&rows).Where("stripe_id IN (?)", bun.In(unknown)).Scan(ctx); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("read stripe links: %w", err)
	}
	for _, r := range rows {
		out[r.StripeID] = r.OrgID
		p.known.Add(r.StripeID, r.OrgID)
	}
	return out, nil
}
