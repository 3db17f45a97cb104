package main_test

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/safeclose/billing/adapters/postgres/pgtest"
	"github.com/safeclose/billing/domain/billing"
)

// TestSimulateLifecycleScenarios runs each lifecycle scenario of `dev
// simulate` against the built service, one org each (paused then resumed
// on one), and reads the state the contract gives it from the status API
// and the history.
func TestSimulateLifecycleScenarios(t *testing.T) {
	db := pgtest.New(t)
	_, fake := fakeStripe(t)
	addr := freeAddr(t)
	c := cli{t: t, env: serviceEnv(db.URL, addr, fake.URL, "whsec_sim", "warn")}
	c.ok("", "migrate", "up")
	c.ok("a long password\n", "users", "create", "--email", "sim@example.com")
	token := strings.TrimSpace(c.ok("", "sessions", "create", "--email", "sim@example.com"))
	serve := exec.Command(binary, "serve", "--no-migrate")
	serve.Env = c.env
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer serve.Process.Kill()
	waitReady(t, "http://"+addr+"/readyz")
	get := func(path string, into any) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("GET %s: %v %v", path, err, res)
		}
		defer res.Body.Close()
		if err := json.NewDecoder(res.Body).Decode(into); err != nil {
			t.Fatal(err)
		}
	}
	type status struct {
		PlanTier, Status string
		TrialEnd         *string
		PaymentActionURL *string `json:"paymentActionUrl"`
	}
	for _, tc := range []struct {
		scenarios    []string
		tier, status string
		trial, sca   bool
		lastEvent    string
	}{
		{[]string{"trial"}, "PRO", "trialing", true, false, billing.TypeTrialWillEnd},
		{[]string{"checkout-completed", "sca"}, "PRO", "past_due", false, true, billing.TypeSubscriptionRefreshed},
		{[]string{"checkout-completed", "sca", "invoice-paid"}, "PRO", "active", false, false, billing.TypePaymentSucceeded},
		{[]string{"expired"}, "FREE", "none", false, false, billing.TypeCheckoutExpired},
		{[]string{"async-paid"}, "PRO", "active", false, false, billing.TypeSubscriptionRefreshed},
		{[]string{"async-failed"}, "PRO", "incomplete", false, false, billing.TypeAsyncPaymentFailed},
		{[]string{"checkout-completed", "paused"}, "PRO", "paused", false, false, billing.TypeSubscriptionPaused},
		{[]string{"checkout-completed", "paused", "resumed"}, "PRO", "active", false, false, billing.TypeSubscriptionResumed},
	} {
		name := strings.Join(tc.scenarios, "+")
		org := strings.TrimSpace(c.ok("", "orgs", "create", "--name", name, "--owner", "sim@example.com"))
		for _, sc := range tc.scenarios {
			if out := c.ok("", "dev", "simulate", sc, "--org", org); strings.Count(out, " 200 ") != strings.Count(out, "\n") {
				t.Fatalf("%s: %s", sc, out)
			}
			time.Sleep(1100 * time.Millisecond) // the next scenario's facts come a Stripe second later
		}
		var st status
		get("/api/billing/status?orgId="+org, &st)
		if st.PlanTier != tc.tier || st.Status != tc.status || (st.TrialEnd != nil) != tc.trial || (st.PaymentActionURL != nil) != tc.sca {
			t.Errorf("%s: %+v", name, st)
		}
		var page struct{ Events []struct{ Type string } }
		get("/api/billing/events?limit=500&orgId="+org, &page)
		if last := page.Events[len(page.Events)-1].Type; last != tc.lastEvent {
			t.Errorf("%s: last event %s, want %s", name, last, tc.lastEvent)
		}
	}
	if out, _, code := c.run("", "dev", "simulate", "nope", "--org", "org_x"); code != 2 || out != "" {
		t.Errorf("unknown scenario: exit %d", code)
	}
}
