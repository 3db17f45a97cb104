package billing

import (
	"fmt"
	"testing"
)

// BenchmarkFold folds a ledger shaped like the rebuild benchmark's (10
// events per org: checkouts completed, invoices paid and failed,
// subscription updates), org after org interleaved, into 10,000 accounts
// at a time: the fold's share of a rebuild, without decoding.
func BenchmarkFold(b *testing.B) {
	const orgs, per = 10_000, 10
	events := make([][]Event, per)
	for v := range per {
		for o := range orgs {
			cus, sub := fmt.Sprintf("cus_%d", o), fmt.Sprintf("sub_%d", o)
			inv := Invoice{InvoiceID: fmt.Sprintf("in_%d_%d", o, v), CustomerID: cus, SubscriptionID: sub, AmountPaid: 4900, AmountDue: 4900, Currency: "usd", AttemptCount: 1}
			var c Change
			switch v % 4 {
			case 1:
				c = PlanActivated{CheckoutSessionID: fmt.Sprintf("cs_%d", o), CustomerID: cus, SubscriptionID: sub, Tier: TierPro}
			case 2:
				c = PaymentSucceeded{inv}
			case 3:
				c = SubscriptionRefreshed{CustomerID: cus, SubscriptionID: sub, Status: StatusActive, Tier: TierEnterprise, CurrentPeriodEnd: at(3600)}
			default:
				c = PaymentFailed{inv}
			}
			events[v] = append(events[v], ev(c, v*60))
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		accounts := make([]*Account, orgs)
		for o := range accounts {
			accounts[o] = NewAccount(fmt.Sprintf("org_%d", o))
		}
		for _, round := range events {
			for o, e := range round {
				accounts[o].Apply(e)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*orgs*per), "ns/event")
}
