package porttest

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// RunUsers runs the users, sessions and memberships contract against the
// ports newPorts returns (Store, Users and Memberships of one empty
// database): memberships are a read model of the ledger, joined with the
// users.
func RunUsers(t *testing.T, newPorts func(t *testing.T) Ports) {
	ctx := context.Background()
	create := func(t *testing.T, users ports.Users, id, email string) ports.User {
		t.Helper()
		u := ports.User{ID: id, Email: email, PasswordHash: []byte("$2a$04$hash of " + id), CreatedAt: base.Add(123456 * time.Microsecond)}
		if err := users.CreateUser(ctx, u); err != nil {
			t.Fatalf("create %s <%s>: %v", id, email, err)
		}
		return u
	}
	same := func(t *testing.T, got, want ports.User) {
		t.Helper()
		if got.ID != want.ID || got.Email != want.Email || !bytes.Equal(got.PasswordHash, want.PasswordHash) || !got.CreatedAt.Equal(want.CreatedAt) {
			t.Errorf("user %+v, want %+v", got, want)
		}
	}

	t.Run("users are found by id and by email, whatever its case", func(t *testing.T) {
		p := newPorts(t)
		alice := create(t, p.Users, "usr_alice", "Alice@Example.com")
		bob := create(t, p.Users, "usr_bob", "bob@example.com")
		for _, email := range []string{"Alice@Example.com", "alice@example.com", "ALICE@EXAMPLE.COM", "  alice@example.com\t"} {
			got, err := p.Users.UserByEmail(ctx, email)
			if err != nil {
				t.Errorf("by email %q: %v", email, err)
				continue
			}
			same(t, got, alice) // the email as created
		}
		for _, u := range []ports.User{alice, bob} {
			got, err := p.Users.UserByID(ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			same(t, got, u)
		}
		if _, err := p.Users.UserByEmail(ctx, "carol@example.com"); !errors.Is(err, ports.ErrNotFound) {
			t.Errorf("unknown email: %v, want ErrNotFound", err)
		}
		if _, err := p.Users.UserByEmail(ctx, "alice@example"); !errors.Is(err, ports.ErrNotFound) {
			t.Errorf("a prefix of an email: %v, want ErrNotFound", err)
		}
		if _, err := p.Users.UserByID(ctx, "usr_carol"); !errors.Is(err, ports.ErrNotFound) {
			t.Errorf("unknown id: %v, want ErrNotFound", err)
		}
	})

	t.Run("an email is taken whatever its case; an id too", func(t *testing.T) {
		p := newPorts(t)
		alice := create(t, p.Users, "usr_alice", "Alice@Example.com")
		for _, email := range []string{"Alice@Example.com", "alice@example.com", "ALICE@example.COM"} {
			err := p.Users.CreateUser(ctx, ports.User{ID: "usr_" + email, Email: email, PasswordHash: []byte("x"), CreatedAt: base})
			if !errors.Is(err, ports.ErrConflict) {
				t.Errorf("create with %q: %v, want ErrConflict", email, err)
			}
		}
		if err := p.Users.CreateUser(ctx, ports.User{ID: "usr_alice", Email: "other@example.com", PasswordHash: []byte("x"), CreatedAt: base}); err == nil {
			t.Error("a second user with a taken id was created")
		}
		if got, err := p.Users.UserByEmail(ctx, "alice@example.com"); err != nil || got.ID != alice.ID {
			t.Errorf("after the refusals: %+v, %v", got, err)
		}
		if _, err := p.Users.UserByEmail(ctx, "other@example.com"); !errors.Is(err, ports.ErrNotFound) {
			t.Errorf("the refused user is found: %v", err)
		}
		// 10 concurrent sign-ups with one email: one user.
		var wg sync.WaitGroup
		var created, conflicts atomic.Int32
		for i := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				email := "race@example.com"
				if i%2 == 1 {
					email = strings.ToUpper(email)
				}
				err := p.Users.CreateUser(ctx, ports.User{ID: "usr_race_" + string(rune('a'+i)), Email: email, PasswordHash: []byte("x"), CreatedAt: base})
				switch {
				case err == nil:
					created.Add(1)
				case errors.Is(err, ports.ErrConflict):
					conflicts.Add(1)
				default:
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if created.Load() != 1 || conflicts.Load() != 9 {
			t.Errorf("%d created, %d conflicts; want 1 and 9", created.Load(), conflicts.Load())
		}
	})

	t.Run("a session lives until it expires or goes idle, and is then deleted", func(t *testing.T) {
		p := newPorts(t)
		alice := create(t, p.Users, "usr_alice", "alice@example.com")
		const idle, life = 24 * time.Hour, 30 * 24 * time.Hour
		t0 := base
		newSession := func(hash string) []byte {
			t.Helper()
			s := ports.Session{TokenHash: []byte(hash), UserID: alice.ID, CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(life)}
			if err := p.Users.CreateSession(ctx, s); err != nil {
				t.Fatal(err)
			}
			return s.TokenHash
		}
		touch := func(hash []byte, now time.Time) error {
			t.Helper()
			u, err := p.Users.TouchSession(ctx, hash, now, now.Add(-idle))
			if err == nil {
				same(t, u, alice)
			} else if !errors.Is(err, ports.ErrNotFound) {
				t.Fatalf("touch at %v: %v", now, err)
			}
			return err
		}
		live := newSession("live")
		if err := touch(live, t0.Add(time.Second)); err != nil {
			t.Fatalf("a new session: %v", err)
		}
		// A use is recorded: 20 h later, then 20 h after that, it is not
		// idle, though 40 h have passed since it was created.
		for _, at := range []time.Duration{20 * time.Hour, 40 * time.Hour, 60 * time.Hour} {
			if err := touch(live, t0.Add(at)); err != nil {
				t.Fatalf("used every 20 h, at %v: %v", at, err)
			}
		}
		if err := touch([]byte("unknown"), t0); !errors.Is(err, ports.ErrNotFound) {
			t.Error("an unknown session is live")
		}
		// Idle: last seen exactly idleSince is dead, and deleted.
		idleOne := newSession("idle")
		if err := touch(idleOne, t0.Add(idle)); err == nil {
			t.Error("a session idle for exactly the idle timeout is live")
		}
		if err := touch(idleOne, t0.Add(time.Hour)); err == nil {
			t.Error("an idle session is live again: it was not deleted")
		}
		// Expired: at its expiry it is dead, and deleted, though used
		// all along.
		expiring := newSession("expiring")
		for at := 20 * time.Hour; at < life; at += 20 * time.Hour {
			if err := touch(expiring, t0.Add(at)); err != nil {
				t.Fatalf("used every 20 h, at %v: %v", at, err)
			}
		}
		if err := touch(expiring, t0.Add(life)); err == nil {
			t.Error("a session is live at its expiry")
		}
		if err := touch(expiring, t0.Add(life-time.Hour)); err == nil {
			t.Error("an expired session is live again: it was not deleted")
		}
		// Deleted: dead; the others live on.
		other := newSession("other")
		if err := p.Users.DeleteSession(ctx, other); err != nil {
			t.Fatal(err)
		}
		if err := touch(other, t0.Add(time.Minute)); err == nil {
			t.Error("a deleted session is live")
		}
		if err := p.Users.DeleteSession(ctx, []byte("unknown")); err != nil {
			t.Errorf("deleting an unknown session: %v", err)
		}
		if err := touch(live, t0.Add(61*time.Hour)); err != nil {
			t.Errorf("another session after a delete: %v", err)
		}
	})

	t.Run("a session needs a user and a token hash of its own", func(t *testing.T) {
		p := newPorts(t)
		alice := create(t, p.Users, "usr_alice", "alice@example.com")
		s := ports.Session{TokenHash: []byte("hash"), UserID: alice.ID, CreatedAt: base, LastSeenAt: base, ExpiresAt: base.Add(time.Hour)}
		if err := p.Users.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		if err := p.Users.CreateSession(ctx, s); err == nil {
			t.Error("a second session with a taken token hash was created")
		}
		ghost := ports.Session{TokenHash: []byte("ghost"), UserID: "usr_ghost", CreatedAt: base, LastSeenAt: base, ExpiresAt: base.Add(time.Hour)}
		if err := p.Users.CreateSession(ctx, ghost); err == nil {
			t.Error("a session of an unknown user was created")
		}
		if _, err := p.Users.TouchSession(ctx, ghost.TokenHash, base, base.Add(-time.Hour)); !errors.Is(err, ports.ErrNotFound) {
			t.Errorf("the refused session: %v, want ErrNotFound", err)
		}
	})

	t.Run("memberships are the created orgs' members who are users", func(t *testing.T) {
		p := newPorts(t)
		owner := create(t, p.Users, "usr_owner", "Owner@example.com")
		bob := create(t, p.Users, "usr_bob", "bob@example.com")
		carol := create(t, p.Users, "usr_carol", "Carol@example.com")
		lone := create(t, p.Users, "usr_lone", "lone@example.com")
		createOrg(t, p.Store, "org_a", "Beta", owner)
		createOrg(t, p.Store, "org_b", "Alpha", owner)
		createOrg(t, p.Store, "org_0", "Beta", owner) // same name: by id
		add := func(org string, u ports.User, perms ...string) {
			t.Helper()
			update(t, p.Store, org, func(acc *billing.Account) ([]billing.Event, error) {
				return acc.AddMember(owner.ID, billing.Member{UserID: u.ID, Email: u.Email}, perms, billing.Entitlements{}, base)
			})
		}
		add("org_a", bob, billing.PermBilling)
		add("org_a", carol)
		add("org_a", ports.User{ID: "usr_ghost", Email: "ghost@example.com"}) // in the ledger, not a user
		// A stream with a member but never created is no org.
		mustAppend(t, Ledger{Store: p.Store}, "org_uncreated", 0, Event(t, billing.MemberAdded{UserID: bob.ID, Email: bob.Email,
			Role: billing.RoleMember, Permissions: []string{}}, base))

		membership := func(org, user string) (ports.Membership, error) {
			t.Helper()
			return p.Memberships.Membership(ctx, org, user)
		}
		want := ports.Membership{OrgID: "org_a", OrgName: "Beta", UserID: owner.ID, Email: owner.Email, Role: billing.RoleOwner,
			Permissions: billing.AllPermissions()}
		if got, err := membership("org_a", owner.ID); err != nil || !sameMembership(got, want) {
			t.Errorf("owner: %+v, %v; want %+v", got, err, want)
		}
		want = ports.Membership{OrgID: "org_a", OrgName: "Beta", UserID: bob.ID, Email: bob.Email, Role: billing.RoleMember,
			Permissions: []string{billing.PermBilling}}
		if got, err := membership("org_a", bob.ID); err != nil || !sameMembership(got, want) {
			t.Errorf("bob: %+v, %v; want %+v", got, err, want)
		}
		if got, err := membership("org_a", carol.ID); err != nil || got.Permissions == nil || len(got.Permissions) != 0 {
			t.Errorf("carol, with no permission: %+v, %v; want an empty, not nil, set", got, err)
		}
		for _, tc := range []struct{ org, user, why string }{
			{"org_b", bob.ID, "a member of another org"},
			{"org_unknown", owner.ID, "an unknown org"},
			{"org_a", lone.ID, "a user of no org"},
			{"org_a", "usr_ghost", "a member who is not a user"},
			{"org_uncreated", bob.ID, "an org never created"},
		} {
			if _, err := membership(tc.org, tc.user); !errors.Is(err, ports.ErrNotFound) {
				t.Errorf("%s: %v, want ErrNotFound", tc.why, err)
			}
		}

		orgsOf := func(user string) []string {
			t.Helper()
			ms, err := p.Memberships.OrgsOf(ctx, user)
			if err != nil {
				t.Fatal(err)
			}
			out := []string{}
			for _, m := range ms {
				if m.UserID != user {
					t.Errorf("%s's orgs list %+v", user, m)
				}
				out = append(out, m.OrgName+"/"+m.OrgID)
			}
			return out
		}
		if got, want := orgsOf(owner.ID), []string{"Alpha/org_b", "Beta/org_0", "Beta/org_a"}; !slices.Equal(got, want) {
			t.Errorf("owner's orgs: %v, want %v (by name, then id)", got, want)
		}
		if got, want := orgsOf(bob.ID), []string{"Beta/org_a"}; !slices.Equal(got, want) {
			t.Errorf("bob's orgs: %v, want %v", got, want)
		}
		if got := orgsOf(lone.ID); len(got) != 0 {
			t.Errorf("a user of no org: %v", got)
		}

		members := func(org string) []string {
			t.Helper()
			ms, err := p.Memberships.Members(ctx, org)
			if err != nil {
				t.Fatal(err)
			}
			out := []string{}
			for _, m := range ms {
				if m.OrgID != org || m.OrgName == "" {
					t.Errorf("%s's members list %+v", org, m)
				}
				out = append(out, m.Email)
			}
			return out
		}
		// By email, lower-cased: "bob" before "Carol" before "Owner".
		if got, want := members("org_a"), []string{"bob@example.com", "Carol@example.com", "Owner@example.com"}; !slices.Equal(got, want) {
			t.Errorf("org_a's members: %v, want %v", got, want)
		}
		if got := members("org_uncreated"); len(got) != 0 {
			t.Errorf("an org never created has members %v", got)
		}
		if got := members("org_unknown"); len(got) != 0 {
			t.Errorf("an unknown org has members %v", got)
		}

		// Changes in the ledger show at once.
		update(t, p.Store, "org_a", func(acc *billing.Account) ([]billing.Event, error) {
			return acc.SetPermissions(owner.ID, bob.ID, []string{billing.PermAudit}, base)
		})
		update(t, p.Store, "org_a", func(acc *billing.Account) ([]billing.Event, error) {
			return acc.RemoveMember(owner.ID, carol.ID, base)
		})
		mustAppend(t, Ledger{Store: p.Store}, "org_b", 2, Event(t, billing.OrgCreated{Name: "Gamma", OwnerUserID: owner.ID}, base.Add(time.Hour)))
		if got, err := membership("org_a", bob.ID); err != nil || !slices.Equal(got.Permissions, []string{billing.PermAudit}) {
			t.Errorf("bob after a change of permissions: %+v, %v", got, err)
		}
		if _, err := membership("org_a", carol.ID); !errors.Is(err, ports.ErrNotFound) {
			t.Errorf("carol after her removal: %v, want ErrNotFound", err)
		}
		if got, want := members("org_a"), []string{"bob@example.com", "Owner@example.com"}; !slices.Equal(got, want) {
			t.Errorf("org_a's members after a removal: %v, want %v", got, want)
		}
		if got, want := orgsOf(owner.ID), []string{"Beta/org_0", "Beta/org_a", "Gamma/org_b"}; !slices.Equal(got, want) {
			t.Errorf("owner's orgs after org_b was renamed: %v, want %v", got, want)
		}
	})
}

func sameMembership(a, b ports.Membership) bool {
	return a.OrgID == b.OrgID && a.OrgName == b.OrgName && a.UserID == b.UserID && a.Email == b.Email && a.Role == b.Role &&
		slices.Equal(a.Permissions, b.Permissions)
}
