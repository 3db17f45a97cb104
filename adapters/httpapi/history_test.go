package httpapi_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/safeclose/billing/adapters/stripe"
	"github.com/safeclose/billing/application"
	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
	"github.com/safeclose/billing/ports/porttest"
)

type historyBody struct {
	Events     []application.LedgerRecord `json:"events"`
	NextCursor *string                    `json:"nextCursor"`
}

func TestHistoryPagesEveryEventExactlyOnce(t *testing.T) {
	h := newHarness(t)
	w := newWorld(t, h)
	ctx := context.Background()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	version := int64(len(h.ledger(w.org)))
	for batch := range 10 {
		events := make([]ports.NewEvent, 100)
		for i := range events {
			n := batch*100 + i
			events[i] = porttest.Event(t, billing.CheckoutStarted{Tier: billing.TierPro, CheckoutSessionID: fmt.Sprintf("cs_%d", n)}, base.Add(time.Duration(n)*time.Minute))
		}
		if _, err := h.store.Append(ctx, ports.AppendRequest{StreamID: w.org, ExpectedVersion: version, Events: events}); err != nil {
			t.Fatal(err)
		}
		version += 100
	}
	seen := map[int64]int{}
	cursor, pages := "", 0
	for {
		path := "/api/billing/events?limit=7&orgId=" + w.org
		if cursor != "" {
			path += "&after=" + url.QueryEscape(cursor)
		}
		rec := h.do("GET", path, w.tAudit, nil)
		if rec.Code != 200 {
			t.Fatalf("page %d: %d %s", pages, rec.Code, rec.Body)
		}
		var body historyBody
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		pages++
		for _, e := range body.Events {
			seen[e.Version]++
			if e.Hash == "" || e.Position == 0 || e.Actor == "" && e.Type != "CheckoutStarted" {
				t.Fatalf("event %+v", e)
			}
		}
		if body.NextCursor == nil {
			if len(body.Events) == 0 || len(body.Events) > 7 {
				t.Errorf("last page has %d events", len(body.Events))
			}
			break
		}
		if len(body.Events) != 7 {
			t.Fatalf("page %d has %d events", pages, len(body.Events))
		}
		cursor = *body.NextCursor
	}
	if int64(len(seen)) != version {
		t.Fatalf("%d distinct events over %d pages, want %d", len(seen), pages, version)
	}
	for v, n := range seen {
		if n != 1 || v < 1 || v > version {
			t.Fatalf("version %d seen %d times", v, n)
		}
	}
	// Filters: by type and occurred time.
	rec := h.do("GET", "/api/billing/events?limit=500&type=MemberAdded,OrgCreated&orgId="+w.org, w.tOwner, nil)
	var body historyBody
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	if len(body.Events) != 6 || body.NextCursor != nil {
		t.Errorf("type filter: %d events", len(body.Events))
	}
	from, to := base.Add(10*time.Minute).Format(time.RFC3339), base.Add(20*time.Minute).Format(time.RFC3339)
	rec = h.do("GET", "/api/billing/events?orgId="+w.org+"&from="+from+"&to="+to, w.tBilling, nil)
	body = historyBody{}
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	if len(body.Events) != 10 || body.Events[0].OccurredAt != from {
		t.Errorf("time filter: %d events, first %+v", len(body.Events), body.Events)
	}
	// CSV.
	rec = h.do("GET", "/api/billing/events?limit=3&orgId="+w.org, w.tAudit, nil, "Accept", "text/csv")
	rows, err := csv.NewReader(strings.NewReader(rec.Body.String())).ReadAll()
	if err != nil || len(rows) != 4 || rows[0][0] != "position" || rows[1][2] != "OrgCreated" || rec.Header().Get("X-Next-Cursor") == "" {
		t.Errorf("csv: %v %q %v", err, rec.Body.String(), rec.Header())
	}
	// Refusals.
	for _, tc := range []struct {
		path, token string
		status      int
	}{
		{"/api/billing/events?orgId=" + w.org, w.tPlain, 403},
		{"/api/billing/events?orgId=" + w.org + "&limit=0", w.tOwner, 400},
		{"/api/billing/events?orgId=" + w.org + "&limit=501", w.tOwner, 400},
		{"/api/billing/events?orgId=" + w.org + "&limit=x", w.tOwner, 400},
		{"/api/billing/events?orgId=" + w.org + "&after=bogus!", w.tOwner, 400},
		{"/api/billing/events?orgId=" + w.org + "&after=" + "djE6LTE", w.tOwner, 400},
		{"/api/billing/events?orgId=" + w.org + "&from=yesterday", w.tOwner, 400},
		{"/api/billing/events", w.tOwner, 400},
		{"/api/billing/events?orgId=" + w.otherOrg, w.tOwner, 403},
	} {
		if rec := h.do("GET", tc.path, tc.token, nil); rec.Code != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.path, rec.Code, rec.Body, tc.status)
		}
	}
}

