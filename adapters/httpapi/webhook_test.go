package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/safeclose/billing/adapters/stripe"
	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// lifecycle is a realistic eight-event subscription history of one org,
// in Stripe's order, with two pairs of events sharing a created second.
type lifecycle struct {
	org, cus, sub string
	events        [][]byte
	periodEnd2    time.Time
}

func newLifecycle(h *harness, n int, start time.Time) lifecycle {
	org, cus, sub := fmt.Sprintf("org_lc%d", n), fmt.Sprintf("cus_lc%d", n), fmt.Sprintf("sub_lc%d", n)
	h.createOrg(org)
	p1, p2 := start.AddDate(0, 1, 0).Truncate(time.Second), start.AddDate(0, 2, 0).Truncate(time.Second)
	s := func(tier billing.Tier, status string, end time.Time, cancel bool) stripe.SubscriptionSpec {
		return stripe.SubscriptionSpec{OrgID: org, CustomerID: cus, SubscriptionID: sub, Tier: tier, Status: status, CurrentPeriodEnd: end, CancelAtPeriodEnd: cancel}
	}
	noMeta := s(billing.TierPro, "active", p1, false)
	noMeta.OrgID = "" // invoices without metadata: tied through the linked customer, or parked
	f, id := h.factory, func(i int) string { return fmt.Sprintf("evt_lc%d_%d", n, i) }
	at := func(sec int) time.Time { return start.Add(time.Duration(sec) * time.Second) }
	final := s(billing.TierEnterprise, "canceled", p2, false)
	h.fake.SetSubscription(final) // what the API says now: the end of the story
	return lifecycle{org: org, cus: cus, sub: sub, periodEnd2: p2, events: [][]byte{
		f.Event(id(1), "checkout.session.completed", at(0), f.CheckoutSession("cs_"+org, s(billing.TierPro, "active", p1, false))),
		f.Event(id(2), "invoice.paid", at(0), f.Invoice(noMeta, stripe.InvoiceSpec{InvoiceID: "in_1" + org, Number: "A-0001", Amount: 4900, Paid: true, AttemptCount: 1})),
		f.Event(id(3), "customer.subscription.updated", at(1), f.Subscription(s(billing.TierPro, "active", p1, false))),
		f.Event(id(4), "invoice.payment_failed", at(2), f.Invoice(noMeta, stripe.InvoiceSpec{InvoiceID: "in_2" + org, Number: "A-0002", Amount: 4900, AttemptCount: 1})),
		f.Event(id(5), "customer.subscription.updated", at(2), f.Subscription(s(billing.TierPro, "past_due", p1, false))),
		f.Event(id(6), "invoice.paid", at(3), f.Invoice(noMeta, stripe.InvoiceSpec{InvoiceID: "in_2" + org, Number: "A-0002", Amount: 4900, Paid: true, AttemptCount: 2})),
		f.Event(id(7), "customer.subscription.updated", at(5), f.Subscription(s(billing.TierEnterprise, "active", p2, true))),
		f.Event(id(8), "customer.subscription.deleted", at(5), f.Subscription(final)),
	}}
}

// want is the state after one in-order delivery of the lifecycle.
func (l lifecycle) want() ports.BillingStatus {
	return ports.BillingStatus{OrgID: l.org, PlanTier: "FREE", Status: "canceled", CurrentPeriodEnd: l.periodEnd2,
		StripeCustomerID: l.cus, StripeSubscriptionID: l.sub}
}

func sameState(got, want ports.BillingStatus) bool {
	same := got.CurrentPeriodEnd.Equal(want.CurrentPeriodEnd)
	got.LedgerVersion, got.UpdatedAt, got.CurrentPeriodEnd, want.CurrentPeriodEnd = 0, time.Time{}, time.Time{}, time.Time{}
	return same && got == want
}

