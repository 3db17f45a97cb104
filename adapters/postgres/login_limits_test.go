package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/safeclose/billing/adapters/postgres"
	"github.com/safeclose/billing/adapters/postgres/pgtest"
	"github.com/safeclose/billing/ports"
	"github.com/safeclose/billing/ports/porttest"
)

func TestLoginLimiterContract(t *testing.T) {
	porttest.RunLoginLimiter(t, func(t *testing.T) ports.LoginLimiter { return postgres.NewLoginLimiter(pgtest.New(t).DB) })
}

// Dead rows (every attempt out of the window) are deleted a few at a time
// by later attempts, live ones never; the table keeps no email or address.
func TestLoginLimitsArePrunedAndKeepNoEmails(t *testing.T) {
	db := pgtest.New(t)
	l := postgres.NewLoginLimiter(db.DB)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	reserve := func(key string, at time.Time) {
		t.Helper()
		if _, ok, err := l.Reserve(ctx, []ports.LimitKey{{Key: key, Limit: 10}}, time.Minute, at); err != nil || !ok {
			t.Fatalf("reserve %s: %v %v", key, ok, err)
		}
	}
	rows := func() int {
		t.Helper()
		var n int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM login_limits").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for i := range 25 {
		reserve(fmt.Sprintf("email:old%d@example.com", i), t0)
	}
	reserve("email:live@example.com", t0.Add(90*time.Second))
	if n := rows(); n != 25+1-postgres.PruneBatch {
		t.Errorf("%d rows after one attempt past the window, want %d", n, 25+1-postgres.PruneBatch)
	}
	for i := range 3 {
		reserve(fmt.Sprintf("email:new%d@example.com", i), t0.Add(91*time.Second))
	}
	if n := rows(); n != 4 {
		t.Errorf("%d rows, want the 4 live keys", n)
	}
	var dump string
	if err := db.QueryRowContext(ctx, "SELECT string_agg(encode(key, 'escape'), ' ') FROM login_limits").Scan(&dump); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(dump, "example.com") || strings.Contains(dump, "email:") {
		t.Errorf("the table keeps the counted emails: %q", dump)
	}
}
