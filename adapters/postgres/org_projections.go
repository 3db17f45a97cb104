package postgres

import (
	"context"
	"fmt"
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

func orgRowOf(stream string, de billing.Event) (orgRow, bool) {
	c, ok := de.Change.(billing.OrgCreated)
	return orgRow{ID: stream, Name: c.Name, CreatedAt: de.OccurredAt}, ok
}

func writeOrgs(ctx context.Context, db bun.IDB, table string, rows []orgRow) error {
	if len(rows) == 0 {
		return nil
	}
	_, err := db.NewInsert().Model(&rows).ModelTableExpr(table).On("CONFLICT (id) DO UPDATE").Set("name = EXCLUDED.name").Exec(ctx)
	if err != nil {
		return fmt.Errorf("write %s: %w", table, err)
	}
	return nil
}

// stage implements [Projection].
func (OrgsProjection) stage(b *batch, a appended) error {
	for i, de := range a.decoded {
		if row, ok := orgRowOf(a.events[i].StreamID, de); ok {
			b.add("INSERT INTO orgs (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name",
				row.ID, row.Name, row.CreatedAt)
		}
	}
	return nil
}

// NewBuilder implements [Projection].
func (OrgsProjection) NewBuilder() Builder { return &orgsBuilder{at: map[string]int{}} }

type orgsBuilder struct {
	rows []orgRow
	at   map[string]int // index in rows, by org
}

// Add implements [Builder]. A later OrgCreated of the same org renames it,
// as the live upsert does.
func (b *orgsBuilder) Add(e ports.StoredEvent, de billing.Event) error {
	row, ok := orgRowOf(e.StreamID, de)
	if !ok {
		return nil
	}
	if i, seen := b.at[row.ID]; seen {
		b.rows[i].Name = row.Name
		return nil
	}
	b.at[row.ID] = len(b.rows)
	b.rows = append(b.rows, row)
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
		set[c.UserID] = &membershipRow{OrgID: stream, UserID: c.UserID, Role: c.Role, Permissions: billing.PermissionsOf(c.Role, c.Permissions)}
	case billing.MemberPermissionsChanged:
		if m := set[c.UserID]; m != nil {
			m.Permissions = billing.PermissionsOf(m.Role, c.Permissions)
		}
	case billing.MemberRemoved:
		set[c.UserID] = nil
	}
}

// stage implements [Projection]: each member an event names, as the
// account after the events has them (absent: removed).
func (MembershipsProjection) stage(b *batch, a appended) error {
	for _, de := range a.decoded {
		var user string
		switch c := de.Change.(type) {
		case billing.MemberAdded:
			user = c.UserID
		case billing.MemberPermissionsChanged:
			user = c.UserID
		case billing.MemberRemoved:
			user = c.UserID
		default:
			continue
		}
		m, ok := a.after.Member(user)
		if !ok {
			b.add("DELETE FROM memberships WHERE org_id = $1 AND user_id = $2", a.after.OrgID(), user)
			continue
		}
		b.add(`INSERT INTO memberships (org_id, user_id, role, permissions) VALUES ($1, $2, $3, $4)
			ON CONFLICT (org_id, user_id) DO UPDATE SET role = EXCLUDED.role, permissions = EXCLUDED.permissions`,
			a.after.OrgID(), user, m.Role, m.Permissions)
	}
	return nil
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
