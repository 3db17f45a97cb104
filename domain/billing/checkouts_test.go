package billing

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func started(id string, tier Tier, by, key string) CheckoutStarted {
	return CheckoutStarted{Tier: tier, CheckoutSessionID: id, RequestedBy: by, IdempotencyKey: key}
}

func TestStartCheckoutSupersedesOpenSessions(t *testing.T) {
	tests := []struct {
		name  string
		given []Event
		start CheckoutStarted
		at    time.Time
		want  []string
	}{
		{"no session before", nil, started("cs_9", TierPro, "u1", "k9"), at(10), nil},
		{"earlier open sessions are superseded",
			[]Event{ev(started("cs_1", TierPro, "u1", "k1"), 1), ev(started("cs_2", TierStarter, "u2", "k2"), 2)},
			started("cs_9", TierPro, "u1", "k9"), at(10), []string{"cs_1", "cs_2"}},
		{"the session just returned again (a double click) is never superseded",
			[]Event{ev(started("cs_1", TierPro, "u1", "k1"), 1)},
			started("cs_1", TierPro, "u1", "k1"), at(2), nil},
		{"completed, superseded and expired sessions are not open",
			[]Event{ev(started("cs_1", TierPro, "u1", "k1"), 1), ev(started("cs_2", TierPro, "u1", "k2"), 2),
				ev(CheckoutStarted{Tier: TierPro, CheckoutSessionID: "cs_3", Supersedes: []string{"cs_2"}}, 3),
				ev(PlanActivated{CheckoutSessionID: "cs_1", CustomerID: "cus_1", SubscriptionID: "sub_1", Tier: TierPro}, 4),
				ev(SubscriptionCanceled{CustomerID: "cus_1", SubscriptionID: "sub_1"}, 5)},
			started("cs_9", TierPro, "u1", "k9"), at(3).Add(CheckoutLifetime - time.Second), []string{"cs_3"}},
		{"a session older than a day has expired in Stripe",
			[]Event{ev(started("cs_1", TierPro, "u1", "k1"), 1)},
			started("cs_9", TierPro, "u1", "k9"), at(1).Add(CheckoutLifetime), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Fold("org_1", tt.given).StartCheckout(tt.start, tt.at)
			if err != nil {
				t.Fatal(err)
			}
			if sup := got.Change.(CheckoutStarted).Supersedes; !reflect.DeepEqual(sup, tt.want) {
				t.Errorf("supersedes %v, want %v", sup, tt.want)
			}
		})
	}
}

