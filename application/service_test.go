package application_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safeclose/billing/adapters/memory"
	"github.com/safeclose/billing/application"
	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// racyStore loses the version race a given number of times first.
type racyStore struct {
	*memory.Store
	losses atomic.Int32
}

func (s *racyStore) Append(ctx context.Context, req ports.AppendRequest) (ports.AppendResult, error) {
	if s.losses.Add(-1) >= 0 {
		return ports.AppendResult{}, ports.ErrVersionConflict
	}
	return s.Store.Append(ctx, req)
}

type fakeUsers struct{ ports.Users }

func (fakeUsers) UserByEmail(_ context.Context, email string) (ports.User, error) {
	return ports.User{ID: "usr_" + email, Email: email}, nil
}

type noOrgs struct{}

func (noOrgs) OrgExists(context.Context, string) (bool, error) { return true, nil }

func newService(store ports.EventStore, status ports.BillingStatusReader, conflicts *atomic.Int32) *application.Service {
	return application.NewService(application.Deps{Store: store, Status: status, Users: fakeUsers{}, Orgs: noOrgs{},
		Clock: memory.NewClock(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)), OnConflict: func() { conflicts.Add(1) }})
}

func TestUpdateRetriesLostRacesAndGivesUp(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		losses    int32
		wantErr   error
		conflicts int32
	}{
		{0, nil, 0},
		{3, nil, 3},
		{application.MaxAppendAttempts - 1, nil, application.MaxAppendAttempts - 1},
		{application.MaxAppendAttempts, application.ErrBusy, application.MaxAppendAttempts},
	} {
		mem := memory.NewStore(memory.NewClock(time.Now()))
		store := &racyStore{Store: mem}
		store.losses.Store(tc.losses)
		var conflicts atomic.Int32
		svc := newService(store, mem, &conflicts)
		org, err := svc.CreateOrg(ctx, application.Actor{}, "Acme", "o@example.com")
		if !errors.Is(err, tc.wantErr) {
			t.Fatalf("%d losses: err %v, want %v", tc.losses, err, tc.wantErr)
		}
		if conflicts.Load() != tc.conflicts {
			t.Errorf("%d losses: %d conflicts observed", tc.losses, conflicts.Load())
		}
		if tc.wantErr != nil {
			continue
		}
		events, _ := mem.Load(ctx, org)
		if len(events) != 2 || events[0].Type != billing.TypeOrgCreated || events[0].Metadata.Actor != "system:cli" {
			t.Errorf("%d losses: ledger %+v", tc.losses, events)
		}
	}
}

// Two processes on one ledger: what one remembers of an org is behind once
// the other appends to it. The append conflicts, and the command decides
// again on the stored account.
func TestARememberedAccountBehindAnotherProcessIsDecidedAgain(t *testing.T) {
	ctx := context.Background()
	mem := memory.NewStore(memory.NewClock(time.Now()))
	var conflictsA, conflictsB atomic.Int32
	a, b := newService(mem, mem, &conflictsA), newService(mem, mem, &conflictsB)
	org, err := a.CreateOrg(ctx, application.Actor{}, "Acme", "o@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.GrantPermission(ctx, org, "m1@example.com", billing.PermAudit); err != nil {
		t.Fatal(err)
	}
	if err := a.GrantPermission(ctx, org, "m2@example.com", billing.PermAudit); err != nil {
		t.Fatal(err)
	}
	if conflictsA.Load() != 1 || conflictsB.Load() != 0 {
		t.Errorf("conflicts: a %d, b %d; want 1 (a remembered version 2) and 0", conflictsA.Load(), conflictsB.Load())
	}
	// a now remembers the account it appended to: no conflict.
	if err := a.GrantPermission(ctx, org, "m3@example.com", billing.PermAudit); err != nil || conflictsA.Load() != 1 {
		t.Errorf("third grant: %v, %d conflicts", err, conflictsA.Load())
	}
	events, _ := mem.Load(ctx, org)
	var added []string
	for _, e := range events {
		if e.Type == billing.TypeMemberAdded {
			c, _ := billing.DecodeChange(e.Type, e.SchemaVersion, e.Data)
			added = append(added, c.(billing.MemberAdded).Email)
		}
	}
	if want := []string{"o@example.com", "m1@example.com", "m2@example.com", "m3@example.com"}; !slices.Equal(added, want) {
		t.Errorf("members added %v, want %v", added, want)
	}
}

func TestCursorRoundTripAndRefusals(t *testing.T) {
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