func mustOK(t testing.TB, rec interface{ Result() *http.Response }, what string) string {
	t.Helper()
	res := rec.Result()
	var body struct {
		Outcome string `json:"outcome"`
	}
	_ = json.NewDecoder(res.Body).Decode(&body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%s: status %d", what, res.StatusCode)
	}
	return body.Outcome
}

func TestWebhookEffects(t *testing.T) {
	h := newHarness(t)
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	l := newLifecycle(h, 1, start)
	steps := []struct {
		name string
		want ports.BillingStatus
	}{
		{"checkout completed links and applies the tier", ports.BillingStatus{PlanTier: "PRO", Status: "active"}},
		{"invoice paid confirms active", ports.BillingStatus{PlanTier: "PRO", Status: "active"}},
		{"subscription updated sets the period end", ports.BillingStatus{PlanTier: "PRO", Status: "active", CurrentPeriodEnd: start.AddDate(0, 1, 0)}},
		{"payment failed flags past_due", ports.BillingStatus{PlanTier: "PRO", Status: "past_due", CurrentPeriodEnd: start.AddDate(0, 1, 0)}},
		{"subscription updated past_due", ports.BillingStatus{PlanTier: "PRO", Status: "past_due", CurrentPeriodEnd: start.AddDate(0, 1, 0)}},
		{"invoice paid after retry confirms active", ports.BillingStatus{PlanTier: "PRO", Status: "active", CurrentPeriodEnd: start.AddDate(0, 1, 0)}},
		{"a plan change in the portal shows, with cancel at period end", ports.BillingStatus{PlanTier: "ENTERPRISE", Status: "active", CurrentPeriodEnd: l.periodEnd2, CancelAtPeriodEnd: true}},
		{"deleted reverts to FREE and canceled", ports.BillingStatus{PlanTier: "FREE", Status: "canceled", CurrentPeriodEnd: l.periodEnd2}},
	}
	for i, step := range steps {
		if out := mustOK(t, h.deliver(l.events[i]), step.name); out != ports.OutcomeApplied {
			t.Fatalf("%s: outcome %q", step.name, out)
		}
		st := h.billingStatus(l.org)
		step.want.OrgID, step.want.StripeCustomerID, step.want.StripeSubscriptionID = l.org, l.cus, l.sub
		if !sameState(st, step.want) {
			t.Errorf("%s:\n got  %+v\n want %+v", step.name, st, step.want)
		}
	}
	events := h.billingEvents(l.org)
	types := make([]string, 0, len(events))
	for _, e := range events {
		types = append(types, e.Type)
	}
	// The deletion shares its second with the last update and wins: Stripe
	// sends it last, and nothing needs asking the API.
	want := "PlanActivated PaymentSucceeded SubscriptionRefreshed PaymentFailed SubscriptionRefreshed PaymentSucceeded SubscriptionRefreshed SubscriptionCanceled"
	if got := strings.Join(types, " "); got != want {
		t.Errorf("ledger types:\n got  %s\n want %s", got, want)
	}
	var inv billing.PaymentFailed
	if err := json.Unmarshal(events[3].Data, &inv); err != nil {
		t.Fatal(err)
	}
	if inv.InvoiceID != "in_2"+l.org || inv.Number != "A-0002" || inv.AmountDue != 4900 || inv.Currency != "usd" ||
		inv.AttemptCount != 1 || !strings.HasSuffix(inv.InvoicePDF, "/pdf") || inv.HostedInvoiceURL == "" {
		t.Errorf("invoice fact = %+v", inv)
	}
	if events[0].Metadata.StripeEventID != "evt_lc1_1" || events[0].Metadata.Actor != "stripe" || !events[0].OccurredAt.Equal(start) {
		t.Errorf("first event metadata %+v at %v", events[0].Metadata, events[0].OccurredAt)
	}
	h.verifyLedger()
}

