package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/safeclose/billing/ports"
)

// Inbox is the Postgres stripe_inbox. It is safe for concurrent use.
type Inbox struct {
	db    *bun.DB
	clock ports.Clock
}

var _ ports.Inbox = (*Inbox)(nil)

// NewInbox returns the inbox over db.
func NewInbox(db *bun.DB, clock ports.Clock) *Inbox { return &Inbox{db: db, clock: clock} }

type inboxRow struct {
	bun.BaseModel `bun:"table:stripe_inbox,alias:stripe_inbox"`

	ID             string     `bun:"id,pk"`
	Type           string     `bun:"type"`
	APIVersion     string     `bun:"api_version"`
	Created        time.Time  `bun:"created"`
	Payload        jsonText   `bun:"payload"`
	ReceivedAt     time.Time  `bun:"received_at"`
	Deliveries     int        `bun:"deliveries"`
	Outcome        string     `bun:"outcome"`
	OrgID          *string    `bun:"org_id"`
	Detail         string     `bun:"detail"`
	SettledAt      *time.Time `bun:"settled_at"`
	FactType       string     `bun:"fact_type"`
	Fact           jsonText   `bun:"fact,nullzero"`
	OrgHint        string     `bun:"org_hint"`
	CustomerID     string     `bun:"customer_id"`
	SubscriptionID string     `bun:"subscription_id"`
}

func (r inboxRow) entry() ports.InboxEntry {
	e := ports.InboxEntry{ID: r.ID, Type: r.Type, APIVersion: r.APIVersion, Created: r.Created.UTC(), Payload: json.RawMessage(r.Payload),
		ReceivedAt: r.ReceivedAt.UTC(), Deliveries: r.Deliveries, Outcome: r.Outcome, Detail: r.Detail,
		FactType: r.FactType, Fact: json.RawMessage(r.Fact), OrgHint: r.OrgHint, CustomerID: r.CustomerID, SubscriptionID: r.SubscriptionID}
	if r.OrgID != nil {
		e.OrgID = *r.OrgID
	}
	return e
}

// Receive implements [ports.Inbox].
func (in *Inbox) Receive(ctx context.Context, e ports.InboxEntry) (ports.InboxEntry, bool, error) {
	row := inboxRow{ID: e.ID, Type: e.Type, APIVersion: e.APIVersion, Created: e.Created, Payload: jsonText(e.Payload),
		ReceivedAt: in.clock.Now(), Deliveries: 1, Outcome: ports.OutcomeReceived, FactType: e.FactType, Fact: jsonText(e.Fact),
		OrgHint: e.OrgHint, CustomerID: e.CustomerID, SubscriptionID: e.SubscriptionID}
	res, err := in.db.NewInsert().Model(&row).On("CONFLICT (id) DO NOTHING").Exec(ctx)
	if err != nil {
		return ports.InboxEntry{}, false, fmt.Errorf("receive stripe event: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return row.entry(), true, nil
	}
	var stored inboxRow
	err = in.db.NewUpdate().Model(&stored).Set("deliveries = deliveries + 1").Where("id = ?", e.ID).
		Returning("*").Scan(ctx)
	if err != nil {
		return ports.InboxEntry{}, false, fmt.Errorf("count stripe event delivery: %w", err)
	}
	return stored.entry(), false, nil
}

// Seen reports whether a Stripe event with the id was ever received.
func (in *Inbox) Seen(ctx context.Context, id string) (bool, error) {
	var seen bool
	if err := in.db.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM stripe_inbox WHERE id = ?)", id).Scan(&seen); err != nil {
		return false, fmt.Errorf("look up stripe event: %w", err)
	}
	return seen, nil
}

// Settle implements [ports.Inbox]. Only a received or parked event is
// settled: a slower concurrent attempt never rewrites a final outcome.
func (in *Inbox) Settle(ctx context.Context, id, outcome, orgID, detail string) error {
	q := in.db.NewUpdate().Table("stripe_inbox").
		Set("outcome = ?", outcome).Set("org_id = NULLIF(?, '')", orgID).Set("detail = ?", detail).
		Set("settled_at = ?", in.clock.Now()).Where("id = ?", id).
		Where("outcome IN (?)", bun.In([]string{ports.OutcomeReceived, ports.OutcomeParked}))
	if _, err := q.Exec(ctx); err != nil {
		return fmt.Errorf("settle stripe event: %w", err)
	}
	return nil
}

// Parked implements [ports.Inbox].
func (in *Inbox) Parked(ctx context.Context, stripeIDs []string) ([]ports.InboxEntry, error) {
	var rows []inboxRow
	err := in.db.NewSelect().Model(&rows).
		Where("outcome = ?", ports.OutcomeParked).
		WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
			return q.Where("customer_id IN (?)", bun.In(stripeIDs)).WhereOr("subscription_id IN (?)", bun.In(stripeIDs))
		}).
		Order("created", "id").Scan(ctx)
	if err != nil && err != sql.ErrNoRows {
		return nil, fmt.Errorf("read parked stripe events: %w", err)
	}
	out := make([]ports.InboxEntry, len(rows))
	for i, r := range rows {
		out[i] = r.entry()
	}
	return out, nil
}

// addKeepApplied records a Stripe event as applied to stream, in the
// append's batch: a new row, or a known one (parked, received) settled,
// its delivery counted.
func addKeepApplied(b *batch, e ports.InboxEntry, stream string, now time.Time) {
	var fact any
	if len(e.Fact) > 0 {
		fact = jsonText(e.Fact)
	}
	b.add(`INSERT INTO stripe_inbox AS i (id, type, api_version, created, payload, received_at, deliveries, outcome,
		org_id, detail, settled_at, fact_type, fact, org_hint, customer_id, subscription_id)
		VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, '', $6, $9, $10, $11, $12, $13)
		ON CONFLICT (id) DO UPDATE SET outcome = EXCLUDED.outcome, org_id = EXCLUDED.org_id, detail = '',
		settled_at = EXCLUDED.settled_at, deliveries = i.deliveries + 1`,
		e.ID, e.Type, e.APIVersion, e.Created, jsonText(e.Payload), now, ports.OutcomeApplied,
		stream, e.FactType, fact, e.OrgHint, e.CustomerID, e.SubscriptionID)
}

// ParkedCount returns how many events are parked.
func (in *Inbox) ParkedCount(ctx context.Context) (int, error) {
	return in.db.NewSelect().Table("stripe_inbox").Where("outcome = ?", ports.OutcomeParked).Count(ctx)
}
