package postgres

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/safeclose/billing/ports"
)

// Orgs answers whether an organization exists.
type Orgs struct {
	db *bun.DB
}

var _ ports.OrgDirectory = (*Orgs)(nil)

// NewOrgs returns the org directory over db.
func NewOrgs(db *bun.DB) *Orgs { return &Orgs{db: db} }

// OrgExists implements [ports.OrgDirectory].
func (o *Orgs) OrgExists(ctx context.Context, orgID string) (bool, error) {
	ok, err := o.db.NewSelect().Table("orgs").Where("id = ?", orgID).Exists(ctx)
	if err != nil {
		return false, fmt.Errorf("look up org: %w", err)
	}
	return ok, nil
}
