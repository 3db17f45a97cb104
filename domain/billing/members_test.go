package billing

import (
	"errors"
	"reflect"
	"testing"
)

func TestMembershipCommands(t *testing.T) {
	owner := Member{UserID: "u_own", Email: "own@example.com"}
	created := func() []Event {
		evs, err := NewAccount("org_1").CreateOrg("Acme", owner, at(0))
		if err != nil {
			t.Fatal(err)
		}
		return evs
	}
	withMember := func(perms ...string) []Event {
		return append(created(), ev(MemberAdded{UserID: "u_m", Email: "m@example.com", Role: RoleMember, Permissions: perms}, 1))
	}
	bob := Member{UserID: "u_bob", Email: "bob@example.com"}
	limited := func(members int64) Entitlements {
		return Entitlements{Limits: map[string]int64{LimitMembers: members}}
	}
	tests := []struct {
		name    string
		given   []Event
		when    func(a *Account) ([]Event, error)
		want    []Change
		wantErr error
	}{
		{"create opens the stream with its owner", nil,
			func(a *Account) ([]Event, error) { return a.CreateOrg("Acme", owner, at(0)) },
			[]Change{OrgCreated{Name: "Acme", OwnerUserID: "u_own"}, MemberAdded{UserID: "u_own", Email: "own@example.com", Role: RoleOwner, Permissions: []string{"audit", "billing"}}}, nil},
		{"create twice is refused", created(),
			func(a *Account) ([]Event, error) { return a.CreateOrg("Acme", owner, at(0)) }, nil, ErrOrgExists},
		{"create without a name is refused", nil,
			func(a *Account) ([]Event, error) { return a.CreateOrg("", owner, at(0)) }, nil, ErrInvalidMembership},
		{"an owner adds a member", created(),
			func(a *Account) ([]Event, error) {
				return a.AddMember("u_own", bob, []string{"billing", "audit", "billing"}, Entitlements{}, at(2))
			},
			[]Change{MemberAdded{UserID: "u_bob", Email: "bob@example.com", Role: RoleMember, Permissions: []string{"audit", "billing"}}}, nil},
		{"a member cannot add members", withMember("billing"),
			func(a *Account) ([]Event, error) { return a.AddMember("u_m", bob, nil, Entitlements{}, at(2)) }, nil, ErrNotOwner},
		{"a stranger cannot add members", created(),
			func(a *Account) ([]Event, error) { return a.AddMember("u_x", bob, nil, Entitlements{}, at(2)) }, nil, ErrNotOwner},
		{"an unknown permission is refused", created(),
			func(a *Account) ([]Event, error) {
				return a.AddMember("u_own", bob, []string{"admin"}, Entitlements{}, at(2))
			}, nil, ErrInvalidPermission},
		{"adding an existing member sets their permissions", withMember("audit"),
			func(a *Account) ([]Event, error) {
				return a.AddMember("u_own", Member{UserID: "u_m"}, []string{"billing"}, Entitlements{}, at(2))
			},
			[]Change{MemberPermissionsChanged{UserID: "u_m", Permissions: []string{"billing"}}}, nil},
		{"setting the same permissions records nothing", withMember("audit"),
			func(a *Account) ([]Event, error) { return a.SetPermissions("u_own", "u_m", []string{"audit"}, at(2)) }, nil, nil},
		{"an owner's permissions cannot shrink", created(),
			func(a *Account) ([]Event, error) { return a.SetPermissions("u_own", "u_own", []string{"audit"}, at(2)) }, nil, ErrOwnerPermissions},
		{"permissions of a non-member", created(),
			func(a *Account) ([]Event, error) { return a.SetPermissions("u_own", "u_x", []string{"audit"}, at(2)) }, nil, ErrNotMember},
		{"grant adds the member when needed", created(),
			func(a *Account) ([]Event, error) {
				return a.GrantPermission(SystemActor, bob, "audit", Entitlements{}, at(2))
			},
			[]Change{MemberAdded{UserID: "u_bob", Email: "bob@example.com", Role: RoleMember, Permissions: []string{"audit"}}}, nil},
		{"grant adds to existing permissions", withMember("audit"),
			func(a *Account) ([]Event, error) {
				return a.GrantPermission(SystemActor, Member{UserID: "u_m"}, "billing", Entitlements{}, at(2))
			},
			[]Change{MemberPermissionsChanged{UserID: "u_m", Permissions: []string{"audit", "billing"}}}, nil},
		{"grant of a held permission records nothing", withMember("audit"),
			func(a *Account) ([]Event, error) {
				return a.GrantPermission(SystemActor, Member{UserID: "u_m"}, "audit", Entitlements{}, at(2))
			}, nil, nil},
		{"a new member within the members limit", withMember("audit"),
			func(a *Account) ([]Event, error) { return a.AddMember("u_own", bob, nil, limited(3), at(2)) },
			[]Change{MemberAdded{UserID: "u_bob", Email: "bob@example.com", Role: RoleMember, Permissions: []string{}}}, nil},
		{"a new member at the members limit is refused (owners count)", withMember("audit"),
			func(a *Account) ([]Event, error) { return a.AddMember("u_own", bob, nil, limited(2), at(2)) }, nil, ErrLimitReached},
		{"a new member past the members limit is refused (a smaller plan)", withMember("audit"),
			func(a *Account) ([]Event, error) { return a.AddMember("u_own", bob, nil, limited(1), at(2)) }, nil, ErrLimitReached},
		{"a members limit of zero refuses everyone", created(),
			func(a *Account) ([]Event, error) { return a.AddMember("u_own", bob, nil, limited(0), at(2)) }, nil, ErrLimitReached},
		{"other limits do not bound members", withMember("audit"),
			func(a *Account) ([]Event, error) {
				return a.AddMember("u_own", bob, nil, Entitlements{Limits: map[string]int64{"projects": 1}}, at(2))
			},
			[]Change{MemberAdded{UserID: "u_bob", Email: "bob@example.com", Role: RoleMember, Permissions: []string{}}}, nil},
		{"an existing member's permissions change past the limit", withMember("audit"),
			func(a *Account) ([]Event, error) {
				return a.AddMember("u_own", Member{UserID: "u_m"}, []string{"billing"}, limited(1), at(2))
			},
			[]Change{MemberPermissionsChanged{UserID: "u_m", Permissions: []string{"billing"}}}, nil},
		{"grant to an existing member past the limit", withMember("audit"),
			func(a *Account) ([]Event, error) {
				return a.GrantPermission(SystemActor, Member{UserID: "u_m"}, "billing", limited(1), at(2))
			},
			[]Change{MemberPermissionsChanged{UserID: "u_m", Permissions: []string{"audit", "billing"}}}, nil},
		{"grant of a new member at the limit is refused", withMember("audit"),
			func(a *Account) ([]Event, error) {
				return a.GrantPermission(SystemActor, bob, "audit", limited(2), at(2))
			}, nil, ErrLimitReached},
		{"a member at the limit is still refused as a member first", withMember("billing"),
			func(a *Account) ([]Event, error) { return a.AddMember("u_m", bob, nil, limited(2), at(2)) }, nil, ErrNotOwner},
		{"an owner removes a member", withMember("audit"),
			func(a *Account) ([]Event, error) { return a.RemoveMember("u_own", "u_m", at(2)) },
			[]Change{MemberRemoved{UserID: "u_m"}}, nil},
		{"the last owner cannot be removed", withMember("audit"),
			func(a *Account) ([]Event, error) { return a.RemoveMember("u_own", "u_own", at(2)) }, nil, ErrLastOwner},
		{"a member cannot remove anyone", withMember("audit"),
			func(a *Account) ([]Event, error) { return a.RemoveMember("u_m", "u_m", at(2)) }, nil, ErrNotOwner},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Fold("org_1", tt.given)
			got, err := tt.when(a)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			var changes []Change
			for _, e := range got {
				changes = append(changes, e.Change)
			}
			if !reflect.DeepEqual(changes, tt.want) {
				t.Errorf("events = %#v, want %#v", changes, tt.want)
			}
		})
	}
	// The fold: owners hold every permission; removal forgets.
	a := Fold("org_1", append(withMember("audit"), ev(MemberRemoved{UserID: "u_m"}, 3)))
	if m, ok := a.Member("u_own"); !ok || !m.Has(PermBilling) || !m.Has(PermAudit) || a.Name() != "Acme" {
		t.Errorf("owner = %+v", m)
	}
	if _, ok := a.Member("u_m"); ok || len(a.Members()) != 1 || a.MemberCount() != 1 {
		t.Error("removed member still there")
	}
}
