package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/safeclose/billing/adapters/stripe"
	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// world is an org with one user in each role the authorization matrix needs.
type world struct {
	org, otherOrg                               string
	owner, billingU, auditU, plain, outsider    ports.User
	tOwner, tBilling, tAudit, tPlain, tOutsider string
	tExpired                                    string
	target                                      ports.User // a member the owner can edit and remove
}

func newWorld(t *testing.T, h *harness) world {
	t.Helper()
	ctx := context.Background()
	var w world
	w.owner, w.billingU, w.auditU = h.user("owner@example.com"), h.user("billing@example.com"), h.user("audit@example.com")
	w.plain, w.outsider, w.target = h.user("plain@example.com"), h.user("outsider@example.com"), h.user("target@example.com")
	var err error
	if w.org, err = h.svc.CreateOrg(ctx, appActor(w.owner), "Acme", w.owner.Email); err != nil {
		t.Fatal(err)
	}
	if w.otherOrg, err = h.svc.CreateOrg(ctx, appActor(w.outsider), "Other", w.outsider.Email); err != nil {
		t.Fatal(err)
	}
	for u, perms := range map[*ports.User][]string{&w.billingU: {"billing"}, &w.auditU: {"audit"}, &w.plain: {}, &w.target: {"audit"}} {
		if _, err := h.svc.AddMember(ctx, appActor(w.owner), w.org, u.Email, perms); err != nil {
			t.Fatal(err)
		}
	}
	w.tOwner, w.tBilling, w.tAudit, w.tPlain, w.tOutsider = h.session(w.owner), h.session(w.billingU), h.session(w.auditU), h.session(w.plain), h.session(w.outsider)
	w.tExpired = h.session(w.owner)
	if _, err := h.db.ExecContext(ctx, "UPDATE sessions SET expires_at = now() - interval '1 second' WHERE token_hash = sha256(?::bytea)", w.tExpired); err != nil {
		t.Fatal(err)
	}
	return w
}

