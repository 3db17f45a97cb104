package porttest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// inboxEntry is a verified Stripe event carrying a completed checkout of
// customer and subscription, created at base plus created.
func inboxEntry(t testing.TB, id, customer, subscription string, created time.Duration) ports.InboxEntry {
	t.Helper()
	fact, err := billing.EncodeChange(activated(customer, subscription))
	if err != nil {
		t.Fatal(err)
	}
	// The payload keeps Stripe's spacing and key order: the bytes it signed.
	payload := fmt.Sprintf(`{"id": %q,  "object":"event", "type":"checkout.session.completed", "data":{"object":{"customer":%q}}}`, id, customer)
	return ports.InboxEntry{ID: id, Type: "checkout.session.completed", APIVersion: "2023-10-16", Created: base.Add(created),
		Payload: json.RawMessage(payload), FactType: billing.PlanActivated{}.EventType(), Fact: fact,
		OrgHint: "org_hint", CustomerID: customer, SubscriptionID: subscription}
}

// RunInbox runs the Stripe inbox contract against the ports newPorts
// returns (Store and Inbox of one empty database).
func RunInbox(t *testing.T, newPorts func(t *testing.T) Ports) {
	ctx := context.Background()
	receive := func(t *testing.T, in ports.Inbox, e ports.InboxEntry) (ports.InboxEntry, bool) {
		t.Helper()
		got, isNew, err := in.Receive(ctx, e)
		if err != nil {
			t.Fatalf("receive %s: %v", e.ID, err)
		}
		return got, isNew
	}
	// redelivered receives e again, which must not be new, and returns
	// the entry as stored.
	redelivered := func(t *testing.T, in ports.Inbox, e ports.InboxEntry) ports.InboxEntry {
		t.Helper()
		got, isNew := receive(t, in, e)
		if isNew {
			t.Fatalf("%s received again: new", e.ID)
		}
		return got
	}
	settle := func(t *testing.T, in ports.Inbox, id, outcome, org, detail string) {
		t.Helper()
		if err := in.Settle(ctx, id, outcome, org, detail); err != nil {
			t.Fatalf("settle %s %s: %v", id, outcome, err)
		}
	}
	// sameEvent reports how got differs from the event e as received.
	sameEvent := func(t *testing.T, got, e ports.InboxEntry) {
		t.Helper()
		if got.ID != e.ID || got.Type != e.Type || got.APIVersion != e.APIVersion || !got.Created.Equal(e.Created) ||
			got.FactType != e.FactType || got.OrgHint != e.OrgHint || got.CustomerID != e.CustomerID || got.SubscriptionID != e.SubscriptionID {
			t.Errorf("entry %+v, want the event %+v", got, e)
		}
		if !bytes.Equal(got.Payload, e.Payload) {
			t.Errorf("payload %s, want the bytes received %s", got.Payload, e.Payload)
		}
		if (len(e.Fact) == 0 && len(got.Fact) != 0) || (len(e.Fact) > 0 && !bytes.Equal(mustCanonical(t, got.Fact), mustCanonical(t, e.Fact))) {
			t.Errorf("fact %s, want %s", got.Fact, e.Fact)
		}
	}
	ids := func(es []ports.InboxEntry) []string {
		out := []string{}
		for _, e := range es {
			out = append(out, e.ID)
		}
		return out
	}

	t.Run("an event is new once; each later delivery is counted and returns it as stored", func(t *testing.T) {
		p := newPorts(t)
		e := inboxEntry(t, "evt_1", "cus_1", "sub_1", 0)
		first, isNew := receive(t, p.Inbox, e)
		if !isNew {
			t.Fatal("first delivery not new")
		}
		sameEvent(t, first, e)
		if first.Outcome != ports.OutcomeReceived || first.Deliveries != 1 || first.OrgID != "" || first.Detail != "" || first.ReceivedAt.IsZero() {
			t.Errorf("new entry %+v: want received, one delivery, no org or detail, a receipt time", first)
		}
		// A later delivery with other contents returns the first as stored.
		other := e
		other.Type, other.Payload, other.CustomerID, other.Created = "customer.updated", json.RawMessage(`{"id":"evt_1"}`), "cus_other", base.Add(time.Hour)
		for n := 2; n <= 3; n++ {
			got := redelivered(t, p.Inbox, other)
			sameEvent(t, got, e)
			if got.Deliveries != n || got.Outcome != ports.OutcomeReceived || !got.ReceivedAt.Equal(first.ReceivedAt.Truncate(time.Microsecond)) {
				t.Errorf("delivery %d: %+v, want %d deliveries, received at %v", n, got, n, first.ReceivedAt)
			}
		}
		// Another id is another event; one without a fact keeps none.
		plain := ports.InboxEntry{ID: "evt_2", Type: "customer.created", APIVersion: "2023-10-16", Created: base, Payload: json.RawMessage(`{"id":"evt_2"}`)}
		if _, isNew := receive(t, p.Inbox, plain); !isNew {
			t.Error("a second id is not new")
		}
		sameEvent(t, redelivered(t, p.Inbox, plain), plain)
	})

	t.Run("concurrent first deliveries: exactly one is new, and every one is counted", func(t *testing.T) {
		p := newPorts(t)
		e := inboxEntry(t, "evt_race", "cus_1", "sub_1", 0)
		var wg sync.WaitGroup
		var fresh atomic.Int32
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, isNew, err := p.Inbox.Receive(ctx, e)
				if err != nil {
					t.Error(err)
				} else if isNew {
					fresh.Add(1)
				}
			}()
		}
		wg.Wait()
		if fresh.Load() != 1 {
			t.Errorf("%d deliveries were new, want 1", fresh.Load())
		}
		if got := redelivered(t, p.Inbox, e); got.Deliveries != 21 {
			t.Errorf("%d deliveries counted, want 21", got.Deliveries)
		}
	})

	t.Run("an event that is not JSON is refused and not kept", func(t *testing.T) {
		p := newPorts(t)
		e := inboxEntry(t, "evt_bad", "cus_1", "sub_1", 0)
		bad := e
		bad.Payload = json.RawMessage(`{"id": "evt_bad"`)
		if _, _, err := p.Inbox.Receive(ctx, bad); err == nil {
			t.Fatal("a payload that is not JSON was received")
		}
		if _, isNew := receive(t, p.Inbox, e); !isNew {
			t.Error("the refused delivery was kept")
		}
	})

	t.Run("settle records the outcome once; a settled outcome is never overwritten", func(t *testing.T) {
		p := newPorts(t)
		for _, id := range []string{"evt_p", "evt_i"} {
			receive(t, p.Inbox, inboxEntry(t, id, "cus_1", "sub_1", 0))
		}
		// received → parked → applied, then nothing moves it.
		settle(t, p.Inbox, "evt_p", ports.OutcomeParked, "", "no organization linked yet")
		if got := redelivered(t, p.Inbox, inboxEntry(t, "evt_p", "", "", 0)); got.Outcome != ports.OutcomeParked || got.OrgID != "" || got.Detail != "no organization linked yet" {
			t.Errorf("parked: %+v", got)
		}
		settle(t, p.Inbox, "evt_p", ports.OutcomeApplied, "org_a", "")
		for _, later := range []string{ports.OutcomeRefused, ports.OutcomeParked, ports.OutcomeReceived, ports.OutcomeDuplicate} {
			settle(t, p.Inbox, "evt_p", later, "org_b", "late "+later)
			if got := redelivered(t, p.Inbox, inboxEntry(t, "evt_p", "", "", 0)); got.Outcome != ports.OutcomeApplied || got.OrgID != "org_a" || got.Detail != "" {
				t.Errorf("applied, then settled %s: %+v; want it applied to org_a still", later, got)
			}
		}
		// received → ignored, final too.
		settle(t, p.Inbox, "evt_i", ports.OutcomeIgnored, "", "event type not handled")
		settle(t, p.Inbox, "evt_i", ports.OutcomeApplied, "org_a", "")
		if got := redelivered(t, p.Inbox, inboxEntry(t, "evt_i", "", "", 0)); got.Outcome != ports.OutcomeIgnored || got.OrgID != "" || got.Detail != "event type not handled" {
			t.Errorf("ignored, then applied: %+v; want it ignored still", got)
		}
		if err := p.Inbox.Settle(ctx, "evt_unknown", ports.OutcomeApplied, "org_a", ""); err != nil {
			t.Errorf("settling an unknown event: %v", err)
		}
		if _, isNew := receive(t, p.Inbox, inboxEntry(t, "evt_unknown", "", "", 0)); !isNew {
			t.Error("settling an unknown event kept it")
		}
	})

	t.Run("parked events are found by their customer or subscription, by creation time", func(t *testing.T) {
		p := newPorts(t)
		park := func(e ports.InboxEntry) {
			t.Helper()
			receive(t, p.Inbox, e)
			settle(t, p.Inbox, e.ID, ports.OutcomeParked, "", "no organization linked yet")
		}
		park(inboxEntry(t, "evt_late", "cus_1", "sub_1", 2*time.Second))
		park(inboxEntry(t, "evt_b", "cus_1", "sub_3", time.Second))
		park(inboxEntry(t, "evt_a", "cus_1", "sub_4", time.Second)) // same second as evt_b: by id
		park(inboxEntry(t, "evt_other", "cus_2", "", 0))
		receive(t, p.Inbox, inboxEntry(t, "evt_received", "cus_1", "sub_1", 0)) // not parked
		park(inboxEntry(t, "evt_done", "cus_1", "sub_1", 0))
		settle(t, p.Inbox, "evt_done", ports.OutcomeApplied, "org_a", "") // unparked
		for _, tc := range []struct {
			ids  []string
			want []string
		}{
			{[]string{"cus_1"}, []string{"evt_a", "evt_b", "evt_late"}},
			{[]string{"sub_3"}, []string{"evt_b"}},
			{[]string{"sub_1", "cus_2"}, []string{"evt_other", "evt_late"}},
			{[]string{"sub_4", "sub_3", "cus_1"}, []string{"evt_a", "evt_b", "evt_late"}},
			{[]string{"cus_unknown"}, []string{}},
			{nil, []string{}},
		} {
			got, err := p.Inbox.Parked(ctx, tc.ids)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(got), tc.want) {
				t.Errorf("parked for %v: %v, want %v", tc.ids, ids(got), tc.want)
			}
		}
		// A parked entry carries what it takes to apply it.
		got, _ := p.Inbox.Parked(ctx, []string{"sub_3"})
		if len(got) == 1 {
			sameEvent(t, got[0], inboxEntry(t, "evt_b", "cus_1", "sub_3", time.Second))
			if got[0].Outcome != ports.OutcomeParked || got[0].Deliveries != 1 {
				t.Errorf("parked entry %+v", got[0])
			}
		}
	})

	t.Run("an event recorded with its ledger events is kept as applied to its org", func(t *testing.T) {
		p := newPorts(t)
		record := func(e ports.InboxEntry, org string, decide ports.Decide) (ports.Updated, error) {
			return p.Store.RecordStripeEvent(ctx, e, ports.Update{StreamID: org, Metadata: ports.Metadata{Actor: "stripe", StripeEventID: e.ID},
				IdempotencyKey: e.ID, Decide: decide})
		}
		// A new event, recorded at once.
		e := inboxEntry(t, "evt_direct", "cus_1", "sub_1", 0)
		res, err := record(e, "org_a", recordFact(activated("cus_1", "sub_1"), e.Created))
		if err != nil || res.Duplicate || len(res.Events) != 1 {
			t.Fatalf("record: %+v, %v", res, err)
		}
		got := redelivered(t, p.Inbox, e)
		sameEvent(t, got, e)
		if got.Outcome != ports.OutcomeApplied || got.OrgID != "org_a" || got.Detail != "" || got.Deliveries != 2 || got.ReceivedAt.IsZero() {
			t.Errorf("recorded, then delivered again: %+v; want applied to org_a, 2 deliveries", got)
		}
		// A delivery recorded again is a duplicate that keeps nothing more.
		res, err = record(e, "org_a", recordFact(activated("cus_1", "sub_1"), e.Created))
		if err != nil || !res.Duplicate {
			t.Fatalf("recording again: %+v, %v; want a duplicate", res, err)
		}
		if got := redelivered(t, p.Inbox, e); got.Deliveries != 3 || got.Outcome != ports.OutcomeApplied {
			t.Errorf("after a duplicate record: %+v; want 3 deliveries, applied", got)
		}
		// A parked event recorded later is settled, its delivery counted.
		parked := inboxEntry(t, "evt_parked", "cus_2", "sub_2", time.Second)
		receive(t, p.Inbox, parked)
		settle(t, p.Inbox, parked.ID, ports.OutcomeParked, "", "no organization linked yet")
		if _, err := record(parked, "org_b", recordFact(activated("cus_2", "sub_2"), parked.Created)); err != nil {
			t.Fatal(err)
		}
		if got := redelivered(t, p.Inbox, parked); got.Outcome != ports.OutcomeApplied || got.OrgID != "org_b" || got.Detail != "" || got.Deliveries != 3 {
			t.Errorf("parked, then recorded: %+v; want applied to org_b with no detail, 3 deliveries", got)
		}
		if still, _ := p.Inbox.Parked(ctx, []string{"cus_2"}); len(still) != 0 {
			t.Errorf("recorded yet still parked: %v", ids(still))
		}
		// A decision that fails, or appends nothing, keeps nothing.
		refused := errors.New("refused")
		for i, decide := range []ports.Decide{
			func(*billing.Account) ([]billing.Event, error) { return nil, refused },
			func(*billing.Account) ([]billing.Event, error) { return nil, nil },
		} {
			e := inboxEntry(t, fmt.Sprintf("evt_nothing_%d", i), "cus_3", "sub_3", 0)
			if _, err := record(e, "org_c", decide); err != nil && !errors.Is(err, refused) {
				t.Fatal(err)
			}
			if _, isNew := receive(t, p.Inbox, e); !isNew {
				t.Errorf("decision %d appended nothing, yet the event was kept", i)
			}
		}
	})
}
