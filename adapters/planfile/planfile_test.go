package planfile_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/safeclose/billing/adapters/planfile"
	"github.com/safeclose/billing/domain/billing"
)

const good = `# Our plans.
STARTER:
  name: Starter
  description: For small teams.
  features: [Ledger, History]
  limits: {members: 5}
  trialDays: 14
PRO:
  name: Pro
  features:
    - Ledger
    - &audit Auditor access
    - 2026
  limits:
    members: 25
    exports: 0
ENTERPRISE:
  name: Enterprise
  description:
FREE:
  name: Free
  limits: {members: 2}
  trialDays: 0
`

func TestAGoodFileReplacesTheTiersItNames(t *testing.T) {
	base := billing.BuiltInCatalogue()
	cat, err := planfile.Parse([]byte(good), base)
	if err != nil {
		t.Fatal(err)
	}
	want := map[billing.Tier]billing.Plan{
		billing.TierFree: {Tier: billing.TierFree, Name: "Free", Features: []string{}, Limits: map[string]int64{"members": 2}},
		billing.TierStarter: {Tier: billing.TierStarter, Name: "Starter", Description: "For small teams.",
			Features: []string{"Ledger", "History"}, Limits: map[string]int64{"members": 5}, TrialDays: 14},
		billing.TierPro: {Tier: billing.TierPro, Name: "Pro", Features: []string{"Ledger", "Auditor access", "2026"},
			Limits: map[string]int64{"members": 25, "exports": 0}},
		billing.TierEnterprise: {Tier: billing.TierEnterprise, Name: "Enterprise", Features: []string{}, Limits: map[string]int64{}},
	}
	plans := cat.Plans()
	if len(plans) != 4 || plans[0].Tier != billing.TierFree {
		t.Fatalf("plans %+v", plans)
	}
	for _, p := range plans {
		if !reflect.DeepEqual(p, want[p.Tier]) {
			t.Errorf("%s:\n got %+v\nwant %+v", p.Tier, p, want[p.Tier])
		}
	}

	// A tier left out keeps the built-in plan.
	cat, err = planfile.Parse([]byte("PRO:\n  name: Pro\n  trialDays: 30\n"), base)
	if err != nil {
		t.Fatal(err)
	}
	for _, tier := range billing.Tiers() {
		got, _ := cat.Plan(tier)
		was, _ := base.Plan(tier)
		if tier == billing.TierPro {
			if got.TrialDays != 30 || got.Description != "" {
				t.Errorf("PRO: %+v", got)
			}
		} else if !reflect.DeepEqual(got, was) {
			t.Errorf("%s changed though the file leaves it out: %+v", tier, got)
		}
	}
}

func TestEmptyFilesChangeNothing(t *testing.T) {
	base := billing.BuiltInCatalogue()
	for _, doc := range []string{"", "# nothing yet\n", "~\n", "---\n"} {
		cat, err := planfile.Parse([]byte(doc), base)
		if err != nil || !reflect.DeepEqual(cat.Plans(), base.Plans()) {
			t.Errorf("%q: %v", doc, err)
		}
	}
}

func TestBadFilesNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		name, doc, key, problem string
	}{
		{"unknown tier", "GOLD:\n  name: Gold\n", "GOLD", "unknown tier"},
		{"tier in lower case", "pro:\n  name: Pro\n", "pro", "unknown tier"},
		{"unknown key", "PRO:\n  name: Pro\n  price: 49\n", "PRO.price", "unknown key"},
		{"key in another case", "PRO:\n  name: Pro\n  TrialDays: 3\n", "PRO.TrialDays", "unknown key"},
		{"merge key", "PRO:\n  <<: {name: Pro}\n", "PRO.<<", "unknown key"},
		{"negative limit", "PRO:\n  name: Pro\n  limits:\n    members: -1\n", "PRO.limits.members", "must not be negative"},
		{"negative trial", "STARTER:\n  name: Starter\n  trialDays: -7\n", "STARTER.trialDays", "must not be negative"},
		{"missing name", "PRO:\n  description: No name\n", "PRO.name", "is required"},
		{"null name", "PRO:\n  name:\n", "PRO.name", "is required"},
		{"empty tier", "PRO:\n", "PRO.name", "is required"},
		{"trial on FREE", "FREE:\n  name: Free\n  trialDays: 14\n", "FREE.trialDays", "is for paid tiers only"},
		{"trial too long", "PRO:\n  name: Pro\n  trialDays: 731\n", "PRO.trialDays", "must be at most 730"},
		{"fractional trial", "PRO:\n  name: Pro\n  trialDays: 14.5\n", "PRO.trialDays", "must be a whole number"},
		{"trial as a float", "PRO:\n  name: Pro\n  trialDays: 14.0\n", "PRO.trialDays", "must be a whole number"},
		{"trial as a string", "PRO:\n  name: Pro\n  trialDays: \"14\"\n", "PRO.trialDays", "must be a whole number"},
		{"limit as a word", "PRO:\n  name: Pro\n  limits: {members: many}\n", "PRO.limits.members", "must be a whole number"},
		{"limit too large", "PRO:\n  name: Pro\n  limits: {members: 9223372036854775808}\n", "PRO.limits.members", "must be a whole number"},
		{"limits as a list", "PRO:\n  name: Pro\n  limits: [members]\n", "PRO.limits", "must be a mapping"},
		{"bad limit name", "PRO:\n  name: Pro\n  limits: {Team size: 3}\n", "PRO.limits.Team size", "must be a name of letters"},
		{"features as a string", "PRO:\n  name: Pro\n  features: Ledger\n", "PRO.features", "must be a list of strings"},
		{"a feature that is a list", "PRO:\n  name: Pro\n  features: [Ledger, [a, b]]\n", "PRO.features[1]", "must be a string"},
		{"a null feature", "PRO:\n  name: Pro\n  features: [Ledger, ~]\n", "PRO.features[1]", "must not be empty"},
		{"name as a list", "PRO:\n  name: [Pro]\n", "PRO.name", "must be a string"},
		{"name on two lines", "PRO:\n  name: \"Pro\\nPlus\"\n", "PRO.name", "must not contain control characters"},
		{"tier not a mapping", "PRO: Pro\n", "PRO", "must be a mapping"},
		{"tier twice", "PRO:\n  name: Pro\nPRO:\n  name: Pro\n", "PRO", "appears twice"},
		{"key twice", "PRO:\n  name: Pro\n  name: Pro 2\n", "PRO.name", "appears twice"},
		{"limit twice", "PRO:\n  name: Pro\n  limits: {members: 1, members: 2}\n", "PRO.limits.members", "appears twice"},
		{"first problem in file order", "PRO:\n  name: Pro\n  limits: {members: -1}\nGOLD: {}\n", "PRO.limits.members", "must not be negative"},
	} {
		_, err := planfile.Parse([]byte(tc.doc), billing.BuiltInCatalogue())
		var pe *billing.PlanError
		if !errors.As(err, &pe) || pe.Key != tc.key || !strings.HasPrefix(pe.Problem, tc.problem) {
			t.Errorf("%s: got %v, want %s: %s…", tc.name, err, tc.key, tc.problem)
		}
	}
}

func TestFilesThatAreNotPlans(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"not YAML", "PRO:\n  name: Pro\n   trialDays: 3\n", "parse YAML: yaml: line "},
		{"a list", "- PRO\n", "the top level must map tiers"},
		{"a string", "plans\n", "the top level must map tiers"},
		{"two documents", "PRO: {name: Pro}\n---\nSTARTER: {name: S}\n", "parse YAML: the file must hold one YAML document"},
	} {
		_, err := planfile.Parse([]byte(tc.doc), billing.BuiltInCatalogue())
		var pe *billing.PlanError
		if err == nil || errors.As(err, &pe) || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: got %v, want one line starting %q", tc.name, err, tc.want)
		}
	}
}

func TestRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plans.yaml")
	if err := os.WriteFile(path, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	cat, err := planfile.Read(path, billing.BuiltInCatalogue())
	if p, _ := cat.Plan(billing.TierStarter); err != nil || p.TrialDays != 14 {
		t.Errorf("read: %v %+v", err, p)
	}
	if _, err := planfile.Read(path+".missing", billing.BuiltInCatalogue()); err == nil || !strings.HasPrefix(err.Error(), "read plans file: open ") {
		t.Errorf("a missing file: %v", err)
	}
}