func TestAuthorizationMatrix(t *testing.T) {
	h := newHarness(t)
	w := newWorld(t, h)
	// Link a customer so the portal can open.
	spec := stripe.SubscriptionSpec{OrgID: w.org, CustomerID: "cus_acme", SubscriptionID: "sub_acme", Tier: billing.TierPro}
	mustOK(t, h.deliver(h.factory.Event("evt_link", "checkout.session.completed", time.Now(), h.factory.CheckoutSession("cs_1", spec))), "link")
	// The portal needs a customer, checkout needs none live: cancel it so both work.
	mustOK(t, h.deliver(h.factory.Event("evt_del", "customer.subscription.deleted", time.Now().Add(time.Second), h.factory.Subscription(stripe.SubscriptionSpec{
		OrgID: w.org, CustomerID: "cus_acme", SubscriptionID: "sub_acme", Tier: billing.TierPro, Status: "canceled", CurrentPeriodEnd: time.Now()}))), "cancel")

	type route struct {
		name  string
		do    func(org, token string) *httptest.ResponseRecorder
		ok    int
		allow map[string]bool // callers allowed
	}
	members := map[string]bool{"plain": true, "audit": true, "billing": true, "owner": true}
	billers := map[string]bool{"billing": true, "owner": true}
	owners := map[string]bool{"owner": true}
	routes := []route{
		{"GET members", func(org, tok string) *httptest.ResponseRecorder {
			return h.do("GET", "/api/orgs/"+org+"/members", tok, nil)
		}, 200, members},
		{"POST members", func(org, tok string) *httptest.ResponseRecorder {
			return h.do("POST", "/api/orgs/"+org+"/members", tok, map[string]any{"email": w.target.Email, "permissions": []string{"audit"}})
		}, 201, owners},
		{"PUT permissions", func(org, tok string) *httptest.ResponseRecorder {
			return h.do("PUT", "/api/orgs/"+org+"/members/"+w.target.ID+"/permissions", tok, map[string]any{"permissions": []string{"audit"}})
		}, 200, owners},
		{"DELETE member", func(org, tok string) *httptest.ResponseRecorder {
			rec := h.do("DELETE", "/api/orgs/"+org+"/members/"+w.target.ID, tok, nil)
			if rec.Code == 204 { // put the target back for the next caller
				h.do("POST", "/api/orgs/"+org+"/members", w.tOwner, map[string]any{"email": w.target.Email, "permissions": []string{"audit"}})
			}
			return rec
		}, 204, owners},
		{"POST checkout-session", func(org, tok string) *httptest.ResponseRecorder {
			return h.do("POST", "/api/billing/checkout-session", tok, map[string]any{"orgId": org, "planTier": "PRO"})
		}, 200, billers},
		{"POST portal", func(org, tok string) *httptest.ResponseRecorder {
			return h.do("POST", "/api/billing/portal", tok, map[string]any{"orgId": org})
		}, 200, billers},
		{"GET status", func(org, tok string) *httptest.ResponseRecorder {
			return h.do("GET", "/api/billing/status?orgId="+org, tok, nil)
		}, 200, members},
		{"GET entitlements", func(org, tok string) *httptest.ResponseRecorder {
			return h.do("GET", "/api/billing/entitlements?orgId="+org, tok, nil)
		}, 200, members},
	}
	callers := []struct {
		name, org, token string
		status           int // when not allowed
	}{
		{"none", w.org, "", 401},
		{"garbage", w.org, "not-a-token", 401},
		{"expired", w.org, w.tExpired, 401},
		{"non-member", w.org, w.tOutsider, 403},
		{"unknown org", "org_doesnotexist", w.tOwner, 403},
		{"foreign org", w.otherOrg, w.tOwner, 403},
		{"plain", w.org, w.tPlain, 403},
		{"audit", w.org, w.tAudit, 403},
		{"billing", w.org, w.tBilling, 403},
		{"owner", w.org, w.tOwner, 403},
	}
	checked := 0
	for _, r := range routes {
		for _, c := range callers {
			want := c.status
			if r.allow[c.name] {
				want = r.ok
			}
			rec := r.do(c.org, c.token)
			if rec.Code != want {
				t.Errorf("%s as %s: %d %s, want %d", r.name, c.name, rec.Code, rec.Body, want)
				continue
			}
			if want >= 400 {
				var body struct {
					Error struct{ Code, Message string }
				}
				_ = json.Unmarshal(rec.Body.Bytes(), &body)
				code := map[int]string{401: "unauthenticated", 403: "forbidden"}[want]
				if body.Error.Code != code || body.Error.Message == "" {
					t.Errorf("%s as %s: body %s, want code %s", r.name, c.name, rec.Body, code)
				}
			}
			checked++
		}
	}
	t.Logf("%d route × caller cases", checked)
	// An unknown org and a foreign org answer exactly alike.
	a := h.do("GET", "/api/billing/status?orgId=org_doesnotexist", w.tOwner, nil)
	b := h.do("GET", "/api/billing/status?orgId="+w.otherOrg, w.tOwner, nil)
	if a.Code != b.Code || a.Body.String() != b.Body.String() {
		t.Errorf("unknown org %d %s vs foreign org %d %s", a.Code, a.Body, b.Code, b.Body)
	}
}