func TestWebhookIgnoresOtherTypes(t *testing.T) {
	h := newHarness(t)
	h.createOrg("org_1")
	for _, typ := range []string{"customer.created", "invoice.created", "payment_intent.succeeded", "plan.created"} {
		payload := h.factory.Event("evt_"+typ, typ, time.Now(), map[string]any{"id": "x_1", "object": "thing"})
		if out := mustOK(t, h.deliver(payload), typ); out != ports.OutcomeIgnored {
			t.Errorf("%s: outcome %q", typ, out)
		}
	}
	// A one-off payment checkout is not a subscription of ours.
	cs := h.factory.CheckoutSession("cs_pay", stripe.SubscriptionSpec{OrgID: "org_1", CustomerID: "cus_1", SubscriptionID: "sub_1", Tier: billing.TierPro})
	cs["mode"], cs["subscription"] = "payment", nil
	if out := mustOK(t, h.deliver(h.factory.Event("evt_pay", "checkout.session.completed", time.Now(), cs)), "payment checkout"); out != ports.OutcomeIgnored {
		t.Errorf("payment-mode checkout: outcome %q", out)
	}
	if n := len(h.billingEvents("org_1")); n != 0 {
		t.Errorf("%d ledger events for ignored types", n)
	}
	if n := h.count("SELECT count(*) FROM stripe_inbox WHERE outcome = 'ignored'"); n != 5 {
		t.Errorf("%d ignored events kept in the inbox, want 5", n)
	}
}

func TestWebhookSignatureFailuresRecordNothing(t *testing.T) {
	h := newHarness(t)
	l := newLifecycle(h, 1, time.Now().Add(-time.Hour))
	payload := l.events[0]
	now := time.Now()
	v0 := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: now, Scheme: "v0"}).Header
	for _, tc := range []struct {
		name, signature string
		body            []byte
	}{
		{"missing header", "", payload},
		{"wrong secret", stripe.Sign(payload, "whsec_other", now), payload},
		{"stale timestamp", stripe.Sign(payload, secret, now.Add(-301*time.Second)), payload},
		{"future timestamp", stripe.Sign(payload, secret, now.Add(6*time.Minute)), payload},
		{"body altered", stripe.Sign(payload, secret, now), bytes.Replace(payload, []byte(`"PRO"`), []byte(`"ENTERPRISE"`), 1)},
		{"v0 signature only", v0, payload},
		{"garbage header", "t=abc,v1=zz", payload},
	} {
		rec := h.deliverSigned(tc.body, tc.signature)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"invalid_signature"`) {
			t.Errorf("%s: %d %s", tc.name, rec.Code, rec.Body)
		}
	}
	// Several v1 signatures (secret rotation): one valid is enough.
	good := stripe.Sign(payload, secret, now)
	other := stripe.Sign(payload, "whsec_old", now)
	rotated := good + "," + other[strings.Index(other, "v1="):]
	if n := h.count("SELECT count(*) FROM stripe_inbox") + len(h.billingEvents(l.org)); n != 0 {
		t.Fatalf("%d rows recorded by refused deliveries", n)
	}
	if out := mustOK(t, h.deliverSigned(payload, rotated), "rotated secrets"); out != ports.OutcomeApplied {
		t.Errorf("rotated: outcome %q", out)
	}
}

func TestWebhookMalformedAndOversized(t *testing.T) {
	h := newHarness(t)
	h.createOrg("org_1")
	for name, body := range map[string][]byte{
		"not json":                 []byte(`{"id":`),
		"not an event":             []byte(`{"id":"evt_1","object":"charge","type":"invoice.paid","created":1}`),
		"no data.object":           []byte(`{"id":"evt_1","object":"event","type":"invoice.paid","created":1700000000,"api_version":"2023-10-16"}`),
		"invoice without customer": h.factory.Event("evt_2", "invoice.paid", time.Now(), map[string]any{"id": "in_1", "object": "invoice"}),
	} {
		rec := h.deliver(body)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"invalid_request"`) {
			t.Errorf("%s: %d %s", name, rec.Code, rec.Body)
		}
	}
	big := h.factory.Event("evt_big", "customer.created", time.Now(), map[string]any{"id": "cus_1", "pad": strings.Repeat("x", 1<<20)})
	if rec := h.deliver(big); rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), `"body_too_large"`) {
		t.Errorf("oversized: %d %s", rec.Code, rec.Body)
	}
	if n := h.count("SELECT count(*) FROM stripe_inbox"); n != 0 {
		t.Errorf("%d inbox rows for refused deliveries", n)
	}
}

