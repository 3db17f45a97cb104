package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/uptrace/bun"
)

// The rebuild makes each table anew with CREATE TABLE … (LIKE … INCLUDING
// ALL), which copies columns, defaults, constraints, indexes, storage and
// compression, but not the table's storage parameters, its privileges or
// its owner. These functions carry them over from the catalog: identifiers
// are quoted (bun.Ident), option values are bound as literals, and
// privilege keywords come from a fixed list, never from catalog text.

// regclass is the text form of table for to_regclass: quoted, so that it
// names the table bun.Ident(table) names.
func regclass(table string) string { return pgx.Identifier{table}.Sanitize() }

// copyStorageParameters gives table to the storage parameters
// (pg_class.reloptions, such as fillfactor) of table from, and those of
// its TOAST table (the toast.* parameters).
func copyStorageParameters(ctx context.Context, db bun.IDB, from, to string) error {
	type option struct {
		Toast bool   `bun:"toast"`
		Name  string `bun:"option_name"`
		Value string `bun:"option_value"`
	}
	var opts []option
	err := db.NewRaw(`SELECT r.toast, o.option_name, o.option_value
		FROM (SELECT false AS toast, c.reloptions FROM pg_class c WHERE c.oid = to_regclass(?0)
		      UNION ALL
		      SELECT true, t.reloptions FROM pg_class c JOIN pg_class t ON t.oid = c.reltoastrelid WHERE c.oid = to_regclass(?0)) r,
		     pg_options_to_table(r.reloptions) o`, regclass(from)).Scan(ctx, &opts)
	if err != nil {
		return fmt.Errorf("read storage parameters of %s: %w", from, err)
	}
	for _, o := range opts {
		q, args := "ALTER TABLE ? SET (? = ?)", []any{bun.Ident(to), bun.Ident(o.Name), o.Value}
		if o.Toast {
			q, args = "ALTER TABLE ? SET (toast.? = ?)", []any{bun.Ident(to), bun.Ident(o.Name), o.Value}
		}
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("set storage parameter %s: %w", o.Name, err)
		}
	}
	return nil
}

// privilegeKeyword returns the keyword GRANT takes for aclexplode's
// privilege_type, from a fixed list.
func privilegeKeyword(privilege string) (string, bool) {
	switch privilege {
	case "SELECT":
		return "SELECT", true
	case "INSERT":
		return "INSERT", true
	case "UPDATE":
		return "UPDATE", true
	case "DELETE":
		return "DELETE", true
	case "TRUNCATE":
		return "TRUNCATE", true
	case "REFERENCES":
		return "REFERENCES", true
	case "TRIGGER":
		return "TRIGGER", true
	case "MAINTAIN": // PostgreSQL 17
		return "MAINTAIN", true
	}
	return "", false
}

// copyAccess gives table to (made by the current user) the privileges —
// on the table and on its columns — and the owner of table from. Each
// privilege is granted anew by the current user, then the owner change
// makes the owner their grantor, as for the live table's own grants; a
// grant that another role made through a grant option is recorded as the
// owner's.
func copyAccess(ctx context.Context, db bun.IDB, from, to string) error {
	var (
		hasACL       bool
		owner, actor string
	)
	err := db.QueryRowContext(ctx, "SELECT relacl IS NOT NULL, pg_get_userbyid(relowner), current_user FROM pg_class WHERE oid = to_regclass(?)", regclass(from)).
		Scan(&hasACL, &owner, &actor)
	if err != nil {
		return fmt.Errorf("read owner of %s: %w", from, err)
	}
	type grant struct {
		Column    string `bun:"column_name"` // "" for the table
		Privilege string `bun:"privilege_type"`
		Grantee   string `bun:"grantee"` // "" for PUBLIC
		Grantable bool   `bun:"is_grantable"`
	}
	var grants []grant
	err = db.NewRaw(`SELECT '' AS column_name, a.privilege_type, CASE WHEN a.grantee = 0 THEN '' ELSE pg_get_userbyid(a.grantee) END AS grantee, a.is_grantable
		FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = to_regclass(?0)
		UNION ALL
		SELECT att.attname, a.privilege_type, CASE WHEN a.grantee = 0 THEN '' ELSE pg_get_userbyid(a.grantee) END, a.is_grantable
		FROM pg_attribute att, aclexplode(att.attacl) a WHERE att.attrelid = to_regclass(?0) AND att.attnum > 0 AND NOT att.attisdropped`, regclass(from)).
		Scan(ctx, &grants)
	if err != nil {
		return fmt.Errorf("read privileges on %s: %w", from, err)
	}
	if hasACL {
		// Start from no privileges rather than the owner's default ones:
		// the owner gets back exactly those the live table gives it.
		if _, err := db.ExecContext(ctx, "REVOKE ALL ON TABLE ? FROM CURRENT_USER", bun.Ident(to)); err != nil {
			return fmt.Errorf("revoke default privileges: %w", err)
		}
	}
	for _, g := range grants {
		keyword, ok := privilegeKeyword(g.Privilege)
		if !ok {
			return fmt.Errorf("copy privileges of %s: unknown privilege %q", from, g.Privilege)
		}
		var grantee any = bun.Safe("PUBLIC")
		if g.Grantee != "" {
			grantee = bun.Ident(g.Grantee)
		}
		option := bun.Safe("")
		if g.Grantable {
			option = bun.Safe("WITH GRANT OPTION")
		}
		q, args := "GRANT "+keyword+" ON TABLE ? TO ? ?", []any{bun.Ident(to), grantee, option}
		if g.Column != "" {
			q, args = "GRANT "+keyword+" (?) ON TABLE ? TO ? ?", []any{bun.Ident(g.Column), bun.Ident(to), grantee, option}
		}
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("grant %s on %s: %w", keyword, to, err)
		}
	}
	if owner != actor {
		if _, err := db.ExecContext(ctx, "ALTER TABLE ? OWNER TO ?", bun.Ident(to), bun.Ident(owner)); err != nil {
			return fmt.Errorf("give %s to its owner: %w", to, err)
		}
	}
	return nil
}
