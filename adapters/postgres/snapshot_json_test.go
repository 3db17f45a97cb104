package postgres

import (
	"testing"
	"time"

	"github.com/safeclose/billing/domain/billing"
)

// TestStatusSnapshotIsEncodingJSONs: the snapshot a status row stores
// (goccy/go-json, for speed) is the one encoding/json writes, byte for
// byte, omitzero fields left out (goccy 0.10 wrote every zero register,
// a fifth more bytes per row).
func TestStatusSnapshotIsEncodingJSONs(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	acc := billing.NewAccount("org_<&>")
	for i, c := range []billing.Change{
		billing.SubscriptionRefreshed{CustomerID: "cus_1", SubscriptionID: "sub_1", Status: billing.StatusActive, Tier: billing.TierPro, CurrentPeriodEnd: at.Add(720 * time.Hour)},
		billing.PaymentSucceeded{Invoice: billing.Invoice{InvoiceID: "in_1", CustomerID: "cus_1", SubscriptionID: "sub_1", AmountPaid: 4900, Currency: "usd", AttemptCount: 1}},
		billing.PaymentFailed{Invoice: billing.Invoice{InvoiceID: "in_2", CustomerID: "cus_1", SubscriptionID: "sub_2", AmountDue: 4900, Currency: "usd", AttemptCount: 2}},
	} {
		acc.Apply(billing.Event{Change: c, OccurredAt: at.Add(time.Duration(i) * time.Minute)})
		rows, err := (&StatusProjection{}).rows(acc, at)
		if err != nil {
			t.Fatal(err)
		}
		want, err := acc.MarshalSnapshot()
		if err != nil {
			t.Fatal(err)
		}
		if got := rows[0][statusSnapshotColumn].(jsonText); string(got) != string(want) {
			t.Fatalf("after %T:\nstored  %s\nencoding/json %s", c, got, want)
		}
	}
}
