package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safeclose/billing/adapters/stripe"
	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// limitedPlans is a PLANS_FILE's catalogue: PRO with features and room for
// five members, FREE with room for freeMembers.
func limitedPlans(t testing.TB, freeMembers int64) billing.Catalogue {
	t.Helper()
	cat, err := billing.BuiltInCatalogue().With(billing.Plan{Tier: billing.TierPro, Name: "Pro",
		Features: []string{"audit-export", "sso"}, Limits: map[string]int64{"members": 5, "projects": 50}})
	if err == nil {
		cat, err = cat.With(billing.Plan{Tier: billing.TierFree, Name: "Free", Features: []string{"basic"}, Limits: map[string]int64{"members": freeMembers}})
	}
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

type entitlementsBody struct {
	OrgID       string           `json:"orgId"`
	PlanTier    string           `json:"planTier"`
	Access      string           `json:"access"`
	Features    []string         `json:"features"`
	Limits      map[string]int64 `json:"limits"`
	TrialEndsAt *string          `json:"trialEndsAt"`
	GraceEndsAt *string          `json:"graceEndsAt"`
}

// entitlementsOf asks GET /api/billing/entitlements with query (after
// orgId) and decodes a 200.
func entitlementsOf(t *testing.T, h *harness, org, token, query string) entitlementsBody {
	t.Helper()
	rec := h.do("GET", "/api/billing/entitlements?orgId="+org+query, token, nil)
	if rec.Code != 200 {
		t.Fatalf("entitlements%s: %d %s", query, rec.Code, rec.Body)
	}
	var b entitlementsBody
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatal(err)
	}
	return b
}

// The grace period over time, told by asOf: it starts at the first failed
// payment of the unpaid period and lasts BILLING_GRACE_DAYS (3 here); a
// paid invoice ends the period, and the next failure starts a new one.
func TestEntitlementsFullGraceFreeOverTime(t *testing.T) {
	h := newHarness(t, options{plans: limitedPlans(t, 10), grace: 3 * 24 * time.Hour})
	w := newWorld(t, h)
	day := 24 * time.Hour
	// Thirty days ago, to the second: every instant below is in the past.
	base := time.Now().Add(-30 * day).Truncate(time.Second)
	at := func(d time.Duration) time.Time { return base.Add(d) }
	spec := stripe.SubscriptionSpec{OrgID: w.org, CustomerID: "cus_e", SubscriptionID: "sub_e", Tier: billing.TierPro, CurrentPeriodEnd: at(60 * day)}
	noMeta := spec
	noMeta.OrgID = ""
	invoice := func(id string, paid bool) map[string]any {
		return h.factory.Invoice(noMeta, stripe.InvoiceSpec{InvoiceID: id, Amount: 4900, Currency: "usd", AttemptCount: 1, Paid: paid})
	}
	mustOK(t, h.deliver(h.factory.Event("evt_e1", "checkout.session.completed", at(0), h.factory.CheckoutSession("cs_e", spec))), "checkout")
	mustOK(t, h.deliver(h.factory.Event("evt_e2", "invoice.payment_failed", at(10*day), invoice("in_1", false))), "first failure")
	mustOK(t, h.deliver(h.factory.Event("evt_e3", "invoice.payment_failed", at(12*day), invoice("in_1", false))), "retry failed")
	mustOK(t, h.deliver(h.factory.Event("evt_e4", "invoice.paid", at(20*day), invoice("in_1", true))), "paid")
	mustOK(t, h.deliver(h.factory.Event("evt_e5", "invoice.payment_failed", at(22*day), invoice("in_2", false))), "next failure")

	asOf := func(t time.Time) string { return "&asOf=" + url.QueryEscape(t.Format(time.RFC3339)) }
	rfc := func(t time.Time) *string { s := t.UTC().Format(time.RFC3339); return &s }
	pro := []string{"audit-export", "sso"}
	proLimits := map[string]int64{"members": 5, "projects": 50}
	free := []string{"basic"}
	freeLimits := map[string]int64{"members": 10}
	for _, tc := range []struct {
		name, query      string
		tier, access     string
		features         []string
		limits           map[string]int64
		graceEnds        *string
		token            string
		notBeforeVersion bool
	}{
		{"before anything", asOf(at(-day)), "FREE", "free", free, freeLimits, nil, w.tPlain, false},
		{"after checkout", asOf(at(5 * day)), "PRO", "full", pro, proLimits, nil, w.tPlain, false},
		{"the day of the first failure", asOf(at(10*day + time.Hour)), "PRO", "grace", pro, proLimits, rfc(at(13 * day)), w.tPlain, false},
		{"a retry does not move the end", asOf(at(12*day + time.Hour)), "PRO", "grace", pro, proLimits, rfc(at(13 * day)), w.tAudit, false},
		{"a second before the end", asOf(at(13*day - time.Second)), "PRO", "grace", pro, proLimits, rfc(at(13 * day)), w.tBilling, false},
		{"at the end", asOf(at(13 * day)), "FREE", "free", free, freeLimits, nil, w.tOwner, false},
		{"paid: the period ends", asOf(at(21 * day)), "PRO", "full", pro, proLimits, nil, w.tPlain, false},
		{"a new period from the next failure", asOf(at(23 * day)), "PRO", "grace", pro, proLimits, rfc(at(25 * day)), w.tPlain, false},
		{"now, grace over", "", "FREE", "free", free, freeLimits, nil, w.tPlain, false},
	} {
		got := entitlementsOf(t, h, w.org, tc.token, tc.query)
		want := entitlementsBody{OrgID: w.org, PlanTier: tc.tier, Access: tc.access, Features: tc.features, Limits: tc.limits, GraceEndsAt: tc.graceEnds}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %+v (grace ends %v), want %+v (grace ends %v)", tc.name, got, deref(got.GraceEndsAt), want, deref(want.GraceEndsAt))
		}
	}
	// The status says past_due all along; the entitlements judge it.
	if st := h.billingStatus(w.org); st.Status != "past_due" || st.PlanTier != "PRO" {
		t.Errorf("status %s %s, want past_due PRO", st.Status, st.PlanTier)
	}

	// Refusals, as the status route's.
	for _, tc := range []struct {
		query, token string
		status       int
		code         string
	}{
		{"orgId=" + w.org + "&asOf=yesterday", w.tPlain, 400, "invalid_request"},
		{"asOf=" + url.QueryEscape(at(0).Format(time.RFC3339)), w.tPlain, 400, "invalid_request"},
		{"orgId=" + w.org, "", 401, "unauthenticated"},
		{"orgId=" + w.org, w.tOutsider, 403, "forbidden"},
		{"orgId=" + w.otherOrg + asOf(at(5*day)), w.tPlain, 403, "forbidden"},
		{"orgId=org_doesnotexist", w.tPlain, 403, "forbidden"},
	} {
		rec := h.do("GET", "/api/billing/entitlements?"+tc.query, tc.token, nil)
		var body struct {
			Error struct{ Code, Message string }
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		if rec.Code != tc.status || body.Error.Code != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.query, rec.Code, rec.Body, tc.status, tc.code)
		}
	}
	if rec := h.do("GET", "/api/billing/entitlements?orgId="+w.org+"&asOf=yesterday", w.tPlain, nil); !strings.Contains(rec.Body.String(), `\"asOf\"`) {
		t.Errorf("a bad asOf does not name the field: %s", rec.Body)
	}
}