func TestStatusAsOfAndKnownAt(t *testing.T) {
	h := newHarness(t)
	w := newWorld(t, h)
	// One base for every instant: a second boundary crossed between the
	// deliveries and the queries must not move them.
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	at := func(sec int) time.Time { return base.Add(time.Duration(sec) * time.Second) }
	spec := stripe.SubscriptionSpec{OrgID: w.org, CustomerID: "cus_a", SubscriptionID: "sub_a", Tier: billing.TierPro, CurrentPeriodEnd: at(1000)}
	failed := spec
	failed.OrgID = ""
	mustOK(t, h.deliver(h.factory.Event("evt_1", "checkout.session.completed", at(0), h.factory.CheckoutSession("cs_a", spec))), "checkout")
	mustOK(t, h.deliver(h.factory.Event("evt_3", "invoice.paid", at(20), h.factory.Invoice(spec, stripe.InvoiceSpec{InvoiceID: "in_2", Amount: 10, Paid: true}))), "paid")
	knownBeforeLate := time.Now()
	time.Sleep(5 * time.Millisecond)
	// Late: a failure that happened at 10 s arrives last.
	mustOK(t, h.deliver(h.factory.Event("evt_2", "invoice.payment_failed", at(10), h.factory.Invoice(failed, stripe.InvoiceSpec{InvoiceID: "in_1", Amount: 10}))), "late failure")

	status := func(query string) map[string]any {
		rec := h.do("GET", "/api/billing/status?orgId="+w.org+query, w.tPlain, nil)
		if rec.Code != 200 {
			t.Fatalf("%s: %d %s", query, rec.Code, rec.Body)
		}
		var m map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &m)
		return m
	}
	q := func(name string, t time.Time) string {
		return "&" + name + "=" + url.QueryEscape(t.Format(time.RFC3339Nano))
	}
	for _, tc := range []struct {
		query, tier, status string
	}{
		{"", "PRO", "active"},                                                // now: the late failure is older than the payment
		{q("asOf", at(-1)), "FREE", "none"},                                  // before anything
		{q("asOf", at(5)), "PRO", "active"},                                  // after checkout
		{q("asOf", at(15)), "PRO", "past_due"},                               // the failure had happened by then
		{q("asOf", at(25)), "PRO", "active"},                                 // paid after
		{q("asOf", at(15)) + q("knownAt", knownBeforeLate), "PRO", "active"}, // but we did not know it yet
		{q("knownAt", knownBeforeLate), "PRO", "active"},
	} {
		m := status(tc.query)
		if m["planTier"] != tc.tier || m["status"] != tc.status {
			t.Errorf("status%s = %v %v, want %s %s", tc.query, m["planTier"], m["status"], tc.tier, tc.status)
		}
	}
	if m := status(q("asOf", at(15))); m["ledgerVersion"].(float64) >= status("")["ledgerVersion"].(float64) {
		t.Error("asOf folded every event")
	}
	if rec := h.do("GET", "/api/billing/status?orgId="+w.org+"&asOf=yesterday", w.tPlain, nil); rec.Code != 400 {
		t.Errorf("bad asOf: %d", rec.Code)
	}
	if rec := h.do("GET", "/api/billing/status?orgId="+w.otherOrg+q("asOf", at(5)), w.tPlain, nil); rec.Code != 403 {
		t.Errorf("foreign asOf: %d", rec.Code)
	}
}
