package billing

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Plan is what a tier offers: its name and description for people, its
// features (shown and granted), its limits (named counts; "members"
// bounds an organization's members) and, for a paid tier, the days of
// trial a first subscription starts with. Its price is Stripe's, not the
// catalogue's.
type Plan struct {
	Tier        Tier
	Name        string
	Description string
	Features    []string
	Limits      map[string]int64
	TrialDays   int
}

// MaxTrialDays is the longest trial Stripe accepts (trial_period_days).
const MaxTrialDays = 730

// PlanError names a key of the plan catalogue (as "PRO.limits.members")
// and what is wrong with it.
type PlanError struct {
	Key, Problem string
}

func (e *PlanError) Error() string { return e.Key + ": " + e.Problem }

// Catalogue is the plan of every tier, FREE first, then the paid tiers
// cheapest first. A Catalogue never changes once made: [Catalogue.With]
// returns a new one, and what it returns are copies. The zero Catalogue
// holds no plan.
type Catalogue struct {
	plans []Plan
}

// Tiers returns every tier in catalogue order: FREE, then the paid tiers
// cheapest first.
func Tiers() []Tier { return []Tier{TierFree, TierStarter, TierPro, TierEnterprise} }

// BuiltInCatalogue returns the catalogue used without PLANS_FILE. It sets
// no limits and no trials, so that the service behaves as it did before
// plans had them.
func BuiltInCatalogue() Catalogue {
	return Catalogue{plans: []Plan{
		{Tier: TierFree, Name: "Free", Description: "For trying Safeclose with a small team.",
			Features: []string{"Billing status and history", "Tamper-evident ledger"}},
		{Tier: TierStarter, Name: "Starter", Description: "For small teams closing their books every month.",
			Features: []string{"Billing status and history", "Tamper-evident ledger", "Stripe invoices and receipts", "Email support"}},
		{Tier: TierPro, Name: "Pro", Description: "For growing organizations with an audit trail to keep.",
			Features: []string{"Everything in Starter", "Auditor access", "History export (JSON lines, CSV)", "Priority support"}},
		{Tier: TierEnterprise, Name: "Enterprise", Description: "For the whole company, with the controls it needs.",
			Features: []string{"Everything in Pro", "Reconciliation with Stripe", "Dedicated support", "Custom terms"}},
	}}
}

// Plans returns every plan in catalogue order.
func (c Catalogue) Plans() []Plan {
	out := make([]Plan, len(c.plans))
	for i, p := range c.plans {
		out[i] = p.clone()
	}
	return out
}

// Plan returns tier's plan.
func (c Catalogue) Plan(tier Tier) (Plan, bool) {
	for _, p := range c.plans {
		if p.Tier == tier {
			return p.clone(), true
		}
	}
	return Plan{}, false
}

// With returns the catalogue with p in place of its tier's plan, once p
// is valid ([Plan.Validate]).
func (c Catalogue) With(p Plan) (Catalogue, error) {
	if err := p.Validate(); err != nil {
		return c, err
	}
	out := Catalogue{plans: make([]Plan, 0, len(Tiers()))}
	for _, t := range Tiers() {
		switch existing, ok := c.Plan(t); {
		case t == p.Tier:
			out.plans = append(out.plans, p.clone())
		case ok:
			out.plans = append(out.plans, existing)
		}
	}
	return out, nil
}

// CatalogueTier returns the tier a catalogue's top-level key names, or a
// *PlanError naming the key.
func CatalogueTier(key string) (Tier, error) {
	t := Tier(key)
	if !slices.Contains(Tiers(), t) {
		return "", &PlanError{Key: key, Problem: "unknown tier (the tiers are FREE, STARTER, PRO and ENTERPRISE)"}
	}
	return t, nil
}

// Validate checks p's rules and returns the first broken one as a
// *PlanError whose key starts with the tier: a known tier; a name (text
// on one line); a description and features on one line, features not
// empty; limits named by identifiers and not negative; trial days not
// negative, at most [MaxTrialDays], and none on FREE, which is not bought.
func (p Plan) Validate() error {
	if _, err := CatalogueTier(string(p.Tier)); err != nil {
		return err
	}
	key := func(k string) string { return string(p.Tier) + "." + k }
	if strings.TrimSpace(p.Name) == "" {
		return &PlanError{Key: key("name"), Problem: "is required"}
	}
	if err := oneLine(p.Name); err != nil {
		return &PlanError{Key: key("name"), Problem: err.Error()}
	}
	if err := oneLine(p.Description); err != nil {
		return &PlanError{Key: key("description"), Problem: err.Error()}
	}
	for i, f := range p.Features {
		k := fmt.Sprintf("features[%d]", i)
		if strings.TrimSpace(f) == "" {
			return &PlanError{Key: key(k), Problem: "must not be empty"}
		}
		if err := oneLine(f); err != nil {
			return &PlanError{Key: key(k), Problem: err.Error()}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(p.Limits)) {
		if !limitName(name) {
			return &PlanError{Key: key("limits." + name), Problem: "must be a name of letters, digits and _, starting with a lower-case letter"}
		}
		if p.Limits[name] < 0 {
			return &PlanError{Key: key("limits." + name), Problem: "must not be negative"}
		}
	}
	switch {
	case p.TrialDays < 0:
		return &PlanError{Key: key("trialDays"), Problem: "must not be negative"}
	case p.TrialDays > 0 && p.Tier == TierFree:
		return &PlanError{Key: key("trialDays"), Problem: "is for paid tiers only: FREE is not bought, so it has no trial"}
	case p.TrialDays > MaxTrialDays:
		return &PlanError{Key: key("trialDays"), Problem: fmt.Sprintf("must be at most %d (Stripe's longest trial)", MaxTrialDays)}
	}
	return nil
}

// oneLine refuses text that is not UTF-8 or holds a control character
// (a newline would break the plans command's one line per tier).
func oneLine(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("must be UTF-8 text")
	}
	if strings.ContainsFunc(s, unicode.IsControl) {
		return fmt.Errorf("must not contain control characters")
	}
	return nil
}

func limitName(s string) bool {
	if s == "" || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for _, r := range s {
		if r != '_' && (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// clone returns p sharing nothing with it; Features and Limits are never
// nil, so that they read as [] and {}.
func (p Plan) clone() Plan {
	p.Features = append([]string{}, p.Features...)
	limits := make(map[string]int64, len(p.Limits))
	maps.Copy(limits, p.Limits)
	p.Limits = limits
	return p
}