func TestCheckoutSendsExactParametersToStripe(t *testing.T) {
	h := newHarness(t)
	w := newWorld(t, h)
	rec := h.do("POST", "/api/billing/checkout-session", w.tBilling, map[string]any{"orgId": w.org, "planTier": "ENTERPRISE"})
	if rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	var out struct{ URL string }
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	if !strings.HasPrefix(out.URL, "https://") {
		t.Errorf("url = %q", out.URL)
	}
	// A double click: the same idempotency key.
	if rec := h.do("POST", "/api/billing/checkout-session", w.tBilling, map[string]any{"orgId": w.org, "planTier": "ENTERPRISE"}); rec.Code != 200 {
		t.Fatalf("second click: %d %s", rec.Code, rec.Body)
	}
	reqs := h.mock.Requests("/v1/checkout/sessions")
	if len(reqs) != 2 {
		t.Fatalf("%d checkout requests reached Stripe, want 2", len(reqs))
	}
	f := reqs[0].Form
	page := baseURL + "/orgs/" + w.org + "/billing"
	want := map[string]string{
		"mode": "subscription", "line_items[0][price]": "price_enterprise", "line_items[0][quantity]": "1",
		"client_reference_id": w.org, "metadata[orgId]": w.org, "metadata[planTier]": "ENTERPRISE",
		"subscription_data[metadata][orgId]": w.org, "subscription_data[metadata][planTier]": "ENTERPRISE",
		"success_url": page + "?checkout=success&session_id={CHECKOUT_SESSION_ID}", "cancel_url": page + "?checkout=canceled",
	}
	for k, v := range want {
		if f.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, f.Get(k), v)
		}
	}
	if f.Has("customer") {
		t.Error("customer sent before the org has one")
	}
	if f.Has("subscription_data[trial_period_days]") {
		t.Error("a trial asked for a plan without trialDays")
	}
	k1, k2 := reqs[0].Header.Get("Idempotency-Key"), reqs[1].Header.Get("Idempotency-Key")
	if k1 == "" || k1 != k2 {
		t.Errorf("idempotency keys %q and %q: a double click must send the same", k1, k2)
	}
	if got := reqs[0].Header.Get("Stripe-Version"); got != "2023-10-16" {
		t.Errorf("Stripe-Version = %q", got)
	}
	// Another tier is another key.
	h.do("POST", "/api/billing/checkout-session", w.tBilling, map[string]any{"orgId": w.org, "planTier": "STARTER"})
	if k3 := h.mock.Requests("/v1/checkout/sessions")[2].Header.Get("Idempotency-Key"); k3 == k1 {
		t.Error("a different tier reused the idempotency key")
	}
	// CheckoutStarted recorded with the actor.
	var started []ports.StoredEvent
	for _, e := range h.ledger(w.org) {
		if e.Type == billing.TypeCheckoutStarted {
			started = append(started, e)
		}
	}
	if len(started) != 3 || started[0].Metadata.Actor != "user:"+w.billingU.ID || started[0].Metadata.RequestID == "" {
		t.Fatalf("CheckoutStarted events: %+v", started)
	}

	// Once a customer is linked, it is passed; and the portal opens for it.
	spec := stripe.SubscriptionSpec{OrgID: w.org, CustomerID: "cus_acme", SubscriptionID: "sub_acme", Tier: billing.TierPro}
	mustOK(t, h.deliver(h.factory.Event("evt_link", "checkout.session.completed", time.Now(), h.factory.CheckoutSession("cs_1", spec))), "link")
	rec = h.do("POST", "/api/billing/checkout-session", w.tBilling, map[string]any{"orgId": w.org, "planTier": "PRO"})
	if rec.Code != 409 || !strings.Contains(rec.Body.String(), `"subscription_exists"`) {
		t.Errorf("checkout with a live subscription: %d %s", rec.Code, rec.Body)
	}
	if n := len(h.mock.Requests("/v1/checkout/sessions")); n != 3 {
		t.Errorf("the refused checkout reached Stripe (%d requests)", n)
	}
	rec = h.do("POST", "/api/billing/portal", w.tOwner, map[string]any{"orgId": w.org})
	if rec.Code != 200 {
		t.Fatalf("portal: %d %s", rec.Code, rec.Body)
	}
	p := h.mock.Requests("/v1/billing_portal/sessions")
	if len(p) != 1 || p[0].Form.Get("customer") != "cus_acme" || p[0].Form.Get("return_url") != page {
		t.Errorf("portal request: %+v", p)
	}
	mustOK(t, h.deliver(h.factory.Event("evt_del", "customer.subscription.deleted", time.Now().Add(time.Second), h.factory.Subscription(stripe.SubscriptionSpec{
		OrgID: w.org, CustomerID: "cus_acme", SubscriptionID: "sub_acme", Tier: billing.TierPro, Status: "canceled", CurrentPeriodEnd: time.Now()}))), "cancel")
	h.do("POST", "/api/billing/checkout-session", w.tBilling, map[string]any{"orgId": w.org, "planTier": "PRO"})
	if last := h.mock.Requests("/v1/checkout/sessions"); len(last) != 4 || last[3].Form.Get("customer") != "cus_acme" {
		t.Errorf("checkout after cancellation did not reuse the customer")
	}
}