func deref(s *string) string {
	if s == nil {
		return "null"
	}
	return *s
}

// A tier without features or limits reads them as [] and {}, and a time
// that does not apply as null.
func TestEntitlementsBodyReadsNoneAsEmpty(t *testing.T) {
	bare, err := billing.BuiltInCatalogue().With(billing.Plan{Tier: billing.TierFree, Name: "Free"})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, options{plans: bare})
	w := newWorld(t, h)
	rec := h.do("GET", "/api/billing/entitlements?orgId="+w.org, w.tPlain, nil)
	want := fmt.Sprintf(`{"orgId":%q,"planTier":"FREE","access":"free","features":[],"limits":{},"trialEndsAt":null,"graceEndsAt":null}`+"\n", w.org)
	if rec.Code != 200 || rec.Body.String() != want {
		t.Errorf("%d %s, want %s", rec.Code, rec.Body, want)
	}
}

// errorCode decodes the contract's error body.
func errorCode(t *testing.T, body []byte) string {
	t.Helper()
	var b struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(body, &b); err != nil || b.Error.Message == "" {
		t.Errorf("error body %s: %v", body, err)
	}
	return b.Error.Code
}

// The members limit where members are added through the API: owners count,
// a new member at the limit is 409 limit_reached with nothing recorded,
// permissions of members are never refused, and an org that moved to a
// smaller plan keeps its members but cannot add more until it is under
// the limit.
func TestMembersLimitOnTheAPI(t *testing.T) {
	h := newHarness(t, options{plans: limitedPlans(t, 3)})
	ctx := context.Background()
	owner := h.user("owner@example.com")
	tok := h.session(owner)
	org, err := h.svc.CreateOrg(ctx, appActor(owner), "Acme", owner.Email)
	if err != nil {
		t.Fatal(err)
	}
	var users []ports.User
	for i := range 6 {
		users = append(users, h.user(fmt.Sprintf("m%d@example.com", i)))
	}
	add := func(u ports.User, perms ...string) (int, string) {
		rec := h.do("POST", "/api/orgs/"+org+"/members", tok, map[string]any{"email": u.Email, "permissions": append([]string{}, perms...)})
		if rec.Code == 201 {
			return 201, ""
		}
		return rec.Code, errorCode(t, rec.Body.Bytes())
	}
	// FREE: room for three, owner included.
	for _, e := range users[:2] {
		if code, _ := add(e); code != 201 {
			t.Fatalf("add %s on FREE: %d", e.Email, code)
		}
	}
	before := len(h.ledger(org))
	if code, errCode := add(users[2]); code != 409 || errCode != "limit_reached" {
		t.Errorf("a fourth member on a plan for three: %d %s, want 409 limit_reached", code, errCode)
	}
	if n := len(h.ledger(org)); n != before {
		t.Errorf("the refused add recorded %d events", n-before)
	}
	if code, _ := add(users[0], "billing"); code != 201 {
		t.Errorf("re-adding a member (new permissions) at the limit: %d", code)
	}
	if rec := h.do("PUT", "/api/orgs/"+org+"/members/"+users[0].ID+"/permissions", tok, map[string]any{"permissions": []string{"audit"}}); rec.Code != 200 {
		t.Errorf("permissions at the limit: %d %s", rec.Code, rec.Body)
	}
	// PRO: room for five.
	spec := stripe.SubscriptionSpec{OrgID: org, CustomerID: "cus_l", SubscriptionID: "sub_l", Tier: billing.TierPro, CurrentPeriodEnd: time.Now().Add(30 * 24 * time.Hour)}
	mustOK(t, h.deliver(h.factory.Event("evt_l1", "checkout.session.completed", time.Now().Add(-time.Minute), h.factory.CheckoutSession("cs_l", spec))), "checkout")
	for _, e := range users[2:4] {
		if code, errCode := add(e); code != 201 {
			t.Fatalf("add %s on PRO: %d %s", e.Email, code, errCode)
		}
	}
	if code, errCode := add(users[4]); code != 409 || errCode != "limit_reached" {
		t.Errorf("a sixth member on a plan for five: %d %s", code, errCode)
	}
	// Back to FREE: five members kept, none added until under three.
	spec.Status = "canceled"
	mustOK(t, h.deliver(h.factory.Event("evt_l2", "customer.subscription.deleted", time.Now(), h.factory.Subscription(spec))), "deleted")
	if ms, err := h.svc.Members(ctx, owner.ID, org); err != nil || len(ms) != 5 {
		t.Errorf("members after the move to FREE: %d, %v; want all 5 kept", len(ms), err)
	}
	if code, errCode := add(users[4]); code != 409 || errCode != "limit_reached" {
		t.Errorf("over the limit after a smaller plan: %d %s", code, errCode)
	}
	for i, u := range users[:3] {
		if rec := h.do("DELETE", "/api/orgs/"+org+"/members/"+u.ID, tok, nil); rec.Code != 204 {
			t.Fatalf("remove %s: %d", u.Email, rec.Code)
		}
		code, _ := add(users[4])
		// 4, 3 members: still refused; 2: room for one.
		if want := map[int]int{0: 409, 1: 409, 2: 201}[i]; code != want {
			t.Errorf("after removing %d members: %d, want %d", i+1, code, want)
		}
	}
}

