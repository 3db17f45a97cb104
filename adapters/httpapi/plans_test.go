package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/safeclose/billing/domain/billing"
)

// plansBody is the exact answer expected, as JSON values.
func plansBody(t *testing.T, body string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return v
}

func jsonOf(v any) string { b, _ := json.Marshal(v); return string(b) }

// catalogue is the built-in one with PRO's limits and trial from a
// PLANS_FILE, and ENTERPRISE with neither features nor limits.
func catalogue(t *testing.T) billing.Catalogue {
	t.Helper()
	c, err := billing.BuiltInCatalogue().With(billing.Plan{Tier: billing.TierPro, Name: "Pro", Description: "For teams.",
		Features: []string{"Ledger", "Audit"}, Limits: map[string]int64{"members": 25}, TrialDays: 14})
	if err == nil {
		c, err = c.With(billing.Plan{Tier: billing.TierEnterprise, Name: "Enterprise"})
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// expectedPlans is the body for catalogue with every paid tier at price
// (a JSON object's fields: unitAmount, currency, interval), FREE apart.
func expectedPlans(t *testing.T, unitAmount, currency, interval string) string {
	free, _ := billing.BuiltInCatalogue().Plan(billing.TierFree)
	starter, _ := billing.BuiltInCatalogue().Plan(billing.TierStarter)
	return `{"plans":[
	 {"tier":"FREE","name":"Free","description":` + jsonOf(free.Description) + `,"priceId":null,"unitAmount":0,"currency":null,"interval":null,
	  "features":` + jsonOf(free.Features) + `,"limits":{},"trialDays":0},
	 {"tier":"STARTER","name":"Starter","description":` + jsonOf(starter.Description) + `,"priceId":"price_starter","unitAmount":` + unitAmount + `,"currency":` + currency + `,"interval":` + interval + `,
	  "features":` + jsonOf(starter.Features) + `,"limits":{},"trialDays":0},
	 {"tier":"PRO","name":"Pro","description":"For teams.","priceId":"price_pro","unitAmount":` + unitAmount + `,"currency":` + currency + `,"interval":` + interval + `,
	  "features":["Ledger","Audit"],"limits":{"members":25},"trialDays":14},
	 {"tier":"ENTERPRISE","name":"Enterprise","description":"","priceId":"price_enterprise","unitAmount":` + unitAmount + `,"currency":` + currency + `,"interval":` + interval + `,
	  "features":[],"limits":{},"trialDays":0}]}`
}

func TestPlansWithPricesFromStripe(t *testing.T) {
	h := newHarness(t, options{plans: catalogue(t)})
	tok := h.session(h.user("viewer@example.com"))
	rec := h.do("GET", "/api/billing/plans", tok, nil)
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	// stripe-mock sells every price at 20.00 USD a month.
	want := plansBody(t, expectedPlans(t, "2000", `"usd"`, `"month"`))
	if got := plansBody(t, rec.Body.String()); !reflect.DeepEqual(got, want) {
		t.Errorf("plans:\n got %s\nwant %s", jsonOf(got), jsonOf(want))
	}
	for _, id := range []string{"price_starter", "price_pro", "price_enterprise"} {
		reqs := h.mock.Requests("/v1/prices/" + id)
		if len(reqs) != 1 || reqs[0].Method != "GET" {
			t.Errorf("%s read %d times from Stripe", id, len(reqs))
		}
	}
	// Read again within the hour: from the cache, not from Stripe.
	for range 3 {
		if rec := h.do("GET", "/api/billing/plans", tok, nil); rec.Code != 200 || !reflect.DeepEqual(plansBody(t, rec.Body.String()), want) {
			t.Fatalf("again: %d %s", rec.Code, rec.Body)
		}
	}
	if n := len(h.mock.Requests("/v1/prices/price_pro")); n != 1 {
		t.Errorf("price_pro read %d times for 4 requests", n)
	}
}

func TestPlansWithStripeDown(t *testing.T) {
	h := newHarness(t, options{plans: catalogue(t), pricesBase: "http://127.0.0.1:1"})
	tok := h.session(h.user("viewer@example.com"))
	rec := h.do("GET", "/api/billing/plans", tok, nil)
	if rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	want := plansBody(t, expectedPlans(t, "null", "null", "null"))
	if got := plansBody(t, rec.Body.String()); !reflect.DeepEqual(got, want) {
		t.Errorf("plans:\n got %s\nwant %s", jsonOf(got), jsonOf(want))
	}
	// Nulls are written out, and empty lists and objects are [] and {}.
	for _, s := range []string{`"unitAmount":null`, `"currency":null`, `"interval":null`, `"features":[]`, `"limits":{}`} {
		if !strings.Contains(rec.Body.String(), s) {
			t.Errorf("body lacks %s: %s", s, rec.Body)
		}
	}
}

func TestPlansWithTheBuiltInCatalogue(t *testing.T) {
	h := newHarness(t)
	rec := h.do("GET", "/api/billing/plans", h.session(h.user("viewer@example.com")), nil)
	var body struct {
		Plans []struct {
			Tier      string
			Name      string
			Features  []string
			Limits    map[string]int64
			TrialDays int
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); rec.Code != 200 || err != nil {
		t.Fatalf("%d %v %s", rec.Code, err, rec.Body)
	}
	var tiers []string
	for _, p := range body.Plans {
		tiers = append(tiers, p.Tier+" "+p.Name)
		if len(p.Limits) != 0 || p.TrialDays != 0 || len(p.Features) == 0 {
			t.Errorf("built-in %s: %+v", p.Tier, p)
		}
	}
	if !reflect.DeepEqual(tiers, []string{"FREE Free", "STARTER Starter", "PRO Pro", "ENTERPRISE Enterprise"}) {
		t.Errorf("tiers %v", tiers)
	}
}

func TestPlansNeedASession(t *testing.T) {
	h := newHarness(t)
	for _, token := range []string{"", "not-a-session"} {
		rec := h.do("GET", "/api/billing/plans", token, nil)
		if rec.Code != 401 || !strings.Contains(rec.Body.String(), `"code":"unauthenticated"`) {
			t.Errorf("token %q: %d %s", token, rec.Code, rec.Body)
		}
	}
	if n := len(h.mock.Requests("/v1/prices/price_pro")); n != 0 {
		t.Errorf("Stripe read %d times for unauthenticated requests", n)
	}
}

// stripePrices serves the tiers' prices in three currencies, as Stripe
// would: JPY has no minor units.
func stripePrices(t *testing.T) string {
	prices := map[string]string{
		"/v1/prices/price_starter":    `{"id":"price_starter","object":"price","billing_scheme":"per_unit","currency":"jpy","unit_amount":4900,"recurring":{"interval":"month","interval_count":1,"usage_type":"licensed"}}`,
		"/v1/prices/price_pro":        `{"id":"price_pro","object":"price","billing_scheme":"per_unit","currency":"usd","unit_amount":14700,"recurring":{"interval":"month","interval_count":3,"usage_type":"licensed"}}`,
		"/v1/prices/price_enterprise": `{"id":"price_enterprise","object":"price","billing_scheme":"per_unit","currency":"eur","unit_amount":199000,"recurring":{"interval":"year","interval_count":1,"usage_type":"licensed"}}`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := prices[r.URL.Path]
		if !ok || r.Method != http.MethodGet {
			w.WriteHeader(http.StatusNotFound)
			body = `{"error":{"type":"invalid_request_error","message":"No such price"}}`
		}
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// page fetches the billing page as the user with the session token.
func (h *harness) page(t *testing.T, org, token string) string {
	t.Helper()
	req := httptest.NewRequest("GET", "/orgs/"+org+"/billing", nil)
	req.AddCookie(&http.Cookie{Name: "sc_test", Value: token})
	rec := httptest.NewRecorder()
	h.handler.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("billing page: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

func TestPlansOnTheBillingPage(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, stripe string
		want         []string
	}{
		{"prices in their currencies", stripePrices(t), []string{
			`id="price-FREE"><span class="amount">No charge</span></p>`,
			`id="price-STARTER"><span class="amount">¥4,900</span> <span class="per">per month</span></p>`,
			`id="price-PRO"><span class="amount">$147.00</span> <span class="per">every 3 months</span></p>`,
			`id="price-ENTERPRISE"><span class="amount">€1,990.00</span> <span class="per">per year</span></p>`,
		}},
		{"Stripe down", "http://127.0.0.1:1", []string{
			`id="price-FREE"><span class="amount">No charge</span></p>`,
			`class="price unavailable" id="price-STARTER"><span class="amount">Price unavailable</span></p>`,
			`class="price unavailable" id="price-PRO"><span class="amount">Price unavailable</span></p>`,
			`class="price unavailable" id="price-ENTERPRISE"><span class="amount">Price unavailable</span></p>`,
		}},
	} {
		h := newHarness(t, options{plans: catalogue(t), pricesBase: tc.stripe})
		owner := h.user("owner@example.com")
		org, err := h.svc.CreateOrg(ctx, appActor(owner), "Acme", owner.Email)
		if err != nil {
			t.Fatal(err)
		}
		html := h.page(t, org, h.session(owner))
		for _, want := range append(tc.want, "<li>Up to 25 members</li>", "<li>14-day free trial</li>", "<li>Audit</li>", "For teams.") {
			if !strings.Contains(html, want) {
				t.Errorf("%s: the page lacks %s", tc.name, want)
			}
		}
		if n := strings.Count(html, "data-checkout="); n != 3 {
			t.Errorf("%s: %d Upgrade buttons, want 3 (none for FREE)", tc.name, n)
		}
	}
}