func TestPortalBeforeAnyCheckoutIsAConflict(t *testing.T) {
	h := newHarness(t)
	w := newWorld(t, h)
	rec := h.do("POST", "/api/billing/portal", w.tOwner, map[string]any{"orgId": w.org})
	if rec.Code != 409 || !strings.Contains(rec.Body.String(), `"no_customer"`) {
		t.Errorf("%d %s", rec.Code, rec.Body)
	}
	if n := len(h.mock.Requests("/v1/billing_portal/sessions")); n != 0 {
		t.Error("reached Stripe")
	}
}

func TestStripeUnreachableIs502AndRecordsNothing(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	h := newHarness(t, options{paymentsBase: dead.URL})
	w := newWorld(t, h)
	before := len(h.ledger(w.org))
	start := time.Now()
	rec := h.do("POST", "/api/billing/checkout-session", w.tOwner, map[string]any{"orgId": w.org, "planTier": "PRO"})
	if rec.Code != 502 || !strings.Contains(rec.Body.String(), `"stripe_unavailable"`) || strings.Contains(rec.Body.String(), "sk_test") {
		t.Errorf("%d %s", rec.Code, rec.Body)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("took %v: Stripe calls must be bounded", time.Since(start))
	}
	if after := len(h.ledger(w.org)); after != before {
		t.Errorf("%d events recorded", after-before)
	}
}

