package billing

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestBuiltInCatalogue(t *testing.T) {
	plans := BuiltInCatalogue().Plans()
	var tiers []Tier
	for _, p := range plans {
		tiers = append(tiers, p.Tier)
		if err := p.Validate(); err != nil {
			t.Errorf("built-in %s: %v", p.Tier, err)
		}
		// The contract: no limits and no trials, so nothing changes
		// without PLANS_FILE.
		if len(p.Limits) != 0 || p.TrialDays != 0 {
			t.Errorf("built-in %s sets limits %v or trial days %d", p.Tier, p.Limits, p.TrialDays)
		}
		if p.Name == "" || p.Description == "" || len(p.Features) == 0 {
			t.Errorf("built-in %s lacks a name, description or features: %+v", p.Tier, p)
		}
		if p.Limits == nil || p.Features == nil {
			t.Errorf("built-in %s has nil features or limits", p.Tier)
		}
	}
	if !reflect.DeepEqual(tiers, []Tier{TierFree, TierStarter, TierPro, TierEnterprise}) {
		t.Errorf("tiers in order %v", tiers)
	}
	names := map[Tier]string{TierFree: "Free", TierStarter: "Starter", TierPro: "Pro", TierEnterprise: "Enterprise"}
	for _, p := range plans {
		if p.Name != names[p.Tier] {
			t.Errorf("%s is named %q", p.Tier, p.Name)
		}
	}
}

func TestPlanValidation(t *testing.T) {
	valid := func(tier Tier) Plan {
		return Plan{Tier: tier, Name: "Pro", Description: "For teams", Features: []string{"Ledger"}, Limits: map[string]int64{"members": 5}, TrialDays: 14}
	}
	for _, tc := range []struct {
		name    string
		edit    func(*Plan)
		key     string // "" for valid
		problem string
	}{
		{"valid", func(*Plan) {}, "", ""},
		{"zero limit", func(p *Plan) { p.Limits["members"] = 0 }, "", ""},
		{"no features, limits or description", func(p *Plan) { p.Features, p.Limits, p.Description = nil, nil, "" }, "", ""},
		{"longest trial", func(p *Plan) { p.TrialDays = MaxTrialDays }, "", ""},
		{"FREE without trial", func(p *Plan) { p.Tier, p.TrialDays = TierFree, 0 }, "", ""},
		{"unknown tier", func(p *Plan) { p.Tier = "GOLD" }, "GOLD", "unknown tier (the tiers are FREE, STARTER, PRO and ENTERPRISE)"},
		{"lower-case tier", func(p *Plan) { p.Tier = "pro" }, "pro", "unknown tier (the tiers are FREE, STARTER, PRO and ENTERPRISE)"},
		{"missing name", func(p *Plan) { p.Name = "" }, "PRO.name", "is required"},
		{"blank name", func(p *Plan) { p.Name = "  " }, "PRO.name", "is required"},
		{"name on two lines", func(p *Plan) { p.Name = "Pro\nPlus" }, "PRO.name", "must not contain control characters"},
		{"name not UTF-8", func(p *Plan) { p.Name = "Pro\xff" }, "PRO.name", "must be UTF-8 text"},
		{"description with a tab", func(p *Plan) { p.Description = "a\tb" }, "PRO.description", "must not contain control characters"},
		{"empty feature", func(p *Plan) { p.Features = []string{"Ledger", " "} }, "PRO.features[1]", "must not be empty"},
		{"feature with a newline", func(p *Plan) { p.Features = []string{"a\nb"} }, "PRO.features[0]", "must not contain control characters"},
		{"negative limit", func(p *Plan) { p.Limits["members"] = -1 }, "PRO.limits.members", "must not be negative"},
		{"bad limit name", func(p *Plan) { p.Limits["Team size"] = 3 }, "PRO.limits.Team size", "must be a name of letters, digits and _, starting with a lower-case letter"},
		{"empty limit name", func(p *Plan) { p.Limits[""] = 3 }, "PRO.limits.", "must be a name of letters, digits and _, starting with a lower-case letter"},
		{"negative trial", func(p *Plan) { p.TrialDays = -1 }, "PRO.trialDays", "must not be negative"},
		{"trial too long", func(p *Plan) { p.TrialDays = MaxTrialDays + 1 }, "PRO.trialDays", "must be at most 730 (Stripe's longest trial)"},
		{"trial on FREE", func(p *Plan) { p.Tier = TierFree }, "FREE.trialDays", "is for paid tiers only: FREE is not bought, so it has no trial"},
	} {
		p := valid(TierPro)
		tc.edit(&p)
		err := p.Validate()
		if tc.key == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		var pe *PlanError
		if !errors.As(err, &pe) || pe.Key != tc.key || pe.Problem != tc.problem {
			t.Errorf("%s: got %v, want %s: %s", tc.name, err, tc.key, tc.problem)
		}
	}
}

