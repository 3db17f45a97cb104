package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/safeclose/billing/adapters/stripe"
	"github.com/safeclose/billing/domain/billing"
)

// scenarios returns the names of the scenarios [simulatedEvents] renders.
func scenarios() []string {
	return []string{"checkout-completed", "subscription-updated", "payment-failed", "invoice-paid", "subscription-deleted", "lifecycle",
		"trial", "sca", "expired", "async-paid", "async-failed", "paused", "resumed"}
}

func devCommand(e env) *cobra.Command {
	cmd := &cobra.Command{Use: "dev", Short: "Local development helpers"}
	var org, tier, target string
	sim := &cobra.Command{
		Use:   "simulate SCENARIO --org ID [--tier T]",
		Short: "Post correctly signed Stripe events to a running service: " + strings.Join(scenarios(), ", "),
		Long: `Post correctly signed Stripe events (API version 2023-10-16) to a running service, like stripe trigger.
The customer and subscription ids derive from the org, so scenarios run one after the other tell one story.

Scenarios:
  checkout-completed    a paid checkout: the tier, active
  subscription-updated  the subscription, active
  payment-failed        a failed renewal: past_due
  invoice-paid          a paid invoice: active (clears a pending payment action)
  subscription-deleted  back to FREE, canceled
  lifecycle             a whole story: checkout, payment, a failure and its recovery, deletion
  trial                 a checkout with a trial: trialing, trialEnd in 3 days, trial_will_end
  sca                   a renewal waiting for 3-D Secure: paymentActionUrl set, past_due
  expired               a checkout session Stripe expired (a page waiting on it stops waiting)
  async-paid            a checkout paid by bank debit: incomplete, then the payment settles: active
  async-failed          the same, but the payment fails: the tier recorded, status incomplete
  paused                the subscription paused (a trial ended without a payment method)
  resumed               the subscription resumed: active`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(e.lookup, needs{stripe: true, webhook: true})
			if err != nil {
				return err
			}
			if org == "" {
				return usageError{fmt.Errorf("--org is required")}
			}
			t, err := billing.ParsePaidTier(tier)
			if err != nil {
				return usageError{fmt.Errorf("--tier must be STARTER, PRO or ENTERPRISE")}
			}
			f, err := stripe.NewFactory(tierPrices(cfg))
			if err != nil {
				return err
			}
			events, err := simulatedEvents(f, args[0], org, t, time.Now())
			if err != nil {
				return err
			}
			if target == "" {
				target = "http://" + cfg.HTTPAddr
			}
			url := strings.TrimRight(target, "/") + "/api/billing/webhook"
			client := &http.Client{Timeout: 15 * time.Second}
			for _, ev := range events {
				req, _ := http.NewRequestWithContext(cmd.Context(), http.MethodPost, url, bytes.NewReader(ev.payload))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Stripe-Signature", stripe.Sign(ev.payload, cfg.StripeWebhookSecret, time.Now()))
				res, err := client.Do(req)
				if err != nil {
					return fmt.Errorf("post %s: %w", ev.typ, err)
				}
				body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
				res.Body.Close()
				fmt.Fprintf(cmd.OutOrStdout(), "%-32s %s  %d %s\n", ev.typ, ev.id, res.StatusCode, strings.TrimSpace(string(body)))
				if res.StatusCode/100 != 2 {
					return exitError{1}
				}
			}
			return nil
		},
	}
	sim.Flags().StringVar(&org, "org", "", "organization id (org_…)")
	sim.Flags().StringVar(&tier, "tier", "PRO", "plan tier: STARTER, PRO or ENTERPRISE")
	sim.Flags().StringVar(&target, "url", "", "service base URL (default http://HTTP_ADDR)")
	cmd.AddCommand(sim)
	return cmd
}

type simulated struct {
	id, typ string
	payload []byte
}

