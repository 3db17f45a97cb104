package application_test

import (
	"context"
	"testing"

	"github.com/safeclose/billing/application"
	"github.com/safeclose/billing/ports"
)

type fakeUsers struct{ ports.Users }

func (fakeUsers) UserByEmail(_ context.Context, email string) (ports.User, error) {
	return ports.User{ID: "usr_" + email, Email: email}, nil
}

type noOrgs struct{}

func (noOrgs) OrgExists(context.Context, string) (bool, error) { return true, nil }

func TestCursorRoundTripAndRefusals(t *testing.T) {
	t.Parallel()
	for _, v := range []int64{0, 1, 7, 1 << 40} {
		got, err := application.DecodeCursor(application.EncodeCursor(v))
		if err != nil || got != v {
			t.Errorf("cursor %d: %d, %v", v, got, err)
		}
	}
	for _, bad := range []string{"", "!!", "djE6", "djI6NQ", "djE6LTE", "djE6eA"} {
		if _, err := application.DecodeCursor(bad); err == nil {
			t.Errorf("cursor %q accepted", bad)
		}
	}
}