func TestWebhookDuplicatesAppendOnce(t *testing.T) {
	h := newHarness(t)
	l := newLifecycle(h, 1, time.Now().Add(-time.Hour))
	for i := range 5 {
		out := mustOK(t, h.deliver(l.events[0]), "sequential")
		if (i == 0) != (out == ports.OutcomeApplied) || (i > 0 && out != ports.OutcomeDuplicate) {
			t.Errorf("delivery %d: outcome %q", i, out)
		}
	}
	var wg sync.WaitGroup
	outcomes := make(chan string, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outcomes <- mustOK(t, h.deliver(l.events[2]), "concurrent")
		}()
	}
	wg.Wait()
	close(outcomes)
	applied := 0
	for o := range outcomes {
		if o == ports.OutcomeApplied {
			applied++
		}
	}
	if applied != 1 {
		t.Errorf("%d of 20 concurrent deliveries applied, want 1", applied)
	}
	if n := len(h.billingEvents(l.org)); n != 2 {
		t.Errorf("%d ledger events, want 2", n)
	}
	if n := h.count("SELECT deliveries FROM stripe_inbox WHERE id = 'evt_lc1_3'"); n != 20 {
		t.Errorf("inbox counted %d deliveries, want 20", n)
	}
	// The inbox keeps the very bytes Stripe signed.
	var kept string
	if err := h.db.QueryRowContext(context.Background(), "SELECT payload::text FROM stripe_inbox WHERE id = 'evt_lc1_1'").Scan(&kept); err != nil {
		t.Fatal(err)
	}
	if kept != string(l.events[0]) {
		t.Errorf("inbox payload differs from the delivered bytes:\n%s\n%s", kept, l.events[0])
	}
	h.verifyLedger()
}

// A Stripe payload of a few KB is kept compressed in its inbox row: a
// webhook writes no TOAST row (and no TOAST index entry).
func TestWebhookPayloadsStayInTheirInboxRows(t *testing.T) {
	h := newHarness(t)
	l := newLifecycle(h, 1, time.Now().Add(-time.Hour))
	for i, e := range l.events {
		mustOK(t, h.deliver(e), fmt.Sprint("event ", i+1))
	}
	if n := h.count("SELECT count(*) FROM stripe_inbox WHERE octet_length(payload::text) > 2500"); n < 3 {
		t.Fatalf("%d payloads over 2,500 bytes, want the lifecycle's three invoices", n)
	}
	if n := h.count("SELECT count(*) FROM stripe_inbox WHERE octet_length(payload::text) > 2500 AND pg_column_size(payload) >= octet_length(payload::text)"); n != 0 {
		t.Errorf("%d payloads over 2,500 bytes kept uncompressed", n)
	}
	if n := h.count("SELECT pg_relation_size(reltoastrelid) FROM pg_class WHERE oid = 'stripe_inbox'::regclass"); n != 0 {
		t.Errorf("the inbox's TOAST table holds %d bytes, want none", n)
	}
	// A payload that no compression fits in a page still goes out of
	// line, whole.
	pad := make([]byte, 300<<10)
	for i := range pad {
		pad[i] = "0123456789abcdef"[rand.IntN(16)]
	}
	inv := h.factory.Invoice(stripe.SubscriptionSpec{OrgID: l.org, CustomerID: l.cus, SubscriptionID: l.sub, Tier: billing.TierPro},
		stripe.InvoiceSpec{InvoiceID: "in_big", Amount: 4900, Paid: true})
	inv["description"] = string(pad)
	big := h.factory.Event("evt_big_invoice", "invoice.paid", time.Now(), inv)
	mustOK(t, h.deliver(big), "a 300 KB invoice")
	var kept string
	if err := h.db.QueryRowContext(context.Background(), "SELECT payload::text FROM stripe_inbox WHERE id = 'evt_big_invoice'").Scan(&kept); err != nil {
		t.Fatal(err)
	}
	if kept != string(big) {
		t.Errorf("the 300 KB payload kept is %d bytes, not the %d delivered", len(kept), len(big))
	}
}

