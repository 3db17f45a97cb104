package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/uptrace/bun"

	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
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

// Name implements [Projection].
func (*LinksProjection) Name() string { return "stripe_links" }

// Table implements [Projection].
func (*LinksProjection) Table() string { return "stripe_links" }

// StreamColumn implements [Projection].
func (*LinksProjection) StreamColumn() string { return "org_id" }

type linkRow struct {
	bun.BaseModel `bun:"table:stripe_links"`

	StripeID string `bun:"stripe_id,pk"`
	OrgID    string `bun:"org_id"`
}

func linksOf(stream string, de billing.Event) []linkRow {
	var out []linkRow
	cus, sub := billing.StripeIDs(de.Change)
	for _, id := range []string{cus, sub} {
		if id != "" {
			out = append(out, linkRow{StripeID: id, OrgID: stream})
		}
	}
	return out
}

// insertLinks writes rows; the first link of a Stripe id wins.
func insertLinks(ctx context.Context, db bun.IDB, table string, rows []linkRow) error {
	if len(rows) == 0 {
		return nil
	}
	if _, err := db.NewInsert().Model(&rows).ModelTableExpr(table).On("CONFLICT (stripe_id) DO NOTHING").Exec(ctx); err != nil {
		return fmt.Errorf("insert %s: %w", table, err)
	}
	return nil
}

// stage implements [Projection]. The ids the prior account holds were
// linked when it recorded them (to it, or to the org that had them first),
// so only new ids are written.
func (p *LinksProjection) stage(b *batch, a appended) error {
	for i, de := range a.decoded {
		for _, r := range linksOf(a.events[i].StreamID, de) {
			if !a.prior.KnowsStripeID(r.StripeID) {
				b.add("INSERT INTO stripe_links (stripe_id, org_id) VALUES ($1, $2) ON CONFLICT (stripe_id) DO NOTHING", r.StripeID, r.OrgID)
			}
		}
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

// NewBuilder implements [Projection].
func (*LinksProjection) NewBuilder() Builder { return &linksBuilder{links: map[string]string{}} }

type linksBuilder struct {
	links map[string]string
}

// Add implements [Builder]. (No COPY for links: one Stripe id may appear in
// two streams' facts, and the first link must win without failing.)
func (b *linksBuilder) Add(e ports.StoredEvent, de billing.Event) error {
	cus, sub := billing.StripeIDs(de.Change)
	for _, id := range [2]string{cus, sub} {
		if _, seen := b.links[id]; id != "" && !seen {
			b.links[id] = e.StreamID
		}
	}
	return nil
}

func (b *linksBuilder) Write(ctx context.Context, db bun.IDB, table string) error {
	rows := make([]linkRow, 0, 1000)
	for id, org := range b.links {
		rows = append(rows, linkRow{StripeID: id, OrgID: org})
		if len(rows) == cap(rows) {
			if err := insertLinks(ctx, db, table, rows); err != nil {
				return err
			}
			rows = rows[:0]
		}
	}
	return insertLinks(ctx, db, table, rows)
}
