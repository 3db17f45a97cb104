package ports

import (
	"context"
	"errors"
	"time"
)

// ErrConflict means the thing to create exists already.
var ErrConflict = errors.New("already exists")

// User is a person who can log in.
type User struct {
	ID           string
	Email        string
	PasswordHash []byte
	CreatedAt    time.Time
}

// Session is a login, known by the hash of its token only.
type Session struct {
	TokenHash  []byte
	UserID     string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time // absolute expiry
}

// Users stores users and their sessions. Implementations are safe for
// concurrent use.
type Users interface {
	// CreateUser stores u; ErrConflict when the email (case-insensitive) is taken.
	CreateUser(ctx context.Context, u User) error
	// UserByEmail returns the user with the email (case-insensitive), or ErrNotFound.
	UserByEmail(ctx context.Context, email string) (User, error)
	// UserByID returns the user, or ErrNotFound.
	UserByID(ctx context.Context, id string) (User, error)
	CreateSession(ctx context.Context, s Session) error
	// TouchSession returns the user of a live session and records its use
	// (an adapter may record it only once in a while, a minute say):
	// ErrNotFound when the session is unknown, expired, or idle since
	// before idleSince (expired sessions are deleted).
	TouchSession(ctx context.Context, tokenHash []byte, now, idleSince time.Time) (User, error)
	DeleteSession(ctx context.Context, tokenHash []byte) error
}

// Membership is a user's place in an organization.
type Membership struct {
	OrgID       string
	OrgName     string
	UserID      string
	Email       string
	Role        string
	Permissions []string
}

// Memberships reads the memberships read model.
type Memberships interface {
	// Membership returns the user's membership of the org, or ErrNotFound
	// (also when the org does not exist).
	Membership(ctx context.Context, orgID, userID string) (Membership, error)
	// OrgsOf returns the user's memberships, by org name.
	OrgsOf(ctx context.Context, userID string) ([]Membership, error)
	// Members returns the org's members, by email.
	Members(ctx context.Context, orgID string) ([]Membership, error)
}

// LimitKey is one count of login attempts: what is counted (an email, a
// client address) and how many attempts it may have within the window.
type LimitKey struct {
	Key   string
	Limit int // at least 1
}

// Reservation is an attempt counted by [LoginLimiter.Reserve], kept so that
// it can be refunded.
type Reservation struct {
	Keys []string
	At   time.Time // the attempt's time, at the store's precision
}

// LoginLimiter counts login attempts per key over a sliding window, in one
// place shared by every instance of the service. Implementations are safe
// for concurrent use.
type LoginLimiter interface {
	// Reserve counts one attempt at now against every key, atomically and
	// all or nothing: when any key already has Limit attempts counted after
	// now-window, it counts nothing and returns ok false. A refused attempt
	// is not counted, so it never extends the refusal.
	Reserve(ctx context.Context, keys []LimitKey, window time.Duration, now time.Time) (r Reservation, ok bool, err error)
	// Refund uncounts a reserved attempt (it was not a failure). Refunding
	// an attempt that has left the window does nothing.
	Refund(ctx context.Context, r Reservation) error
}