// Two instances add different members at once to an org one short of its
// limit: exactly one is added, whichever the store decides first; the
// other's decision is made again on the committed account and refused.
func TestMembersLimitHoldsUnderConcurrentAdds(t *testing.T) {
	h := newHarness(t, options{plans: limitedPlans(t, 3)})
	other := h.instance()
	ctx := context.Background()
	owner := h.user("owner@example.com")
	tok := h.session(owner)
	for round := range 5 {
		org, err := h.svc.CreateOrg(ctx, appActor(owner), fmt.Sprintf("Race %d", round), owner.Email)
		if err != nil {
			t.Fatal(err)
		}
		first := h.user(fmt.Sprintf("first%d@example.com", round))
		if _, err := h.svc.AddMember(ctx, appActor(owner), org, first.Email, nil); err != nil {
			t.Fatal(err)
		}
		// Two members of three: one more fits.
		emails := []string{h.user(fmt.Sprintf("a%d@example.com", round)).Email, h.user(fmt.Sprintf("b%d@example.com", round)).Email}
		codes := make([]int, 2)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, inst := range []*harness{h, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				codes[i] = inst.do("POST", "/api/orgs/"+org+"/members", tok, map[string]any{"email": emails[i]}).Code
			}()
		}
		close(start)
		wg.Wait()
		if !(codes[0] == 201 && codes[1] == 409) && !(codes[0] == 409 && codes[1] == 201) {
			t.Errorf("round %d: %v, want one 201 and one 409", round, codes)
		}
		if ms, err := h.svc.Members(ctx, owner.ID, org); err != nil || len(ms) != 3 {
			t.Errorf("round %d: %d members, %v; want 3", round, len(ms), err)
		}
	}
}
