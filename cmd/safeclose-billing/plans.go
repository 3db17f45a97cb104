package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/safeclose/billing/adapters/stripe"
	"github.com/safeclose/billing/application"
	"github.com/safeclose/billing/domain/billing"
)

// plansCommand prints the catalogue with Stripe's prices. It needs the
// Stripe key and prices, not the database: the catalogue is
// configuration.
func plansCommand(e env) *cobra.Command {
	return &cobra.Command{
		Use:   "plans",
		Short: "Print the plan catalogue the service uses, one line per tier, with prices read from Stripe",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(e.lookup, needs{stripe: true})
			if err != nil {
				return err
			}
			log, err := newLogger(cfg, logOutput{e.stderr})
			if err != nil {
				return err
			}
			// One read, waited for: a command has no later request to
			// serve the prices to.
			prices := stripe.NewPriceCache(tierPrices(cfg), newStripeClient(cfg).Price,
				stripe.CacheOptions{Log: log, FirstWait: stripeTimeout + 5*time.Second})
			offers, err := application.Plans(cmd.Context(), cfg.Plans, prices)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			for _, o := range offers {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", o.Tier, o.Name, priceText(o), featuresText(o.Features), limitsText(o.Limits), trialText(o.TrialDays))
			}
			return w.Flush()
		},
	}
}

func priceText(o application.PlanOffer) string {
	switch {
	case !o.Tier.Paid():
		return "no charge"
	case !o.Priced:
		return "price unavailable"
	}
	return billing.FormatPrice(o.UnitAmount, o.Currency, o.Interval, o.IntervalCount)
}

func featuresText(features []string) string {
	if len(features) == 0 {
		return "no features listed"
	}
	return strings.Join(features, ", ")
}

func limitsText(limits map[string]int64) string {
	if len(limits) == 0 {
		return "no limits"
	}
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(limits)) {
		parts = append(parts, fmt.Sprintf("%s %d", name, limits[name]))
	}
	return strings.Join(parts, ", ")
}

func trialText(days int) string {
	switch days {
	case 0:
		return "no trial"
	case 1:
		return "1 trial day"
	}
	return fmt.Sprintf("%d trial days", days)
}