func TestWebhookEarlyInvoiceIsAppliedOnceCheckoutCompletes(t *testing.T) {
	h := newHarness(t)
	l := newLifecycle(h, 1, time.Now().Add(-time.Hour))
	// invoice.paid (no metadata) before the checkout: nothing ties it to an org.
	if out := mustOK(t, h.deliver(l.events[3]), "early failure"); out != ports.OutcomeParked {
		t.Fatalf("early invoice: outcome %q, want parked", out)
	}
	if n := len(h.billingEvents(l.org)); n != 0 {
		t.Fatalf("parked event in the ledger: %d events", n)
	}
	if out := mustOK(t, h.deliver(l.events[0]), "checkout"); out != ports.OutcomeApplied {
		t.Fatalf("checkout: %q", out)
	}
	events := h.billingEvents(l.org)
	if len(events) != 2 || events[1].Type != billing.TypePaymentFailed {
		t.Fatalf("after checkout: %d events", len(events))
	}
	if st := h.billingStatus(l.org); st.Status != "past_due" {
		t.Errorf("status %q: the parked failure (a later second) was not applied", st.Status)
	}
	if n := h.count("SELECT count(*) FROM stripe_inbox WHERE outcome = 'applied'"); n != 2 {
		t.Errorf("%d applied inbox rows, want 2", n)
	}
}

func TestWebhookRefusesAnOrgContradictingTheLinkedCustomer(t *testing.T) {
	h := newHarness(t)
	l := newLifecycle(h, 1, time.Now().Add(-time.Hour))
	h.createOrg("org_victim")
	mustOK(t, h.deliver(l.events[0]), "checkout")
	// An event for l's customer that names another org.
	spec := stripe.SubscriptionSpec{OrgID: "org_victim", CustomerID: l.cus, SubscriptionID: l.sub, Tier: billing.TierEnterprise, CurrentPeriodEnd: time.Now()}
	evil := h.factory.Event("evt_evil", "customer.subscription.updated", time.Now(), h.factory.Subscription(spec))
	if out := mustOK(t, h.deliver(evil), "contradiction"); out != ports.OutcomeRefused {
		t.Errorf("outcome %q, want refused", out)
	}
	// An org that does not exist.
	ghost := stripe.SubscriptionSpec{OrgID: "org_ghost", CustomerID: "cus_new", SubscriptionID: "sub_new", Tier: billing.TierPro}
	if out := mustOK(t, h.deliver(h.factory.Event("evt_ghost", "checkout.session.completed", time.Now(), h.factory.CheckoutSession("cs_g", ghost))), "ghost"); out != ports.OutcomeRefused {
		t.Errorf("unknown org: outcome %q, want refused", out)
	}
	for _, e := range h.ledger("org_victim") {
		if e.Metadata.StripeEventID != "" {
			t.Errorf("victim org got Stripe event %s", e.Metadata.StripeEventID)
		}
	}
	if st := h.billingStatus(l.org); st.PlanTier != "PRO" {
		t.Errorf("linked org changed to %s", st.PlanTier)
	}
}

