package httpapi_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gorilla/mux"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/safeclose/billing/adapters/httpapi"
	"github.com/safeclose/billing/adapters/metrics"
	"github.com/safeclose/billing/adapters/postgres"
	"github.com/safeclose/billing/adapters/postgres/pgtest"
	"github.com/safeclose/billing/adapters/stripe"
	"github.com/safeclose/billing/adapters/stripe/stripefake"
	"github.com/safeclose/billing/adapters/system"
	"github.com/safeclose/billing/application"
	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

const secret = "whsec_test_secret"

var prices = stripe.Prices{billing.TierStarter: "price_starter", billing.TierPro: "price_pro", billing.TierEnterprise: "price_enterprise"}

// harness is the whole service over a fresh database, with the Stripe API
// played by a stateful fake.
type harness struct {
	t       testing.TB
	db      *pgtest.DB
	store   *postgres.Store
	status  *postgres.StatusProjection
	svc     *application.Service
	fake    *stripefake.Server
	factory *stripe.Factory
	metrics *metrics.Metrics
	handler http.Handler
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	db := pgtest.New(t)
	factory, err := stripe.NewFactory(prices)
	if err != nil {
		t.Fatal(err)
	}
	fake := stripefake.New(factory)
	t.Cleanup(fake.Close)
	clock := system.Clock{}
	status, links := postgres.NewStatusProjection(db.DB), postgres.NewLinksProjection(db.DB)
	store := postgres.NewStore(db.DB, clock, []postgres.Projection{status, links})
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	client := stripe.NewClient(stripe.Config{SecretKey: "sk_test_fake", APIBase: fake.URL, Prices: prices, Timeout: 2 * time.Second})
	svc := application.NewService(application.Deps{Store: store, Status: status, Clock: clock, Log: log,
		Inbox: postgres.NewInbox(db.DB, clock), Links: links, Orgs: postgres.NewOrgs(db.DB), Subscriptions: client})
	m := metrics.New()
	hooks := stripe.NewWebhooks(secret, client, time.Now)
	hooks.OnRefetch = func(v, typ string) { m.WebhookRefetch.WithLabelValues(v, typ).Inc() }
	handler := httpapi.NewRouter(httpapi.Deps{Log: log, DB: db.DB, Routes: []func(*mux.Router){
		httpapi.WebhookRoutes(log, hooks, svc, m, clock),
	}})
	return &harness{t: t, db: db, store: store, status: status, svc: svc, fake: fake, factory: factory, metrics: m, handler: handler}
}

func (h *harness) createOrg(id string) {
	h.t.Helper()
	if _, err := h.db.ExecContext(context.Background(), "INSERT INTO orgs (id, name, created_at) VALUES (?, ?, now())", id, "Org "+id); err != nil {
		h.t.Fatal(err)
	}
}

// deliver posts payload signed now, as Stripe would.
func (h *harness) deliver(payload []byte) *httptest.ResponseRecorder {
	return h.deliverSigned(payload, stripe.Sign(payload, secret, time.Now()))
}

func (h *harness) deliverSigned(payload []byte, signature string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/api/billing/webhook", bytes.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	if signature != "" {
		req.Header.Set("Stripe-Signature", signature)
	}
	rec := httptest.NewRecorder()
	h.handler.ServeHTTP(rec, req)
	return rec
}

func (h *harness) billingStatus(org string) ports.BillingStatus {
	h.t.Helper()
	st, err := h.status.Status(context.Background(), org)
	if err != nil {
		h.t.Fatalf("status of %s: %v", org, err)
	}
	return st
}

func (h *harness) ledger(org string) []ports.StoredEvent {
	h.t.Helper()
	events, err := h.store.Load(context.Background(), org)
	if err != nil {
		h.t.Fatal(err)
	}
	return events
}

func (h *harness) count(query string, args ...any) int {
	h.t.Helper()
	var n int
	if err := h.db.QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

func (h *harness) verifyLedger() {
	h.t.Helper()
	rep, err := application.VerifyLedger(context.Background(), h.store, "")
	if err != nil {
		h.t.Fatal(err)
	}
	if rep.Break != nil {
		h.t.Fatalf("ledger broken: %v", rep.Break)
	}
}
