package outbound_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/safeclose/billing/adapters/outbound"
	"github.com/safeclose/billing/application"
	"github.com/safeclose/billing/ports"
)

// TestBodyIsEncodingJSONs: the body goccy/go-json renders is byte for
// byte encoding/json's, HTML escaping and a stripeEventId or none
// included.
func TestBodyIsEncodingJSONs(t *testing.T) {
	at := time.Date(2026, 12, 1, 8, 30, 0, 123456789, time.UTC)
	for name, e := range map[string]ports.StoredEvent{
		"from Stripe": {Position: 42, StreamID: "org_<1>&", Version: 7, Type: "PaymentSucceeded",
			Data:       json.RawMessage(`{"invoiceId": "in_1", "note": "<b>&</b>", "amountPaid": 4900}`),
			Metadata:   ports.Metadata{Actor: "stripe", StripeEventID: "evt_1"},
			OccurredAt: at, RecordedAt: at.Add(time.Second), Hash: []byte{0xde, 0xad}},
		"from a user": {Position: 1, StreamID: "org_a", Version: 1, Type: "OrgCreated",
			Data: json.RawMessage(`{"name":"Acme \u00e9"}`), Metadata: ports.Metadata{Actor: "usr_1"},
			OccurredAt: at, RecordedAt: at},
	} {
		got, err := outbound.Body(e)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want, err := json.Marshal(outbound.Event{OrgID: e.StreamID, LedgerRecord: application.RecordOf(e)})
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
}