func TestWebhookOfAnotherAPIVersionIsReadFromTheAPI(t *testing.T) {
	h := newHarness(t)
	l := newLifecycle(h, 1, time.Now().Add(-time.Hour))
	mustOK(t, h.deliver(l.events[0]), "checkout")
	// The same subscription, sent in a newer API version whose shape we do
	// not read: the object is fetched again in 2023-10-16.
	spec := stripe.SubscriptionSpec{OrgID: l.org, CustomerID: l.cus, SubscriptionID: l.sub, Tier: billing.TierStarter, CurrentPeriodEnd: l.periodEnd2}
	h.fake.SetSubscription(spec)
	var env map[string]any
	_ = json.Unmarshal(h.factory.Event("evt_new", "customer.subscription.updated", time.Now(), map[string]any{"id": l.sub, "object": "subscription", "items": "a shape we do not know"}), &env)
	env["api_version"] = "2025-03-31.basil"
	payload, _ := json.Marshal(env)
	before := h.fake.Requests.Load()
	if out := mustOK(t, h.deliver(payload), "newer version"); out != ports.OutcomeApplied {
		t.Fatalf("outcome %q", out)
	}
	if h.fake.Requests.Load() == before {
		t.Error("the object was not fetched from the API")
	}
	if st := h.billingStatus(l.org); st.PlanTier != "STARTER" || !st.CurrentPeriodEnd.Equal(l.periodEnd2) {
		t.Errorf("status %+v", st)
	}
	// A repeated delivery is recognized before any API call: its fact is in
	// the inbox. It is answered even while the API is down.
	fetched := h.fake.Requests.Load()
	h.fake.Down.Store(true)
	if out := mustOK(t, h.deliver(payload), "newer version again"); out != ports.OutcomeDuplicate {
		t.Errorf("repeated delivery: outcome %q, want duplicate", out)
	}
	if h.fake.Requests.Load() != fetched {
		t.Error("a repeated delivery was fetched from the API again")
	}
	// With the API down: 503, so Stripe delivers again; nothing recorded.
	env["id"] = "evt_new2"
	payload, _ = json.Marshal(env)
	if rec := h.deliver(payload); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("API down: %d %s", rec.Code, rec.Body)
	}
	if n := h.count("SELECT count(*) FROM stripe_inbox WHERE id = 'evt_new2'"); n != 0 {
		t.Error("an unverifiable-shape event was recorded")
	}
}

// TestWebhookAnyOrderConcurrently delivers the lifecycle in 200 random
// orders, each event concurrently and some several times (Stripe retries),
// and expects the in-order state every time.
func TestWebhookAnyOrderConcurrently(t *testing.T) {
	h := newHarness(t)
	rng := rand.New(rand.NewPCG(7, 7))
	start := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	const runs = 200
	for run := range runs {
		l := newLifecycle(h, run, start)
		order := rng.Perm(len(l.events))
		var wg sync.WaitGroup
		for k, i := range order {
			copies := 1 + rng.IntN(3) // at least once; sometimes again, concurrently
			for c := range copies {
				wg.Add(1)
				delay := time.Duration(k*200+c*rng.IntN(400)) * time.Microsecond
				go func() {
					defer wg.Done()
					time.Sleep(delay)
					rec := h.deliver(l.events[i])
					if rec.Code != http.StatusOK {
						t.Errorf("run %d event %d: %d %s", run, i, rec.Code, rec.Body)
					}
				}()
			}
		}
		wg.Wait()
		if st := h.billingStatus(l.org); !sameState(st, l.want()) {
			t.Fatalf("run %d, order %v:\n got  %+v\n want %+v", run, order, st, l.want())
		}
		seen := map[string]int{}
		for _, e := range h.ledger(l.org) {
			if id := e.Metadata.StripeEventID; id != "" {
				seen[id]++
			}
		}
		if len(seen) != len(l.events) {
			t.Fatalf("run %d: %d Stripe events in the ledger, want %d", run, len(seen), len(l.events))
		}
		for id, n := range seen {
			if n != 1 {
				t.Fatalf("run %d: %s recorded %d times", run, id, n)
			}
		}
	}
	if n := h.count("SELECT count(*) FROM stripe_inbox WHERE outcome NOT IN ('applied')"); n != 0 {
		t.Errorf("%d inbox events not applied", n)
	}
	h.verifyLedger()
}

