package application

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"net/mail"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/safeclose/billing/ports"
)

// Session lifetimes: a session dies after SessionIdle without use, and
// after SessionMaxAge whatever happens.
const (
	SessionIdle   = 24 * time.Hour
	SessionMaxAge = 30 * 24 * time.Hour
	bcryptCost    = 11
)

// Failed logins are limited over a sliding LoginWindow: LoginsPerEmail
// per email and LoginsPerAddress per client address.
const (
	LoginWindow      = time.Minute
	LoginsPerEmail   = 10
	LoginsPerAddress = 100
)

// Identity runs logins and sessions. It is safe for concurrent use.
type Identity struct {
	users  ports.Users
	limits ports.LoginLimiter
	clock  ports.Clock

	dummyOnce sync.Once
	dummy     []byte
}

// NewIdentity returns the identity use cases over users, counting login
// attempts with limits.
func NewIdentity(users ports.Users, limits ports.LoginLimiter, clock ports.Clock) *Identity {
	return &Identity{users: users, limits: limits, clock: clock}
}

// NewID returns a random id with the prefix, such as "org_…".
func NewID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// CreateUser creates a user with a bcrypt-hashed password.
func (id *Identity) CreateUser(ctx context.Context, email, password string) (ports.User, error) {
	email = strings.TrimSpace(email)
	if err := checkText("email", email); err != nil {
		return ports.User{}, err
	}
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email {
		return ports.User{}, invalid("email", "must be an email address")
	}
	if len(password) < 8 || len(password) > 72 {
		return ports.User{}, invalid("password", "must be 8 to 72 bytes long")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
	if err != nil {
		return ports.User{}, err
	}
	u := ports.User{ID: NewID("usr"), Email: email, PasswordHash: hash, CreatedAt: id.clock.Now()}
	if err := id.users.CreateUser(ctx, u); err != nil {
		if errors.Is(err, ports.ErrConflict) {
			return ports.User{}, invalid("email", "is already registered")
		}
		return ports.User{}, err
	}
	return u, nil
}

// Login checks the password and opens a new session, returning its token.
// An unknown email and a wrong password fail alike, and in about the same
// time: the password is checked against a dummy hash when there is no user.
//
// Every attempt is counted against the email and the client address (the
// zero Addr when unknown: then only the email) before the password is
// checked, and refunded when the password is right: concurrent guesses
// cannot pass a limit that each checks before the others are counted.
// Past a limit, Login returns ErrRateLimited without checking anything.
func (id *Identity) Login(ctx context.Context, email, password string, client netip.Addr) (string, error) {
	email = strings.TrimSpace(email)
	if err := checkText("email", email); err != nil {
		return "", err
	}
	keys := []ports.LimitKey{{Key: "email:" + strings.ToLower(email), Limit: LoginsPerEmail}}
	if client.IsValid() {
		keys = append(keys, ports.LimitKey{Key: "addr:" + addressKey(client), Limit: LoginsPerAddress})
	}
	reserved, ok, err := id.limits.Reserve(ctx, keys, LoginWindow, id.clock.Now())
	if err != nil {
		return "", fmt.Errorf("count login attempt: %w", err)
	}
	if !ok {
		return "", ErrRateLimited
	}
	u, err := id.checkPassword(ctx, email, password)
	if errors.Is(err, ErrInvalidCredentials) {
		return "", err // counted
	}
	if rerr := id.limits.Refund(ctx, reserved); rerr != nil {
		err = errors.Join(err, fmt.Errorf("refund login attempt: %w", rerr))
	}
	if err != nil {
		return "", err
	}
	return id.OpenSession(ctx, u.ID)
}

// checkPassword returns the user whose email and password these are, or
// ErrInvalidCredentials.
func (id *Identity) checkPassword(ctx context.Context, email, password string) (ports.User, error) {
	u, err := id.users.UserByEmail(ctx, email)
	switch {
	case errors.Is(err, ports.ErrNotFound):
		_ = bcrypt.CompareHashAndPassword(id.dummyHash(), []byte(password))
		return ports.User{}, ErrInvalidCredentials
	case err != nil:
		return ports.User{}, err
	}
	if bcrypt.CompareHashAndPassword(u.PasswordHash, []byte(password)) != nil {
		return ports.User{}, ErrInvalidCredentials
	}
	return u, nil
}

// addressKey is what a client address is counted as: an IPv4 address
// itself, an IPv6 address by its /64, the smallest block a site is given
// (one client may use any address in it).
func addressKey(a netip.Addr) string {
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

func (id *Identity) dummyHash() []byte {
	id.dummyOnce.Do(func() {
		id.dummy, _ = bcrypt.GenerateFromPassword([]byte("no such user, no such password"), bcryptCost)
	})
	return id.dummy
}

// OpenSession returns a new session token for the user: 256 random bits,
// of which only the SHA-256 is stored.
func (id *Identity) OpenSession(ctx context.Context, userID string) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	token := base64.RawURLEncoding.EncodeToString(b[:])
	now := id.clock.Now()
	err := id.users.CreateSession(ctx, ports.Session{TokenHash: tokenHash(token), UserID: userID,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(SessionMaxAge)})
	if err != nil {
		return "", err
	}
	return token, nil
}

// SessionForEmail opens a session for the user with the email (operator command).
func (id *Identity) SessionForEmail(ctx context.Context, email string) (string, error) {
	if err := checkText("email", email); err != nil {
		return "", err
	}
	u, err := id.users.UserByEmail(ctx, email)
	if errors.Is(err, ports.ErrNotFound) {
		return "", invalid("email", "no user has this email")
	}
	if err != nil {
		return "", err
	}
	return id.OpenSession(ctx, u.ID)
}

// Authenticate returns the user of a live session token.
func (id *Identity) Authenticate(ctx context.Context, token string) (ports.User, error) {
	if token == "" || len(token) > 128 {
		return ports.User{}, ErrUnauthenticated
	}
	now := id.clock.Now()
	u, err := id.users.TouchSession(ctx, tokenHash(token), now, now.Add(-SessionIdle))
	if errors.Is(err, ports.ErrNotFound) {
		return ports.User{}, ErrUnauthenticated
	}
	if err != nil {
		return ports.User{}, fmt.Errorf("authenticate: %w", err)
	}
	return u, nil
}

// Logout deletes the session.
func (id *Identity) Logout(ctx context.Context, token string) error {
	return id.users.DeleteSession(ctx, tokenHash(token))
}

func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}
