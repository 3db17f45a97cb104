package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safeclose/billing/adapters/postgres/pgtest"
	"github.com/safeclose/billing/adapters/stripe/stripemock"
)

// writePlans writes a PLANS_FILE and returns its path.
func writePlans(t *testing.T, doc string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "plans.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Every command reads PLANS_FILE at its start: a bad one stops it with
// one line naming PLANS_FILE and the key, exit 2, whatever the command.
func TestPlansFileIsCheckedByEveryCommand(t *testing.T) {
	env := []string{"PATH=" + os.Getenv("PATH"), "DATABASE_URL=postgres://127.0.0.1:1/none", "STRIPE_SECRET_KEY=sk_test_x",
		"STRIPE_PRICE_STARTER=price_s", "STRIPE_PRICE_PRO=price_p", "STRIPE_PRICE_ENTERPRISE=price_e",
		"STRIPE_WEBHOOK_SECRET=whsec_x", "STRIPE_API_BASE=http://127.0.0.1:1"}
	bad := writePlans(t, "PRO:\n  name: Pro\n  limits:\n    members: -3\n")
	want := "safeclose-billing: configuration: PLANS_FILE: PRO.limits.members: must not be negative\n"
	for _, args := range [][]string{
		{"serve"}, {"plans"}, {"migrate", "status"}, {"migrate", "up"}, {"projections", "rebuild"}, {"ledger", "verify"},
		{"events", "export", "--org", "org_x"}, {"reconcile"}, {"users", "create", "--email", "a@example.com"},
		{"orgs", "create", "--name", "A", "--owner", "a@example.com"}, {"orgs", "grant", "--org", "org_x", "--email", "a@example.com", "--permission", "audit"},
		{"sessions", "create", "--email", "a@example.com"}, {"dev", "simulate", "lifecycle", "--org", "org_x"},
	} {
		c := cli{t: t, env: append(env[:len(env):len(env)], "PLANS_FILE="+bad)}
		out, errs, code := c.run("password123\n", args...)
		if code != 2 || out != "" || errs != want {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and %q", args, code, out, errs, want)
		}
	}
}

func TestPlansFileErrorsNameTheKey(t *testing.T) {
	base := []string{"PATH=" + os.Getenv("PATH"), "DATABASE_URL=postgres://127.0.0.1:1/none"}
	for _, tc := range []struct{ name, doc, want string }{
		{"unknown tier", "GOLD:\n  name: Gold\n",
			"PLANS_FILE: GOLD: unknown tier (the tiers are FREE, STARTER, PRO and ENTERPRISE)"},
		{"unknown key", "PRO:\n  name: Pro\n  price: 4900\n",
			"PLANS_FILE: PRO.price: unknown key (the keys are name, description, features, limits and trialDays)"},
		{"negative limit", "STARTER:\n  name: Starter\n  limits: {members: -1}\n",
			"PLANS_FILE: STARTER.limits.members: must not be negative"},
		{"negative trial", "ENTERPRISE:\n  name: Enterprise\n  trialDays: -14\n",
			"PLANS_FILE: ENTERPRISE.trialDays: must not be negative"},
		{"missing name", "PRO:\n  description: Nameless\n",
			"PLANS_FILE: PRO.name: is required"},
		{"trial on FREE", "FREE:\n  name: Free\n  trialDays: 7\n",
			"PLANS_FILE: FREE.trialDays: is for paid tiers only: FREE is not bought, so it has no trial"},
		{"not a number", "PRO:\n  name: Pro\n  trialDays: two weeks\n",
			"PLANS_FILE: PRO.trialDays: must be a whole number"},
		{"not YAML", "PRO:\n  name: Pro\n   trialDays: 3\n",
			"PLANS_FILE is not a valid plans file: parse YAML: yaml: line 3: mapping values are not allowed in this context"},
	} {
		c := cli{t: t, env: append(base[:len(base):len(base)], "PLANS_FILE="+writePlans(t, tc.doc))}
		out, errs, code := c.run("", "migrate", "status")
		if want := "safeclose-billing: configuration: " + tc.want + "\n"; code != 2 || out != "" || errs != want {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 2 and %q", tc.name, code, out, errs, want)
		}
	}
	missing := filepath.Join(t.TempDir(), "nope.yaml")
	c := cli{t: t, env: append(base[:len(base):len(base)], "PLANS_FILE="+missing)}
	out, errs, code := c.run("", "migrate", "status")
	if want := "safeclose-billing: configuration: PLANS_FILE cannot be read: open " + missing + ": no such file or directory\n"; code != 2 || out != "" || errs != want {
		t.Errorf("missing file: exit %d, stdout %q, stderr %q; want exit 2 and %q", code, out, errs, want)
	}
	// A good file passes the check: the command goes on (and here fails on
	// the database, exit 1, not on the file).
	c = cli{t: t, env: append(base[:len(base):len(base)], "PLANS_FILE="+writePlans(t, "PRO:\n  name: Pro\n  limits: {members: 10}\n  trialDays: 14\n"))}
	if _, errs, code := c.run("", "migrate", "status"); code != 1 || strings.Contains(errs, "PLANS_FILE") {
		t.Errorf("good file: exit %d, stderr %q", code, errs)
	}
}

const testPlans = `FREE:
  name: Free
  description: Try it.
  features: [Ledger]
  limits: {members: 2}
STARTER:
  name: Starter
  features: [Ledger, Invoices]
  limits: {members: 5, exports: 0}
  trialDays: 14
PRO:
  name: Pro
  features: [Ledger, Invoices, Audit]
  limits: {members: 25}
  trialDays: 1
ENTERPRISE:
  name: Enterprise
`

// The plans command needs Stripe's key and prices, not the database.
func TestPlansCommand(t *testing.T) {
	env := []string{"PATH=" + os.Getenv("PATH"), "STRIPE_SECRET_KEY=sk_test_x", "LOG_LEVEL=error",
		"STRIPE_PRICE_STARTER=price_s", "STRIPE_PRICE_PRO=price_p", "STRIPE_PRICE_ENTERPRISE=price_e", "PLANS_FILE=" + writePlans(t, testPlans)}
	// stripe-mock sells every price at 20.00 USD a month.
	c := cli{t: t, env: append(env[:len(env):len(env)], "STRIPE_API_BASE="+stripemock.URL(t))}
	want := "" +
		"FREE        Free        no charge     Ledger                   members 2             no trial\n" +
		"STARTER     Starter     $20.00/month  Ledger, Invoices         exports 0, members 5  14 trial days\n" +
		"PRO         Pro         $20.00/month  Ledger, Invoices, Audit  members 25            1 trial day\n" +
		"ENTERPRISE  Enterprise  $20.00/month  no features listed       no limits             no trial\n"
	if out, errs, code := c.run("", "plans"); code != 0 || out != want || errs != "" {
		t.Errorf("plans: exit %d, stderr %q, stdout:\n%s\nwant:\n%s", code, errs, out, want)
	}

	// Stripe down: the catalogue all the same, without prices; a warning
	// in the log.
	c = cli{t: t, env: append(env[:len(env):len(env)], "STRIPE_API_BASE=http://127.0.0.1:1", "LOG_LEVEL=warn")}
	want = "" +
		"FREE        Free        no charge          Ledger                   members 2             no trial\n" +
		"STARTER     Starter     price unavailable  Ledger, Invoices         exports 0, members 5  14 trial days\n" +
		"PRO         Pro         price unavailable  Ledger, Invoices, Audit  members 25            1 trial day\n" +
		"ENTERPRISE  Enterprise  price unavailable  no features listed       no limits             no trial\n"
	out, errs, code := c.run("", "plans")
	if code != 0 || out != want || !strings.Contains(errs, `"level":"warn"`) || !strings.Contains(errs, "price") {
		t.Errorf("plans with Stripe down: exit %d, stderr %q, stdout:\n%s\nwant:\n%s", code, errs, out, want)
	}

	// Without Stripe's settings it says which is missing; no database is
	// asked for.
	c = cli{t: t, env: []string{"PATH=" + os.Getenv("PATH")}}
	if _, errs, code := c.run("", "plans"); code != 2 || errs != "safeclose-billing: configuration: STRIPE_SECRET_KEY is not set\n" {
		t.Errorf("plans without Stripe: exit %d, %q", code, errs)
	}
}

// orgs grant keeps to the members limit of the org's plan like the API:
// a new member at the limit is refused (exit 1, one line, nothing
// recorded); a permission for an existing member is not.
func TestGrantKeepsToTheMembersLimit(t *testing.T) {
	db := pgtest.New(t)
	c := cli{t: t, env: []string{"PATH=" + os.Getenv("PATH"), "DATABASE_URL=" + db.URL, "LOG_LEVEL=warn",
		"PLANS_FILE=" + writePlans(t, "FREE:\n  name: Free\n  limits: {members: 2}\n")}}
	c.ok("", "migrate", "up")
	for _, email := range []string{"own@example.com", "two@example.com", "three@example.com"} {
		c.ok("a long password\n", "users", "create", "--email", email)
	}
	org := strings.TrimSpace(c.ok("", "orgs", "create", "--name", "Small Co", "--owner", "own@example.com"))
	c.ok("", "orgs", "grant", "--org", org, "--email", "two@example.com", "--permission", "audit")
	out, errs, code := c.run("", "orgs", "grant", "--org", org, "--email", "three@example.com", "--permission", "audit")
	if code != 1 || out != "" || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "members limit") || !strings.Contains(errs, "2 members on the FREE plan, which allows 2") {
		t.Errorf("grant past the limit: exit %d, stdout %q, stderr %q; want exit 1 and one line about the members limit", code, out, errs)
	}
	// An existing member's permissions still change.
	c.ok("", "orgs", "grant", "--org", org, "--email", "two@example.com", "--permission", "billing")
	if n := strings.Count(c.ok("", "events", "export", "--org", org), `"type":"MemberAdded"`); n != 2 {
		t.Errorf("%d members added, want 2 (the refused grant recorded nothing)", n)
	}
}
