package stripe_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
	"unicode/utf8"

	stripego "github.com/stripe/stripe-go/v76"

	"github.com/safeclose/billing/adapters/stripe"
	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// stripeGoInvoice is the reading of an invoice through stripe-go's
// Invoice: the reference the lean reading must match.
func stripeGoInvoice(obj []byte) (billing.Invoice, string, bool) {
	var in stripego.Invoice
	if err := json.Unmarshal(obj, &in); err != nil || in.ID == "" || in.Customer == nil || in.Customer.ID == "" {
		return billing.Invoice{}, "", false
	}
	inv := billing.Invoice{InvoiceID: in.ID, Number: in.Number, CustomerID: in.Customer.ID,
		AmountPaid: in.AmountPaid, AmountDue: in.AmountDue, Currency: string(in.Currency), AttemptCount: in.AttemptCount,
		HostedInvoiceURL: in.HostedInvoiceURL, InvoicePDF: in.InvoicePDF}
	if in.Subscription != nil {
		inv.SubscriptionID = in.Subscription.ID
	}
	hint := in.Metadata["orgId"]
	if in.SubscriptionDetails != nil && in.SubscriptionDetails.Metadata["orgId"] != "" {
		hint = in.SubscriptionDetails.Metadata["orgId"]
	}
	return inv, hint, true
}

func invoiceSeeds(t testing.TB) [][]byte {
	prices := stripe.Prices{billing.TierStarter: "price_s", billing.TierPro: "price_p", billing.TierEnterprise: "price_e"}
	factory, err := stripe.NewFactory(prices)
	if err != nil {
		t.Fatal(err)
	}
	spec := stripe.SubscriptionSpec{OrgID: "org_1", CustomerID: "cus_1", SubscriptionID: "sub_1", Tier: billing.TierPro, CurrentPeriodEnd: time.Unix(1800000000, 0)}
	factoryInvoice, _ := json.Marshal(factory.Invoice(spec, stripe.InvoiceSpec{InvoiceID: "in_1", Number: "N-1", Amount: 4900, Paid: true, AttemptCount: 1}))
	return [][]byte{
		factoryInvoice,
		[]byte(`{"id":"in_2","customer":{"id":"cus_2","object":"customer"},"subscription":{"id":"sub_2","object":"subscription"},"amount_due":100,"currency":"eur","metadata":{"orgId":"org_9"}}`),
		[]byte(`{"id":"in_3","customer":"cus_3","subscription":null,"number":null,"subscription_details":null,"metadata":null}`),
		[]byte(`{"id":"in_4","customer":"cus_4","subscription_details":{"metadata":{"orgId":"org_4"}},"metadata":{"orgId":"org_other"}}`),
		[]byte(`{"id":"in_5","customer":null}`),
		[]byte(`{"id":"in_6"}`),
		[]byte(`"in_7"`),
		[]byte(`{"id":"in_8","customer":"cus_8","amount_paid":"100"}`),
		[]byte(`{"id":"in_9","customer":"cus_9","metadata":{"orgId":5}}`),
		[]byte(`{"Customer":"cus_10","ID":"in_10","AMOUNT_PAID":7}`),
		[]byte(`[]`), []byte(`null`), []byte(`{"id":"in_11","customer":"cus_11","number":7}`),
	}
}

// The lean reading of an invoice takes what stripe-go's Invoice takes,
// and refuses what it cannot read.
func TestInvoiceReadingMatchesStripeGo(t *testing.T) {
	for _, obj := range invoiceSeeds(t) {
		checkInvoiceReading(t, obj)
	}
}

func FuzzInvoiceReadingMatchesStripeGo(f *testing.F) {
	for _, obj := range invoiceSeeds(f) {
		f.Add(obj)
	}
	f.Fuzz(checkInvoiceReading)
}

func checkInvoiceReading(t *testing.T, obj []byte) {
	if !utf8.Valid(obj) || !json.Valid(obj) {
		return // Parse refuses a payload that is not UTF-8 JSON before reading it
	}
	want, wantHint, wantOK := stripeGoInvoice(obj)
	got, hint, err := stripe.InvoiceOf(obj)
	// What stripe-go reads, the lean reading reads alike. stripe-go also
	// refuses a wrong type in a field the fact does not take (a string
	// "paid"); the lean reading, which never looks there, may accept it.
	if wantOK && err != nil {
		t.Fatalf("%s: lean reading error %v, stripe-go reads it", obj, err)
	}
	if wantOK && (!reflect.DeepEqual(got, want) || hint != wantHint) {
		t.Fatalf("%s:\nlean      %+v %q\nstripe-go %+v %q", obj, got, hint, want, wantHint)
	}
}

// A signed payload that is not UTF-8 JSON is malformed, before anything
// in it is read.
func TestParseRefusesWhatIsNotUTF8JSON(t *testing.T) {
	hooks := stripe.NewWebhooks("whsec_t", nil, time.Now)
	for _, payload := range [][]byte{
		[]byte(`{"id":"evt_1","object":"event","type":"invoice.paid","created":1,"data":{"object":{"id":"in_\xff"}}}`),
		[]byte(`{"id":"evt_1","object":"event","type":"invoice.paid","created":1,"data":{"object":{}},"x":{{}}}`),
	} {
		_, err := hooks.Parse(context.Background(), payload, stripe.Sign(payload, "whsec_t", time.Now()))
		if !errors.Is(err, ports.ErrMalformedEvent) {
			t.Errorf("%q: %v, want malformed", payload, err)
		}
	}
}