// TestWebhookWithTheDatabaseDown answers 5xx quickly, so Stripe retries,
// and readiness says so too.
func TestWebhookWithTheDatabaseDown(t *testing.T) {
	h := newHarness(t)
	l := newLifecycle(h, 1, time.Now().Add(-time.Hour))
	if rec := h.do("GET", "/readyz", "", nil); rec.Code != 200 {
		t.Fatalf("readyz: %d", rec.Code)
	}
	if err := h.db.DB.Close(); err != nil { // every query now fails at once
		t.Fatal(err)
	}
	start := time.Now()
	rec := h.deliver(l.events[0])
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"unavailable"`) || strings.Contains(rec.Body.String(), "sql") {
		t.Errorf("%d %s", rec.Code, rec.Body)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
	if rec := h.do("GET", "/readyz", "", nil); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("readyz with the database down: %d", rec.Code)
	}
	if rec := h.do("GET", "/healthz", "", nil); rec.Code != 200 {
		t.Errorf("healthz: %d", rec.Code)
	}
}

// TestWebhookLogLinesNameTheRequestAndTheEvent: every line about a delivery
// carries the request id, the Stripe event id and the org, and no secret.
func TestWebhookLogLinesNameTheRequestAndTheEvent(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	h := newHarness(t, options{log: zap.New(core)})
	l := newLifecycle(h, 1, time.Now().Add(-time.Hour))
	h.createOrg("org_victim")
	mustOK(t, h.deliver(l.events[0]), "checkout")
	spec := stripe.SubscriptionSpec{OrgID: "org_victim", CustomerID: l.cus, SubscriptionID: l.sub, Tier: billing.TierPro, CurrentPeriodEnd: time.Now()}
	mustOK(t, h.deliver(h.factory.Event("evt_evil", "customer.subscription.updated", time.Now(), h.factory.Subscription(spec))), "refused")
	seen, access := 0, 0
	for _, entry := range logs.All() {
		fields := entry.ContextMap()
		if entry.Message == "request" {
			access++
			if id, _ := fields["requestId"].(string); !strings.HasPrefix(id, "req_") || fields["route"] != "/api/billing/webhook" || fields["status"] == nil {
				t.Errorf("access line %v", fields)
			}
		}
		if fields["stripeEventId"] == nil {
			continue
		}
		seen++
		if id, _ := fields["requestId"].(string); !strings.HasPrefix(id, "req_") || fields["orgId"] == nil {
			t.Errorf("%q lacks requestId or orgId: %v", entry.Message, fields)
		}
		if s := fmt.Sprint(fields); strings.Contains(s, "whsec_") || strings.Contains(s, "sk_test") {
			t.Errorf("a secret in the log: %s", s)
		}
	}
	if seen < 2 {
		t.Errorf("%d webhook log lines, want the applied and the refused one", seen)
	}
	if access != 2 {
		t.Errorf("%d access log lines, want one per request", access)
	}
}

// TestWebhookSameSecondDisagreementIsSettledByTheAPI: a payment that
// failed and one that succeeded in the same second cannot be ordered from
// the payloads; the subscription is read from the Stripe API and recorded,
// whichever order they came in.
func TestWebhookSameSecondDisagreementIsSettledByTheAPI(t *testing.T) {
	h := newHarness(t)
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	for run, order := range [][]int{{0, 1}, {1, 0}} {
		org := fmt.Sprintf("org_tie%d", run)
		h.createOrg(org)
		spec := stripe.SubscriptionSpec{OrgID: org, CustomerID: "cus_" + org, SubscriptionID: "sub_" + org, Tier: billing.TierPro, CurrentPeriodEnd: start.AddDate(0, 1, 0)}
		mustOK(t, h.deliver(h.factory.Event("evt_co_"+org, "checkout.session.completed", start, h.factory.CheckoutSession("cs_"+org, spec))), "checkout")
		now := spec
		now.Status = "past_due" // what Stripe says now
		h.fake.SetSubscription(now)
		tie := [][]byte{
			h.factory.Event("evt_ok_"+org, "invoice.paid", start.Add(5*time.Second), h.factory.Invoice(spec, stripe.InvoiceSpec{InvoiceID: "in_a", Amount: 1, Paid: true})),
			h.factory.Event("evt_ko_"+org, "invoice.payment_failed", start.Add(5*time.Second), h.factory.Invoice(spec, stripe.InvoiceSpec{InvoiceID: "in_b", Amount: 1})),
		}
		before := h.fake.Requests.Load()
		for _, i := range order {
			mustOK(t, h.deliver(tie[i]), "tie")
		}
		if h.fake.Requests.Load() == before {
			t.Errorf("run %d: the API was not asked", run)
		}
		st := h.billingStatus(org)
		events := h.billingEvents(org)
		last := events[len(events)-1]
		if st.Status != "past_due" || last.Type != billing.TypeSubscriptionSynced || last.Metadata.Actor != "system:ambiguous_order" || last.Metadata.CausationID == "" {
			t.Errorf("run %d: status %s, last event %s by %q", run, st.Status, last.Type, last.Metadata.Actor)
		}
	}
	h.verifyLedger()
}

// TestWebhookHandMadeEvents: an event without api_version is read as ours
// (no API call), and a completed checkout whose metadata lost its tier
// takes the tier its session was started with.
func TestWebhookHandMadeEvents(t *testing.T) {
	h := newHarness(t)
	w := newWorld(t, h)
	rec := h.do("POST", "/api/billing/checkout-session", w.tOwner, map[string]any{"orgId": w.org, "planTier": "ENTERPRISE"})
	if rec.Code != 200 {
		t.Fatal(rec.Body)
	}
	spec := stripe.SubscriptionSpec{OrgID: w.org, CustomerID: "cus_h", SubscriptionID: "sub_h", Tier: billing.TierEnterprise}
	cs := h.factory.CheckoutSession("cs_unknown_to_us", spec)
	cs["metadata"] = map[string]any{"orgId": w.org} // no planTier
	var env map[string]any
	_ = json.Unmarshal(h.factory.Event("evt_hand", "checkout.session.completed", time.Now(), cs), &env)
	env["api_version"] = nil
	payload, _ := json.Marshal(env)
	before := h.fake.Requests.Load()
	if out := mustOK(t, h.deliver(payload), "hand-made"); out != ports.OutcomeApplied {
		t.Fatalf("outcome %q", out)
	}
	if h.fake.Requests.Load() != before {
		t.Error("an event without api_version was re-fetched")
	}
	if st := h.billingStatus(w.org); st.PlanTier != "ENTERPRISE" || st.Status != "active" {
		t.Errorf("status %+v", st)
	}
}

// customer.subscription.created is read like an update: a subscription
// made outside Checkout (metadata orgId) links the org and sets its state.
func TestWebhookSubscriptionCreatedIsReadLikeAnUpdate(t *testing.T) {
	h := newHarness(t)
	h.createOrg("org_c")
	end := time.Now().Add(30 * 24 * time.Hour).Truncate(time.Second).UTC()
	spec := stripe.SubscriptionSpec{OrgID: "org_c", CustomerID: "cus_c", SubscriptionID: "sub_c", Tier: billing.TierStarter, Status: "trialing", CurrentPeriodEnd: end}
	if out := mustOK(t, h.deliver(h.factory.Event("evt_created", "customer.subscription.created", time.Now(), h.factory.Subscription(spec))), "created"); out != ports.OutcomeApplied {
		t.Fatalf("outcome %q", out)
	}
	st := h.billingStatus("org_c")
	if st.PlanTier != "STARTER" || st.Status != "trialing" || st.StripeSubscriptionID != "sub_c" || !st.CurrentPeriodEnd.Equal(end) {
		t.Errorf("status %+v", st)
	}
	if e := h.billingEvents("org_c"); len(e) != 1 || e[0].Type != billing.TypeSubscriptionRefreshed {
		t.Errorf("recorded %+v", e)
	}
}
