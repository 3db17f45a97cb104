package application_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/safeclose/billing/adapters/memory"
	"github.com/safeclose/billing/application"
	"github.com/safeclose/billing/ports"
)

// oneUser knows alice@example.com, password "correct horse" (hashed at
// bcrypt's lowest cost, to keep the tests fast), and keeps sessions.
type oneUser struct {
	ports.Users
	hash     []byte
	sessions int
	down     error
}

func newOneUser(t *testing.T) *oneUser {
	hash, err := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return &oneUser{hash: hash}
}

func (u *oneUser) UserByEmail(_ context.Context, email string) (ports.User, error) {
	if u.down != nil {
		return ports.User{}, u.down
	}
	if strings.EqualFold(email, "alice@example.com") {
		return ports.User{ID: "usr_alice", Email: "alice@example.com", PasswordHash: u.hash}, nil
	}
	return ports.User{}, ports.ErrNotFound
}

func (u *oneUser) CreateSession(context.Context, ports.Session) error {
	u.sessions++
	return nil
}

// recordingLimiter records the keys it is asked to count and what it
// refunds.
type recordingLimiter struct {
	*memory.LoginLimiter
	mu       sync.Mutex
	keys     [][]ports.LimitKey
	refunded int
}

func (l *recordingLimiter) Reserve(ctx context.Context, keys []ports.LimitKey, window time.Duration, now time.Time) (ports.Reservation, bool, error) {
	l.mu.Lock()
	l.keys = append(l.keys, keys)
	l.mu.Unlock()
	return l.LoginLimiter.Reserve(ctx, keys, window, now)
}

func (l *recordingLimiter) Refund(ctx context.Context, r ports.Reservation) error {
	l.mu.Lock()
	l.refunded++
	l.mu.Unlock()
	return l.LoginLimiter.Refund(ctx, r)
}

func TestLoginCountsFailuresAndRefundsSuccesses(t *testing.T) {
	t.Parallel()
	users := newOneUser(t)
	limits := &recordingLimiter{LoginLimiter: memory.NewLoginLimiter()}
	id := application.NewIdentity(users, limits, memory.NewClock(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)))
	ctx := context.Background()
	addr := netip.MustParseAddr("192.0.2.1")
	// Right passwords cost nothing, however many.
	for i := range 3 * application.LoginsPerEmail {
		if _, err := id.Login(ctx, "alice@example.com", "correct horse", addr); err != nil {
			t.Fatalf("login %d: %v", i+1, err)
		}
	}
	if limits.refunded != 3*application.LoginsPerEmail || users.sessions != 3*application.LoginsPerEmail {
		t.Errorf("%d refunds and %d sessions for %d logins", limits.refunded, users.sessions, 3*application.LoginsPerEmail)
	}
	for i := range application.LoginsPerEmail {
		if _, err := id.Login(ctx, "Alice@Example.com ", "wrong horse", addr); !errors.Is(err, application.ErrInvalidCredentials) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	// The email is full, whatever the password and the address.
	if _, err := id.Login(ctx, "alice@example.com", "correct horse", netip.MustParseAddr("198.51.100.1")); !errors.Is(err, application.ErrRateLimited) {
		t.Errorf("past the email's limit: %v, want ErrRateLimited", err)
	}
	want := []ports.LimitKey{{Key: "email:alice@example.com", Limit: 10}, {Key: "addr:192.0.2.1", Limit: 100}}
	if !slices.Equal(limits.keys[len(limits.keys)-2], want) {
		t.Errorf("counted %v, want %v", limits.keys[len(limits.keys)-2], want)
	}
}

func TestLoginCountsIPv6ClientsByTheirSlash64(t *testing.T) {
	t.Parallel()
	limits := &recordingLimiter{LoginLimiter: memory.NewLoginLimiter()}
	id := application.NewIdentity(newOneUser(t), limits, memory.NewClock(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)))
	ctx := context.Background()
	for _, tc := range []struct {
		addr netip.Addr
		want []ports.LimitKey
	}{
		{netip.MustParseAddr("2001:db8:1:2:aaaa::1"), []ports.LimitKey{{Key: "email:alice@example.com", Limit: 10}, {Key: "addr:2001:db8:1:2::/64", Limit: 100}}},
		{netip.MustParseAddr("::ffff:192.0.2.7"), []ports.LimitKey{{Key: "email:alice@example.com", Limit: 10}, {Key: "addr:192.0.2.7", Limit: 100}}},
		{netip.Addr{}, []ports.LimitKey{{Key: "email:alice@example.com", Limit: 10}}}, // unknown: the email only
	} {
		if _, err := id.Login(ctx, "alice@example.com", "correct horse", tc.addr); err != nil {
			t.Fatal(err)
		}
		if got := limits.keys[len(limits.keys)-1]; !slices.Equal(got, tc.want) {
			t.Errorf("%v counted as %v, want %v", tc.addr, got, tc.want)
		}
	}
}

func TestLoginRefundsWhatIsNotAFailure(t *testing.T) {
	t.Parallel()
	users := newOneUser(t)
	limits := &recordingLimiter{LoginLimiter: memory.NewLoginLimiter()}
	id := application.NewIdentity(users, limits, memory.NewClock(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)))
	users.down = errors.New("database down")
	for range application.LoginsPerEmail + 1 {
		if _, err := id.Login(context.Background(), "alice@example.com", "wrong horse", netip.Addr{}); !errors.Is(err, users.down) {
			t.Fatalf("with the users down: %v", err)
		}
	}
	if limits.refunded != application.LoginsPerEmail+1 {
		t.Errorf("%d refunds for %d attempts that failed for want of a database", limits.refunded, application.LoginsPerEmail+1)
	}
	// Control characters: refused as input, naming the field, uncounted.
	var in *application.InputError
	if _, err := id.Login(context.Background(), "a\x00lice@example.com", "x", netip.Addr{}); !errors.As(err, &in) || in.Field != "email" {
		t.Errorf("an email with NUL: %v", err)
	}
}