// simulatedEvents renders a scenario for org. The customer and
// subscription ids derive from the org, so scenarios run one after the
// other tell one story.
func simulatedEvents(f *stripe.Factory, scenario, org string, tier billing.Tier, now time.Time) ([]simulated, error) {
	spec := stripe.SubscriptionSpec{OrgID: org, CustomerID: "cus_sim_" + strings.TrimPrefix(org, "org_"),
		SubscriptionID: "sub_sim_" + strings.TrimPrefix(org, "org_"), Tier: tier,
		CurrentPeriodEnd: now.AddDate(0, 1, 0).Truncate(time.Second)}
	invoice := func(paid bool, attempt int64) stripe.InvoiceSpec {
		return stripe.InvoiceSpec{InvoiceID: "in_sim_" + randomID(), Number: "SIM-" + strings.ToUpper(randomID()[:6]),
			Amount: map[billing.Tier]int64{billing.TierStarter: 1900, billing.TierPro: 4900, billing.TierEnterprise: 19900}[tier],
			Paid:   paid, AttemptCount: attempt}
	}
	one := func(typ string, at time.Time, obj map[string]any) simulated {
		id := "evt_sim_" + randomID()
		return simulated{id: id, typ: typ, payload: f.Event(id, typ, at, obj)}
	}
	checkout := func(at time.Time) simulated {
		return one("checkout.session.completed", at, f.CheckoutSession("cs_sim_"+randomID(), spec))
	}
	updated := func(at time.Time, status string) simulated {
		s := spec
		s.Status = status
		return one("customer.subscription.updated", at, f.Subscription(s))
	}
	deleted := func(at time.Time) simulated {
		s := spec
		s.Status = "canceled"
		return one("customer.subscription.deleted", at, f.Subscription(s))
	}
	with := func(status string) stripe.SubscriptionSpec {
		s := spec
		s.Status = status
		return s
	}
	// A trial ending in three days: trial_will_end is sent then.
	trial := with("trialing")
	trial.TrialEnd = now.AddDate(0, 0, 3).Truncate(time.Second)
	trial.CurrentPeriodEnd = trial.TrialEnd
	session := "cs_sim_" + randomID()
	switch scenario {
	case "checkout-completed":
		return []simulated{checkout(now)}, nil
	case "subscription-updated":
		return []simulated{updated(now, "active")}, nil
	case "payment-failed":
		return []simulated{one("invoice.payment_failed", now, f.Invoice(spec, invoice(false, 1))), updated(now, "past_due")}, nil
	case "invoice-paid":
		return []simulated{one("invoice.paid", now, f.Invoice(spec, invoice(true, 1)))}, nil
	case "subscription-deleted":
		return []simulated{deleted(now)}, nil
	case "lifecycle":
		at := func(sec int) time.Time { return now.Add(time.Duration(sec-10) * time.Second) }
		return []simulated{
			checkout(at(0)), one("invoice.paid", at(0), f.Invoice(spec, invoice(true, 1))), updated(at(1), "active"),
			one("invoice.payment_failed", at(3), f.Invoice(spec, invoice(false, 1))), updated(at(3), "past_due"),
			one("invoice.paid", at(5), f.Invoice(spec, invoice(true, 2))), updated(at(5), "active"), deleted(at(8)),
		}, nil
	case "trial":
		// Checkout with a trial (nothing to pay), the trialing
		// subscription and its $0 invoice, then trial_will_end.
		zero := invoice(true, 1)
		zero.Amount = 0
		return []simulated{
			one("checkout.session.completed", now.Add(-2*time.Second), f.CheckoutSessionPaying(session, trial, "no_payment_required")),
			one("customer.subscription.created", now.Add(-2*time.Second), f.Subscription(trial)),
			one("invoice.paid", now.Add(-2*time.Second), f.Invoice(trial, zero)),
			one("customer.subscription.trial_will_end", now, f.Subscription(trial)),
		}, nil
	case "sca":
		// A renewal that needs the customer's confirmation (3-D Secure):
		// paymentActionUrl until an invoice is paid (invoice-paid).
		return []simulated{one("invoice.payment_action_required", now, f.Invoice(spec, invoice(false, 1))), updated(now, "past_due")}, nil
	case "expired":
		// A checkout left unpaid until Stripe expired it.
		return []simulated{one("checkout.session.expired", now, f.ExpiredCheckoutSession(session, stripe.SubscriptionSpec{OrgID: org, Tier: tier}))}, nil
	case "async-paid", "async-failed":
		// A checkout paid by an asynchronous method (a bank debit):
		// completed unpaid, the subscription incomplete, then the payment
		// settles, or fails and the subscription stays incomplete.
		events := []simulated{
			one("checkout.session.completed", now.Add(-2*time.Second), f.CheckoutSessionPaying(session, with("incomplete"), "unpaid")),
			one("customer.subscription.created", now.Add(-2*time.Second), f.Subscription(with("incomplete"))),
		}
		if scenario == "async-failed" {
			return append(events, one("checkout.session.async_payment_failed", now, f.CheckoutSessionPaying(session, with("incomplete"), "unpaid"))), nil
		}
		return append(events, one("checkout.session.async_payment_succeeded", now, f.CheckoutSessionPaying(session, spec, "paid")),
			one("invoice.paid", now, f.Invoice(spec, invoice(true, 1))), updated(now, "active")), nil
	case "paused":
		return []simulated{one("customer.subscription.paused", now, f.Subscription(with("paused")))}, nil
	case "resumed":
		return []simulated{one("customer.subscription.resumed", now, f.Subscription(spec))}, nil
	}
	return nil, usageError{fmt.Errorf("unknown scenario %q (want one of %s)", scenario, strings.Join(scenarios(), ", "))}
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