func TestCatalogueTier(t *testing.T) {
	for _, key := range []string{"FREE", "STARTER", "PRO", "ENTERPRISE"} {
		if tier, err := CatalogueTier(key); err != nil || string(tier) != key {
			t.Errorf("%s: %v %v", key, tier, err)
		}
	}
	for _, key := range []string{"", "Pro", "GOLD", "FREE "} {
		var pe *PlanError
		if _, err := CatalogueTier(key); !errors.As(err, &pe) || pe.Key != key {
			t.Errorf("%q: %v", key, err)
		}
	}
}

func TestCatalogueWithReplacesOneTierAndCopies(t *testing.T) {
	base := BuiltInCatalogue()
	limits := map[string]int64{"members": 10}
	pro := Plan{Tier: TierPro, Name: "Pro+", Limits: limits, TrialDays: 14}
	c, err := base.With(pro)
	if err != nil {
		t.Fatal(err)
	}
	limits["members"] = 99 // the caller's map is not the catalogue's
	got, _ := c.Plan(TierPro)
	if got.Name != "Pro+" || got.Limits["members"] != 10 || got.TrialDays != 14 || got.Features == nil {
		t.Errorf("PRO: %+v", got)
	}
	got.Limits["members"] = 1 // nor is what it returns
	if again, _ := c.Plan(TierPro); again.Limits["members"] != 10 {
		t.Error("a returned plan shares its limits with the catalogue")
	}
	if old, _ := base.Plan(TierPro); old.Name != "Pro" {
		t.Errorf("With changed the catalogue it was called on: %+v", old)
	}
	var tiers []Tier
	for _, p := range c.Plans() {
		tiers = append(tiers, p.Tier)
	}
	if !reflect.DeepEqual(tiers, Tiers()) {
		t.Errorf("order after With: %v", tiers)
	}
	for _, tier := range []Tier{TierFree, TierStarter, TierEnterprise} {
		a, _ := c.Plan(tier)
		b, _ := base.Plan(tier)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s changed: %+v", tier, a)
		}
	}
	if _, err := base.With(Plan{Tier: TierFree, Name: "Free", TrialDays: 7}); err == nil {
		t.Error("With accepted a trial on FREE")
	}
	if p, ok := (Catalogue{}).Plan(TierPro); ok {
		t.Errorf("the zero catalogue has %+v", p)
	}
}

func TestFormatAmountRespectsMinorUnits(t *testing.T) {
	for _, tc := range []struct {
		minor    int64
		currency string
		want     string
	}{
		{4900, "usd", "$49.00"},
		{4900, "USD", "$49.00"},
		{199000, "usd", "$1,990.00"},
		{5, "usd", "$0.05"},
		{0, "usd", "$0.00"},
		{-250, "usd", "-$2.50"},
		{1234567, "eur", "€12,345.67"},
		{999, "gbp", "£9.99"},
		{4900, "jpy", "¥4,900"},
		{500, "jpy", "¥500"},
		{4900, "krw", "4,900 KRW"},
		{12345, "kwd", "12.345 KWD"},
		{7, "bhd", "0.007 BHD"},
		{4900, "chf", "49.00 CHF"},
		{-9223372036854775808, "usd", "-$92,233,720,368,547,758.08"},
	} {
		if got := FormatAmount(tc.minor, tc.currency); got != tc.want {
			t.Errorf("FormatAmount(%d, %s) = %q, want %q", tc.minor, tc.currency, got, tc.want)
		}
	}
	for _, tc := range []struct {
		minor              int64
		currency, interval string
		count              int64
		want               string
	}{
		{4900, "usd", "month", 1, "$49.00/month"},
		{4900, "usd", "month", 0, "$49.00/month"},
		{12000, "usd", "month", 3, "$120.00/3 months"},
		{49000, "eur", "year", 1, "€490.00/year"},
		{4900, "jpy", "month", 1, "¥4,900/month"},
		{4900, "usd", "", 0, "$49.00"},
	} {
		if got := FormatPrice(tc.minor, tc.currency, tc.interval, tc.count); got != tc.want {
			t.Errorf("FormatPrice(%d, %s, %s, %d) = %q, want %q", tc.minor, tc.currency, tc.interval, tc.count, got, tc.want)
		}
	}
}

// The table the billing page's script formats with is the one the server
// formats with, and each caller gets its own copy.
func TestCurrencyDecimalExceptionsAreTheTable(t *testing.T) {
	table := CurrencyDecimalExceptions()
	for cur, want := range map[string]int{"jpy": 0, "krw": 0, "bhd": 3, "kwd": 3} {
		if got := table[cur]; got != want {
			t.Errorf("%s: %d, want %d", cur, got, want)
		}
	}
	for cur, d := range table {
		if d == 2 || CurrencyDecimals(cur) != d || CurrencyDecimals(strings.ToUpper(cur)) != d {
			t.Errorf("%s: table %d, CurrencyDecimals %d", cur, d, CurrencyDecimals(cur))
		}
	}
	if _, ok := table["usd"]; ok || CurrencyDecimals("usd") != 2 {
		t.Error("usd is not in hundredths")
	}
	table["usd"] = 0
	if CurrencyDecimals("usd") != 2 || len(CurrencyDecimalExceptions()) != 21 {
		t.Error("a caller's copy changed the table")
	}
}
