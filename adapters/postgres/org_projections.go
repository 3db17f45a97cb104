package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// OrgsProjection keeps orgs: every organization's name, from OrgCreated.
type OrgsProjection struct{}

var _ Projection = OrgsProjection{}

type orgRow struct {
	bun.BaseModel `bun:"table:orgs"`

	ID        string    `bun:"id,pk"`
	Name      string    `bun:"name"`
	CreatedAt time.Time `bun:"created_at"`
}

// Name implements [Projection].
func (OrgsProjection) Name() string { return "orgs" }

// Table implements [Projection].
func (OrgsProjection) Table() string { return "orgs" }

// StreamColumn implements [Projection].
func (OrgsProjection) StreamColumn() string { return "id" }

func orgRowsOf(events []ports.StoredEvent) ([]orgRow, error) {
	var rows []orgRow
	for _, e := range events {
		if e.Type != billing.TypeOrgCreated {
			continue
		}
		de, err := billing.DecodeEvent(e.Type, e.SchemaVersion, e.Data, e.OccurredAt)
		if err != nil {
			return nil, err
		}
		if row, ok := orgRowOf(e.StreamID, de); ok {
			rows = append(rows, row)
		}
	}
	return rows, nil
}

func orgRowOf(stream string, de billing.Event) (orgRow, bool) {
	c, ok := de.Change.(billing.OrgCreated)
	return orgRow{ID: stream, Name: c.Name, CreatedAt: de.OccurredAt}, ok
}

func writeOrgs(ctx context.Context, db bun.IDB, table string, rows []orgRow) error {
	if len(rows) == 0 {
		return nil
	}
	if _, err := writeOrgsQuery(db, table, rows).Exec(ctx); err != nil {
		return fmt.Errorf("write %s: %w", table, err)
	}
	return nil
}

func writeOrgsQuery(db bun.IDB, table string, rows []orgRow) *bun.InsertQuery {
	return db.NewInsert().Model(&rows).ModelTableExpr(table).On("CONFLICT (id) DO UPDATE").Set("name = EXCLUDED.name")
}

// batch implements [batchable].
func (OrgsProjection) batch(b *batch, _ *billing.Account, events []ports.StoredEvent, decoded []billing.Event) (bool, error) {
	for i, de := range decoded {
		if row, ok := orgRowOf(events[i].StreamID, de); ok {
			b.add("INSERT INTO orgs (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name",
				row.ID, row.Name, row.CreatedAt)
		}
	}
	return true, nil
}

// Project implements [Projection].
func (OrgsProjection) Project(ctx context.Context, tx bun.Tx, _ string, events []ports.StoredEvent) error {
	rows, err := orgRowsOf(events)
	if err != nil {
		return err
	}
	return writeOrgs(ctx, tx, "orgs", rows)
}

// NewBuilder implements [Projection].
func (OrgsProjection) NewBuilder() Builder { return &orgsBuilder{} }

type orgsBuilder struct{ rows []orgRow }

func (b *orgsBuilder) Add(e ports.StoredEvent, de billing.Event) error {
	if row, ok := orgRowOf(e.StreamID, de); ok {
		b.rows = append(b.rows, row)
	}
	return nil
}

func (b *orgsBuilder) Write(ctx context.Context, db bun.IDB, table string) error {
	for i := 0; i < len(b.rows); i += 1000 {
		if err := writeOrgs(ctx, db, table, b.rows[i:min(i+1000, len(b.rows))]); err != nil {
			return err
		}
	}
	return nil
}

// MembershipsProjection keeps memberships: who belongs to which org, with
// which role and permissions. Authorization reads it.
type MembershipsProjection struct{}

var _ Projection = MembershipsProjection{}

type membershipRow struct {
	bun.BaseModel `bun:"table:memberships"`

	OrgID       string   `bun:"org_id,pk"`
	UserID      string   `bun:"user_id,pk"`
	Role        string   `bun:"role"`
	Permissions []string `bun:"permissions,array"`
}

// Name implements [Projection].
func (MembershipsProjection) Name() string { return "memberships" }

