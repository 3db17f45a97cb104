package billing

import "fmt"

// Tier is an organization's plan. Its string form is the public value used
// by the HTTP API and stored in the ledger.
type Tier string

// The plan tiers. Every organization starts on [TierFree].
const (
	TierFree       Tier = "FREE"
	TierStarter    Tier = "STARTER"
	TierPro        Tier = "PRO"
	TierEnterprise Tier = "ENTERPRISE"
)

// PaidTiers returns the tiers that can be bought through Checkout,
// cheapest first (a new slice each time).
func PaidTiers() []Tier { return []Tier{TierStarter, TierPro, TierEnterprise} }

// ParsePaidTier returns the paid tier named exactly s (case-sensitive).
func ParsePaidTier(s string) (Tier, error) {
	for _, t := range PaidTiers() {
		if string(t) == s {
			return t, nil
		}
	}
	return "", fmt.Errorf("%w: %q", ErrInvalidTier, s)
}

// ParseTier returns the tier named exactly s, FREE included.
func ParseTier(s string) (Tier, error) {
	if s == string(TierFree) {
		return TierFree, nil
	}
	return ParsePaidTier(s)
}

// Paid reports whether t is bought through Stripe.
func (t Tier) Paid() bool { return t == TierStarter || t == TierPro || t == TierEnterprise }
