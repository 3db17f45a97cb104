package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/safeclose/billing/adapters/postgres"
	"github.com/safeclose/billing/ports"
)

// A session's use is written at most once a SessionTouchEvery, and a
// session idle or expired is refused and deleted.
func TestTouchSessionRecordsUseOnceAMinute(t *testing.T) {
	_, _, db := newStore(t)
	users := postgres.NewUsers(db.DB)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	if err := users.CreateUser(ctx, ports.User{ID: "usr_1", Email: "a@example.com", PasswordHash: []byte("x"), CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	hash := []byte("token-hash")
	if err := users.CreateSession(ctx, ports.Session{TokenHash: hash, UserID: "usr_1", CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(30 * 24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	lastSeen := func() time.Time {
		var at time.Time
		if err := db.DB.QueryRowContext(ctx, "SELECT last_seen_at FROM sessions WHERE token_hash = ?", hash).Scan(&at); err != nil {
			t.Fatal(err)
		}
		return at.UTC()
	}
	idle := 24 * time.Hour
	for _, step := range []struct {
		now      time.Time
		wantSeen time.Time
	}{
		{t0.Add(30 * time.Second), t0},                                    // within a minute: not written
		{t0.Add(2 * time.Minute), t0.Add(2 * time.Minute)},                // written
		{t0.Add(2*time.Minute + 59*time.Second), t0.Add(2 * time.Minute)}, // within a minute of that
	} {
		u, err := users.TouchSession(ctx, hash, step.now, step.now.Add(-idle))
		if err != nil || u.ID != "usr_1" {
			t.Fatalf("touch at %v: %+v, %v", step.now, u, err)
		}
		if got := lastSeen(); !got.Equal(step.wantSeen) {
			t.Errorf("touch at %v: last seen %v, want %v", step.now, got, step.wantSeen)
		}
	}
	late := t0.Add(2*time.Minute + idle + time.Second)
	if _, err := users.TouchSession(ctx, hash, late, late.Add(-idle)); !errors.Is(err, ports.ErrNotFound) {
		t.Fatalf("idle session: %v, want ErrNotFound", err)
	}
	var n int
	if err := db.DB.QueryRowContext(ctx, "SELECT count(*) FROM sessions").Scan(&n); err != nil || n != 0 {
		t.Errorf("idle session kept: %d, %v", n, err)
	}
}
