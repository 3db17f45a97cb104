package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