func TestValidationErrors(t *testing.T) {
	h := newHarness(t)
	w := newWorld(t, h)
	post := func(path, body string, headers ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+w.tOwner)
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		rec := httptest.NewRecorder()
		h.handler.ServeHTTP(rec, req)
		return rec
	}
	co := "/api/billing/checkout-session"
	for _, tc := range []struct {
		name, path, body string
		headers          []string
		status           int
		code, mention    string
	}{
		{"not json", co, `{"orgId":`, nil, 400, "invalid_json", ""},
		{"an array", co, `[1]`, nil, 400, "invalid_json", ""},
		{"two values", co, `{"orgId":"x","planTier":"PRO"} {}`, nil, 400, "invalid_json", ""},
		{"unknown field", co, fmt.Sprintf(`{"orgId":%q,"planTier":"PRO","coupon":"FREE"}`, w.org), nil, 400, "invalid_request", "coupon"},
		{"missing orgId", co, `{"planTier":"PRO"}`, nil, 400, "invalid_request", "orgId"},
		{"missing planTier", co, fmt.Sprintf(`{"orgId":%q}`, w.org), nil, 400, "invalid_request", "planTier"},
		{"lowercase tier", co, fmt.Sprintf(`{"orgId":%q,"planTier":"pro"}`, w.org), nil, 400, "invalid_request", "planTier"},
		{"FREE tier", co, fmt.Sprintf(`{"orgId":%q,"planTier":"FREE"}`, w.org), nil, 400, "invalid_request", "planTier"},
		{"wrong type", co, `{"orgId":5,"planTier":"PRO"}`, nil, 400, "invalid_request", "orgId"},
		{"not json content type", co, `{}`, []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type", ""},
		{"too large", co, `{"orgId":"` + strings.Repeat("x", 1<<20) + `"}`, nil, 413, "body_too_large", ""},
		{"portal missing orgId", "/api/billing/portal", `{}`, nil, 400, "invalid_request", "orgId"},
		{"org without name", "/api/orgs", `{"name":""}`, nil, 400, "invalid_request", "name"},
		{"org name with NUL", "/api/orgs", `{"name":"a\u0000b"}`, nil, 400, "invalid_request", `"name" must not contain control characters`},
		{"org name with a tab", "/api/orgs", `{"name":"a\tb"}`, nil, 400, "invalid_request", `"name" must not contain control characters`},
		{"org name with a newline", "/api/orgs", `{"name":"Acme\nInc"}`, nil, 400, "invalid_request", `"name" must not contain control characters`},
		{"org name with a C1 control", "/api/orgs", `{"name":"Ac\u0085me"}`, nil, 400, "invalid_request", `"name" must not contain control characters`},
		{"member email with NUL", "/api/orgs/" + w.org + "/members", `{"email":"a\u0000b@example.com","permissions":[]}`, nil, 400, "invalid_request", `"email" must not contain control characters`},
		{"login email with NUL", "/api/auth/login", `{"email":"a\u0000b@example.com","password":"x"}`, nil, 400, "invalid_request", `"email" must not contain control characters`},
		{"member bad permission", "/api/orgs/" + w.org + "/members", `{"email":"plain@example.com","permissions":["admin"]}`, nil, 400, "invalid_request", "permissions"},
		{"member unknown email", "/api/orgs/" + w.org + "/members", `{"email":"nobody@example.com","permissions":[]}`, nil, 400, "invalid_request", "email"},
		{"login missing password", "/api/auth/login", `{"email":"a@b.c"}`, nil, 400, "invalid_request", "password"},
	} {
		rec := post(tc.path, tc.body, tc.headers...)
		var body struct {
			Error struct{ Code, Message string }
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		if rec.Code != tc.status || body.Error.Code != tc.code || !strings.Contains(body.Error.Message, tc.mention) {
			t.Errorf("%s: %d %s, want %d %s naming %q", tc.name, rec.Code, rec.Body, tc.status, tc.code, tc.mention)
		}
	}
	// Owners keep both permissions; an org keeps an owner.
	if rec := h.do("PUT", "/api/orgs/"+w.org+"/members/"+w.owner.ID+"/permissions", w.tOwner, map[string]any{"permissions": []string{"audit"}}); rec.Code != 400 {
		t.Errorf("shrinking an owner: %d %s", rec.Code, rec.Body)
	}
	if rec := h.do("DELETE", "/api/orgs/"+w.org+"/members/"+w.owner.ID, w.tOwner, nil); rec.Code != 400 {
		t.Errorf("removing the last owner: %d %s", rec.Code, rec.Body)
	}
	if rec := h.do("DELETE", "/api/orgs/"+w.org+"/members/usr_nobody", w.tOwner, nil); rec.Code != 404 {
		t.Errorf("removing a non-member: %d %s", rec.Code, rec.Body)
	}
	if rec := h.do("GET", "/api/billing/status", w.tOwner, nil); rec.Code != 400 {
		t.Errorf("status without orgId: %d", rec.Code)
	}
}

func TestLoginLogoutAndSessions(t *testing.T) {
	h := newHarness(t)
	u := h.user("alice@example.com")
	login := func(email, password string, headers ...string) *httptest.ResponseRecorder {
		return h.do("POST", "/api/auth/login", "", map[string]string{"email": email, "password": password}, headers...)
	}
	bad1, bad2 := login("nobody@example.com", "correct horse"), login("alice@example.com", "wrong horse")
	if bad1.Code != 401 || bad1.Code != bad2.Code || bad1.Body.String() != bad2.Body.String() || !strings.Contains(bad1.Body.String(), "invalid_credentials") {
		t.Errorf("unknown email %d %s vs wrong password %d %s", bad1.Code, bad1.Body, bad2.Code, bad2.Body)
	}
	ok := login("Alice@Example.com", "correct horse")
	if ok.Code != 204 {
		t.Fatalf("login: %d %s", ok.Code, ok.Body)
	}
	cookie := ok.Result().Cookies()[0]
	if cookie.Name != "sc_test" || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Secure || len(cookie.Value) < 40 {
		t.Errorf("cookie = %+v", cookie)
	}
	var stored []byte
	_ = h.db.QueryRowContext(context.Background(), "SELECT token_hash FROM sessions WHERE user_id = ? LIMIT 1", u.ID).Scan(&stored)
	if len(stored) != 32 || strings.Contains(string(stored), cookie.Value) {
		t.Error("the session token is stored, not its hash")
	}
	me := h.do("GET", "/api/me", "", nil, "Cookie", "sc_test="+cookie.Value)
	if me.Code != 200 || !strings.Contains(me.Body.String(), `"email":"alice@example.com"`) || !strings.Contains(me.Body.String(), `"orgs":[]`) {
		t.Errorf("me: %d %s", me.Code, me.Body)
	}
	// Create an org through the API: the caller owns it.
	rec := h.do("POST", "/api/orgs", "", map[string]string{"name": "Alice Co"}, "Cookie", "sc_test="+cookie.Value)
	if rec.Code != 201 || !strings.Contains(rec.Body.String(), `"orgId":"org_`) {
		t.Fatalf("create org: %d %s", rec.Code, rec.Body)
	}
	// A foreign Origin is refused on state-changing requests.
	if rec := h.do("POST", "/api/orgs", "", map[string]string{"name": "Evil"}, "Cookie", "sc_test="+cookie.Value, "Origin", "https://evil.example"); rec.Code != 403 {
		t.Errorf("foreign origin: %d %s", rec.Code, rec.Body)
	}
	if rec := h.do("POST", "/api/orgs", "", map[string]string{"name": "Mine"}, "Cookie", "sc_test="+cookie.Value, "Origin", baseURL); rec.Code != 201 {
		t.Errorf("own origin: %d %s", rec.Code, rec.Body)
	}
	// Logout revokes the token.
	if rec := h.do("POST", "/api/auth/logout", "", nil, "Cookie", "sc_test="+cookie.Value); rec.Code != 204 {
		t.Fatalf("logout: %d", rec.Code)
	}
	if rec := h.do("GET", "/api/me", "", nil, "Cookie", "sc_test="+cookie.Value); rec.Code != 401 {
		t.Errorf("after logout: %d", rec.Code)
	}
	// Successful logins are not limited.
	for i := range 15 {
		if rec := login("alice@example.com", "correct horse"); rec.Code != 204 {
			t.Fatalf("successful login %d: %d", i, rec.Code)
		}
	}
	// Failed ones are, per email.
	limited := false
	for range 15 {
		if login("alice@example.com", "wrong horse").Code == 429 {
			limited = true
			break
		}
	}
	if !limited {
		t.Error("no rate limit on repeated failed logins")
	}
}

func TestMembershipChangesAreLedgerEventsWithTheActor(t *testing.T) {
	h := newHarness(t)
	w := newWorld(t, h)
	h.do("PUT", "/api/orgs/"+w.org+"/members/"+w.target.ID+"/permissions", w.tOwner, map[string]any{"permissions": []string{"billing"}})
	var perms string
	if err := h.db.QueryRowContext(context.Background(), "SELECT permissions::text FROM memberships WHERE org_id = ? AND user_id = ?",
		w.org, w.target.ID).Scan(&perms); err != nil || perms != "{billing}" {
		t.Errorf("memberships after the change: %q, %v", perms, err)
	}
	h.do("DELETE", "/api/orgs/"+w.org+"/members/"+w.target.ID, w.tOwner, nil)
	if n := h.count("SELECT count(*) FROM memberships WHERE org_id = ? AND user_id = ?", w.org, w.target.ID); n != 0 {
		t.Errorf("%d membership rows after the removal", n)
	}
	var types []string
	for _, e := range h.ledger(w.org) {
		types = append(types, e.Type)
		if e.Type != billing.TypeOrgCreated && e.Metadata.Actor != "user:"+w.owner.ID {
			t.Errorf("%s by %q", e.Type, e.Metadata.Actor)
		}
	}
	want := "OrgCreated MemberAdded MemberAdded MemberAdded MemberAdded MemberAdded MemberPermissionsChanged MemberRemoved"
	if got := strings.Join(types, " "); got != want {
		t.Errorf("ledger: %s\nwant     %s", got, want)
	}
	rec := h.do("GET", "/api/orgs/"+w.org+"/members", w.tPlain, nil)
	if rec.Code != 200 || strings.Contains(rec.Body.String(), w.target.Email) || !strings.Contains(rec.Body.String(), `"role":"owner"`) {
		t.Errorf("members: %s", rec.Body)
	}
	h.verifyLedger()
}
