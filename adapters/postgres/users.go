package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/safeclose/billing/ports"
)

// Users is the Postgres store of users, sessions and memberships. It is
// safe for concurrent use.
type Users struct {
	db *bun.DB
}

var (
	_ ports.Users       = (*Users)(nil)
	_ ports.Memberships = (*Users)(nil)
)

// NewUsers returns the store over db.
func NewUsers(db *bun.DB) *Users { return &Users{db: db} }

type userRow struct {
	bun.BaseModel `bun:"table:users"`

	ID           string    `bun:"id,pk"`
	Email        string    `bun:"email"`
	PasswordHash string    `bun:"password_hash"`
	CreatedAt    time.Time `bun:"created_at"`
}

func (r userRow) user() ports.User {
	return ports.User{ID: r.ID, Email: r.Email, PasswordHash: []byte(r.PasswordHash), CreatedAt: r.CreatedAt.UTC()}
}

// CreateUser implements [ports.Users].
func (u *Users) CreateUser(ctx context.Context, user ports.User) error {
	row := userRow{ID: user.ID, Email: user.Email, PasswordHash: string(user.PasswordHash), CreatedAt: user.CreatedAt}
	if _, err := u.db.NewInsert().Model(&row).Exec(ctx); err != nil {
		if uniqueViolation(err, "users_email_key") {
			return ports.ErrConflict
		}
		return fmt.Errorf("create user: %w", err)
	}
	return nil
}

func (u *Users) userWhere(ctx context.Context, where string, arg any) (ports.User, error) {
	var row userRow
	err := u.db.NewSelect().Model(&row).Where(where, arg).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return ports.User{}, ports.ErrNotFound
	}
	if err != nil {
		return ports.User{}, fmt.Errorf("read user: %w", err)
	}
	return row.user(), nil
}

// UserByEmail implements [ports.Users].
func (u *Users) UserByEmail(ctx context.Context, email string) (ports.User, error) {
	return u.userWhere(ctx, "lower(email) = lower(?)", strings.TrimSpace(email))
}

// UserByID implements [ports.Users].
func (u *Users) UserByID(ctx context.Context, id string) (ports.User, error) {
	return u.userWhere(ctx, "id = ?", id)
}

// CreateSession implements [ports.Users].
func (u *Users) CreateSession(ctx context.Context, s ports.Session) error {
	_, err := u.db.ExecContext(ctx,
		"INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?)",
		s.TokenHash, s.UserID, s.CreatedAt, s.LastSeenAt, s.ExpiresAt)
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// SessionTouchEvery is how often a session's use is written: the idle
// timeout then counts from up to this much before the last use.
const SessionTouchEvery = time.Minute

// TouchSession implements [ports.Users].
func (u *Users) TouchSession(ctx context.Context, hash []byte, now, idleSince time.Time) (ports.User, error) {
	// A use is written only when the last one recorded is older than
	// SessionTouchEvery: most requests then only read, and commit nothing.
	var row userRow
	err := u.db.DB.QueryRowContext(ctx, `WITH live AS (
			SELECT s.token_hash, s.last_seen_at, u.id, u.email, u.password_hash, u.created_at
			FROM sessions s JOIN users u ON u.id = s.user_id
			WHERE s.token_hash = $1 AND s.expires_at > $2 AND s.last_seen_at > $3),
		touched AS (
			UPDATE sessions s SET last_seen_at = $2 FROM live
			WHERE s.token_hash = live.token_hash AND live.last_seen_at <= $4)
		SELECT id, email, password_hash, created_at FROM live`,
		prepared(hash, now, idleSince, now.Add(-SessionTouchEvery))...).Scan(&row.ID, &row.Email, &row.PasswordHash, &row.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		// Unknown or dead: make sure a dead one is gone.
		if _, err := u.db.ExecContext(ctx, "DELETE FROM sessions WHERE token_hash = ?", hash); err != nil {
			return ports.User{}, fmt.Errorf("delete session: %w", err)
		}
		return ports.User{}, ports.ErrNotFound
	}
	if err != nil {
		return ports.User{}, fmt.Errorf("read session: %w", err)
	}
	return row.user(), nil
}

// DeleteSession implements [ports.Users].
func (u *Users) DeleteSession(ctx context.Context, hash []byte) error {
	if _, err := u.db.ExecContext(ctx, "DELETE FROM sessions WHERE token_hash = ?", hash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

const membershipSelect = `SELECT m.org_id, o.name AS org_name, m.user_id, u.email, m.role, m.permissions
	FROM memberships m JOIN orgs o ON o.id = m.org_id JOIN users u ON u.id = m.user_id `

// memberships reads the memberships where says ($n placeholders), in
// order, as a prepared statement: Authorize reads one on most requests.
func (u *Users) memberships(ctx context.Context, where, order string, args ...any) ([]ports.Membership, error) {
	rows, err := u.db.DB.QueryContext(ctx, membershipSelect+where+" ORDER BY "+order, prepared(args...)...)
	if err != nil {
		return nil, fmt.Errorf("read memberships: %w", err)
	}
	defer rows.Close()
	out := []ports.Membership{}
	for rows.Next() {
		var m ports.Membership
		if err := rows.Scan(&m.OrgID, &m.OrgName, &m.UserID, &m.Email, &m.Role, pgdialect.Array(&m.Permissions)); err != nil {
			return nil, fmt.Errorf("read memberships: %w", err)
		}
		if m.Permissions == nil {
			m.Permissions = []string{}
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read memberships: %w", err)
	}
	return out, nil
}

// Membership implements [ports.Memberships].
func (u *Users) Membership(ctx context.Context, orgID, userID string) (ports.Membership, error) {
	ms, err := u.memberships(ctx, "WHERE m.org_id = $1 AND m.user_id = $2", "m.org_id", orgID, userID)
	if err != nil {
		return ports.Membership{}, err
	}
	if len(ms) == 0 {
		return ports.Membership{}, ports.ErrNotFound
	}
	return ms[0], nil
}

// OrgsOf implements [ports.Memberships].
func (u *Users) OrgsOf(ctx context.Context, userID string) ([]ports.Membership, error) {
	return u.memberships(ctx, "WHERE m.user_id = $1", "o.name, m.org_id", userID)
}

// Members implements [ports.Memberships].
func (u *Users) Members(ctx context.Context, orgID string) ([]ports.Membership, error) {
	return u.memberships(ctx, "WHERE m.org_id = $1", "lower(u.email), m.user_id", orgID)
}
