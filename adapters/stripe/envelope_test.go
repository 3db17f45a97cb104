package stripe

import (
	"bytes"
	"os"
	"testing"
	"time"

	gojson "github.com/goccy/go-json"

	"github.com/safeclose/billing/domain/billing"
)

func envelopeSeeds(t testing.TB) [][]byte {
	f, err := NewFactory(Prices{billing.TierStarter: "price_s", billing.TierPro: "price_p", billing.TierEnterprise: "price_e"})
	if err != nil {
		t.Fatal(err)
	}
	spec := SubscriptionSpec{OrgID: "org_1", CustomerID: "cus_1", SubscriptionID: "sub_1", Tier: billing.TierPro}
	seeds := [][]byte{
		f.Event("evt_1", EventInvoicePaid, time.Unix(1764003600, 0), f.Invoice(spec, InvoiceSpec{InvoiceID: "in_1", Amount: 4900, Paid: true})),
		f.Event("evt_2", EventCheckoutCompleted, time.Unix(1764003600, 0), f.CheckoutSession("cs_1", spec)),
	}
	for _, s := range []string{
		`{"id":"evt_1","object":"event","type":"invoice.paid","created":1,"data":{"object":{"id":"in_1"}}}`,
		`{"ID":"evt_1","object":"event","type":"t","created":1,"data":{"object":{}}}`,
		`{"id":"evt_1","id":"evt_2","object":"event","type":"t","created":1,"data":{"object":{}}}`,
		`{"id":"evt_\u0031","object":"event","type":"t","created":1,"data":{"object":{}}}`,
		`{"id":"évt","object":"event","type":"t","created":-0,"data":{"Object":{},"object":[1]}}`,
		`{"id":null,"created":1.5,"data":null}`, `{"created":1e3,"data":{"object":null}}`, `{"created":"1"}`,
		`{"created":99999999999999999999}`, `{"data":{"object":"x","object":"y"}}`, `{"data":{}}`, `[]`, `"x"`, `{}`,
		` { "id" : "a" , "data" : { "x" : [ { } ] , "object" : { "a" : 1 } } , "api_version" : "2023-10-16" } `,
		`{"other":{"id":"x"},"type":"t","data":{"other":{"object":1},"object":true}}`,
	} {
		seeds = append(seeds, []byte(s))
	}
	if b, err := os.ReadFile("fixtures/stripe-objects-2023-10-16.json"); err == nil {
		seeds = append(seeds, b)
	}
	return seeds
}

func checkEnvelope(t *testing.T, payload []byte) {
	if !validJSON(payload) {
		return // Parse refuses it before reading the envelope
	}
	var want envelope
	wantErr := gojson.Unmarshal(payload, &want)
	got, err := readEnvelope(payload)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%q: error %v, gojson's %v", payload, err, wantErr)
	}
	if err == nil && (got.ID != want.ID || got.Object != want.Object || got.Type != want.Type || got.APIVersion != want.APIVersion ||
		got.Created != want.Created || !bytes.Equal(got.Data.Object, want.Data.Object) || (got.Data.Object == nil) != (want.Data.Object == nil)) {
		t.Fatalf("%q: read %+v, gojson reads %+v", payload, got, want)
	}
}

func TestEnvelopeMatchesGoJSON(t *testing.T) {
	for _, s := range envelopeSeeds(t) {
		checkEnvelope(t, s)
	}
	if _, ok := scanEnvelope(envelopeSeeds(t)[0]); !ok {
		t.Error("a Stripe event's envelope took the slow path")
	}
}

func FuzzEnvelopeMatchesGoJSON(f *testing.F) {
	for _, s := range envelopeSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(checkEnvelope)
}