// Table implements [Projection].
func (MembershipsProjection) Table() string { return "memberships" }

// StreamColumn implements [Projection].
func (MembershipsProjection) StreamColumn() string { return "org_id" }

// membershipChange folds one event into a member set keyed by user id;
// nil values mark removals.
func membershipChange(set map[string]*membershipRow, stream string, c billing.Change) {
	switch c := c.(type) {
	case billing.MemberAdded:
		perms := c.Permissions
		if c.Role == billing.RoleOwner {
			perms = billing.AllPermissions
		}
		set[c.UserID] = &membershipRow{OrgID: stream, UserID: c.UserID, Role: c.Role, Permissions: perms}
	case billing.MemberPermissionsChanged:
		if m := set[c.UserID]; m != nil {
			m.Permissions = c.Permissions
		}
	case billing.MemberRemoved:
		set[c.UserID] = nil
	}
}

// Project implements [Projection].
func (MembershipsProjection) Project(ctx context.Context, tx bun.Tx, stream string, events []ports.StoredEvent) error {
	if !slices.ContainsFunc(events, func(e ports.StoredEvent) bool { return strings.HasPrefix(e.Type, "Member") }) {
		return nil // the webhook path: nothing to do, no query
	}
	var current []membershipRow
	if err := tx.NewSelect().Model(&current).Where("org_id = ?", stream).Scan(ctx); err != nil {
		return fmt.Errorf("read memberships: %w", err)
	}
	set := map[string]*membershipRow{}
	for i := range current {
		set[current[i].UserID] = &current[i]
	}
	for _, e := range events {
		if !strings.HasPrefix(e.Type, "Member") {
			continue
		}
		c, err := billing.DecodeChange(e.Type, e.SchemaVersion, e.Data)
		if err != nil {
			return err
		}
		membershipChange(set, stream, c)
	}
	return writeMembers(ctx, tx, "memberships", stream, set)
}

// batch implements [batchable]: membership changes read the org's members
// and take the transactional path; other events change nothing here.
func (MembershipsProjection) batch(_ *batch, _ *billing.Account, events []ports.StoredEvent, _ []billing.Event) (bool, error) {
	return !slices.ContainsFunc(events, func(e ports.StoredEvent) bool { return strings.HasPrefix(e.Type, "Member") }), nil
}

func writeMembers(ctx context.Context, db bun.IDB, table, org string, set map[string]*membershipRow) error {
	var rows []membershipRow
	for user, m := range set {
		if m == nil {
			if _, err := db.ExecContext(ctx, "DELETE FROM ? WHERE org_id = ? AND user_id = ?", bun.Ident(table), org, user); err != nil {
				return fmt.Errorf("write %s: %w", table, err)
			}
			continue
		}
		rows = append(rows, *m)
	}
	if len(rows) == 0 {
		return nil
	}
	_, err := db.NewInsert().Model(&rows).ModelTableExpr(table).On("CONFLICT (org_id, user_id) DO UPDATE").
		Set("role = EXCLUDED.role").Set("permissions = EXCLUDED.permissions").Exec(ctx)
	if err != nil {
		return fmt.Errorf("write %s: %w", table, err)
	}
	return nil
}

// NewBuilder implements [Projection].
func (MembershipsProjection) NewBuilder() Builder {
	return &membersBuilder{orgs: map[string]map[string]*membershipRow{}}
}

type membersBuilder struct {
	orgs map[string]map[string]*membershipRow
}

func (b *membersBuilder) Add(e ports.StoredEvent, de billing.Event) error {
	if !strings.HasPrefix(e.Type, "Member") {
		return nil
	}
	set := b.orgs[e.StreamID]
	if set == nil {
		set = map[string]*membershipRow{}
		b.orgs[e.StreamID] = set
	}
	membershipChange(set, e.StreamID, de.Change)
	return nil
}

func (b *membersBuilder) Write(ctx context.Context, db bun.IDB, table string) error {
	for org, set := range b.orgs {
		if err := writeMembers(ctx, db, table, org, set); err != nil {
			return err
		}
	}
	return nil
}