func TestRepeatedCheckoutKey(t *testing.T) {
	const window = 5 * time.Minute
	given := []Event{ev(started("cs_1", TierPro, "u1", "k1"), 0), ev(started("cs_2", TierPro, "u1", "k2"), 10)}
	tests := []struct {
		name   string
		given  []Event
		tier   Tier
		user   string
		now    time.Time
		want   string
		wantOK bool
	}{
		{"the same user and tier within the window: the newest open session's key", given, TierPro, "u1", at(20), "k2", true},
		{"across a minute boundary still the same", given, TierPro, "u1", at(10).Add(window), "k2", true},
		{"after the window a new intent", given, TierPro, "u1", at(11).Add(window), "", false},
		{"another tier is a new intent", given, TierEnterprise, "u1", at(20), "", false},
		{"another user is a new intent", given, TierPro, "u2", at(20), "", false},
		{"a superseded session is not repeated",
			append(given[:2:2], ev(CheckoutStarted{Tier: TierStarter, CheckoutSessionID: "cs_3", Supersedes: []string{"cs_1", "cs_2"}}, 15)),
			TierPro, "u1", at(20), "", false},
		{"a completed session is not repeated",
			append(given[:2:2], ev(PlanActivated{CheckoutSessionID: "cs_2", CustomerID: "cus_1", SubscriptionID: "sub_1", Tier: TierPro}, 15)),
			TierPro, "u1", at(20), "k1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Fold("org_1", tt.given).RepeatedCheckoutKey(tt.tier, tt.user, tt.now, window)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("key %q %v, want %q %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestReadAtOutranksEveryFact(t *testing.T) {
	a := Fold("org_1", []Event{ev(activated(TierPro), 10), ev(OrgCreated{Name: "late clock"}, 500)})
	if got := a.ReadAt(at(5)); !got.Equal(at(11)) {
		t.Errorf("clock behind the newest fact: %v, want one second after it", got)
	}
	if got := a.ReadAt(at(100)); !got.Equal(at(100)) {
		t.Errorf("clock ahead: %v, want the clock", got)
	}
	if got := NewAccount("org_1").ReadAt(at(3)); !got.Equal(at(3)) {
		t.Errorf("no fact: %v, want the clock", got)
	}
}

func TestSnapshotOfAnotherFormatIsRefused(t *testing.T) {
	old := []byte(`{"orgId":"org_1","version":3,"state":{"customer":{"v":"cus_1"}}}`)
	if _, err := RestoreAccount(old); !errors.Is(err, ErrSnapshotFormat) {
		t.Errorf("format 1 snapshot: %v, want ErrSnapshotFormat", err)
	}
}

// A damaged snapshot (a null subscription or checkout, which
// MarshalSnapshot never writes) is refused, not restored half.
func TestSnapshotWithANullEntryIsRefused(t *testing.T) {
	data, err := Fold("org_1", []Event{ev(CheckoutStarted{Tier: TierPro, CheckoutSessionID: "cs_1"}, 1), ev(activated(TierPro), 10)}).MarshalSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := RestoreAccount(data); err != nil {
		t.Fatalf("the snapshot itself: %v", err)
	}
	for _, damage := range [][2]string{{`"sub_1":{`, `"sub_1":null,"sub_x":{`}, {`"cs_1":{`, `"cs_1":null,"cs_x":{`}} {
		damaged := strings.Replace(string(data), damage[0], damage[1], 1)
		if damaged == string(data) {
			t.Fatalf("%s not in the snapshot: %s", damage[0], data)
		}
		if _, err := RestoreAccount([]byte(damaged)); err == nil {
			t.Errorf("restored a snapshot with %s", damage[1])
		}
	}
}

func TestStripeIDsHeldAndNew(t *testing.T) {
	prior := Fold("org_1", []Event{ev(activated(TierPro), 10)})
	a := Fold("org_1", []Event{ev(activated(TierPro), 10), ev(activated2("cus_2", TierPro), 20), ev(paid(""), 30)})
	if got, want := a.StripeIDs(), []string{"cus_1", "cus_2", "sub_1", "sub_2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("StripeIDs = %v, want %v", got, want)
	}
	if got, want := a.StripeIDsSince(prior), []string{"cus_2", "sub_2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("StripeIDsSince = %v, want %v", got, want)
	}
	if got := a.StripeIDsSince(a); got != nil {
		t.Errorf("nothing new: %v", got)
	}
	if got := a.StripeIDCount(); got != 4 {
		t.Errorf("StripeIDCount = %d, want 4", got)
	}
	if got := a.Clone().StripeIDCount(); got != 4 {
		t.Errorf("StripeIDCount of a clone = %d, want 4", got)
	}
}

func TestMembersChangedSince(t *testing.T) {
	base := []Event{ev(OrgCreated{Name: "Acme", OwnerUserID: "u1"}, 0),
		ev(MemberAdded{UserID: "u1", Role: RoleOwner, Permissions: AllPermissions()}, 0),
		ev(MemberAdded{UserID: "u2", Role: RoleMember, Permissions: []string{PermAudit}}, 1),
		ev(MemberAdded{UserID: "u3", Role: RoleMember}, 1)}
	prior := Fold("org_1", base)
	after := Fold("org_1", append(base[:4:4],
		ev(MemberPermissionsChanged{UserID: "u2", Permissions: []string{PermBilling}}, 2),
		ev(MemberRemoved{UserID: "u3"}, 3),
		ev(MemberAdded{UserID: "u4", Role: RoleMember}, 4),
		ev(activated(TierPro), 5)))
	changed, removed := after.MembersChangedSince(prior)
	var ids []string
	for _, m := range changed {
		ids = append(ids, m.UserID)
	}
	if !reflect.DeepEqual(ids, []string{"u2", "u4"}) || !reflect.DeepEqual(removed, []string{"u3"}) {
		t.Errorf("changed %v, removed %v; want [u2 u4], [u3]", ids, removed)
	}
	if c, r := prior.Clone().MembersChangedSince(prior); c != nil || r != nil {
		t.Errorf("no change: %v %v", c, r)
	}
}

// A closed session keeps its tier and flags only, in any order of its
// facts: an org that starts many checkouts keeps a small account, and a
// superseded session that Stripe completes anyway is still on its own tier.
func TestClosedCheckoutsKeepOnlyTheirTier(t *testing.T) {
	events := []Event{ev(started("cs_1", TierStarter, "u1", "k1"), 1),
		ev(CheckoutStarted{Tier: TierPro, CheckoutSessionID: "cs_2", RequestedBy: "u1", IdempotencyKey: "k2", Supersedes: []string{"cs_1"}}, 2)}
	for _, order := range [][]int{{0, 1}, {1, 0}} {
		acc := Fold("org_1", []Event{events[order[0]], events[order[1]]})
		if got, want := acc.checkout("cs_1"), (checkout{Tier: TierStarter, Superseded: true}); got != want {
			t.Errorf("order %v: superseded cs_1 is %+v, want %+v", order, got, want)
		}
		if got := acc.checkout("cs_2"); got.IdempotencyKey != "k2" || got.StartedAt.IsZero() || got.RequestedBy != "u1" {
			t.Errorf("order %v: open cs_2 lost what a repeated request needs: %+v", order, got)
		}
		ev, err := acc.RecordStripeFact(PlanActivated{CheckoutSessionID: "cs_1", CustomerID: "cus_1", SubscriptionID: "sub_1"}, at(3))
		if err != nil || ev.Change.(PlanActivated).Tier != TierStarter {
			t.Errorf("order %v: cs_1 completed anyway: %+v, %v; want it on STARTER, its own tier", order, ev.Change, err)
		}
	}
	// Three hundred superseded sessions: a few dozen bytes each.
	var many []Event
	for i := range 300 {
		c := started(fmt.Sprintf("cs_test_%020d", i), TierPro, "usr_someone@example.com", fmt.Sprintf("checkout-%032d", i))
		if i > 0 {
			c.Supersedes = []string{fmt.Sprintf("cs_test_%020d", i-1)}
		}
		many = append(many, ev(c, i))
	}
	snap, err := Fold("org_1", many).MarshalSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	if len(snap) > 300*100 {
		t.Errorf("an account with 300 superseded checkouts snapshots to %d bytes, want at most 100 a session", len(snap))
	}
}
