package httpapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/safeclose/billing/adapters/postgres"
	"github.com/safeclose/billing/application"
	"github.com/safeclose/billing/ports"
)

// TestPruneKeepsDuplicatesRecognized: maintenance prune removes the
// payloads of settled Stripe events past retention and expired sessions,
// in batches; a parked event keeps its payload (it is still to be
// applied); every event id stays, so a delivery of a pruned event is
// recognized as a duplicate and changes nothing.
func TestPruneKeepsDuplicatesRecognized(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	l := newLifecycle(h, 1, time.Now().Add(-time.Hour).Truncate(time.Second))
	for _, i := range []int{0, 1, 2} {
		mustOK(t, h.deliver(l.events[i]), "event")
	}
	// An invoice of a customer no org is linked to yet: parked.
	other := newLifecycle(h, 2, time.Now().Add(-time.Hour).Truncate(time.Second))
	if out := mustOK(t, h.deliver(other.events[1]), "unlinked invoice"); out != ports.OutcomeParked {
		t.Fatalf("outcome %q, want parked", out)
	}
	u := h.user("prune@example.com")
	live := h.session(u)
	h.session(u) // expires below
	if _, err := h.db.DB.ExecContext(ctx, "UPDATE sessions SET expires_at = now() - interval '1 minute' WHERE token_hash <> (SELECT token_hash FROM sessions ORDER BY created_at LIMIT 1)"); err != nil {
		t.Fatal(err)
	}
	m := postgres.NewMaintenance(h.db.DB)

	// Nothing is old enough yet: only the expired session goes.
	rep, err := application.Prune(ctx, m, time.Now(), application.DefaultRetention)
	if err != nil || rep.Sessions != 1 || rep.Payloads != 0 {
		t.Fatalf("prune: %+v, %v", rep, err)
	}
	if rec := h.do("GET", "/api/me", live, nil); rec.Code != 200 {
		t.Errorf("the live session after prune: %d", rec.Code)
	}
	before := len(h.ledger(l.org))
	rep, err = application.Prune(ctx, m, time.Now().Add(time.Second), 0)
	if err != nil || rep.Payloads != 3 {
		t.Fatalf("prune everything settled: %+v, %v", rep, err)
	}
	if n := h.count("SELECT count(*) FROM stripe_inbox WHERE payload IS NULL"); n != 3 {
		t.Errorf("%d payloads removed, want the 3 settled events'", n)
	}
	if n := h.count("SELECT count(*) FROM stripe_inbox WHERE outcome = 'parked' AND payload IS NOT NULL"); n != 1 {
		t.Errorf("the parked event lost its payload")
	}
	for _, i := range []int{0, 1, 2} {
		if out := mustOK(t, h.deliver(l.events[i]), "again"); out != ports.OutcomeDuplicate {
			t.Errorf("event %d delivered again after prune: %q, want duplicate", i, out)
		}
	}
	if after := len(h.ledger(l.org)); after != before {
		t.Errorf("ledger %d events after the duplicates, was %d", after, before)
	}
	// The parked event still applies once its org is linked.
	mustOK(t, h.deliver(other.events[0]), "link")
	if n := h.count("SELECT count(*) FROM stripe_inbox WHERE outcome = 'parked'"); n != 0 {
		t.Errorf("%d events still parked", n)
	}
	h.verifyLedger()
}
