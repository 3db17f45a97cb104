package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
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
	"github.com/safeclose/billing/adapters/stripe/stripemock"
	"github.com/safeclose/billing/adapters/system"
	"github.com/safeclose/billing/adapters/web"
	"github.com/safeclose/billing/application"
	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
	"github.com/safeclose/billing/ports/porttest"
)

const (
	secret  = "whsec_test_secret"
	baseURL = "http://billing.example.test"
)

var prices = stripe.Prices{billing.TierStarter: "price_starter", billing.TierPro: "price_pro", billing.TierEnterprise: "price_enterprise"}

// harness is the whole service over a fresh database, with the Stripe API
// played by a stateful fake.
type harness struct {
	t        testing.TB
	db       *pgtest.DB
	store    *postgres.Store
	status   *postgres.StatusProjection
	svc      *application.Service
	fake     *stripefake.Server
	factory  *stripe.Factory
	metrics  *metrics.Metrics
	handler  http.Handler
	identity *application.Identity
	mock     *stripemock.Recorder
	opt      options
}

// options change the harness.
type options struct {
	paymentsBase string // Stripe API for checkout and portal; "" for stripe-mock behind a recorder, "fake" for the fake
	baseURL      string // APP_BASE_URL; "" for baseURL
	log          *zap.Logger
	// trustedProxies are HTTP_TRUSTED_PROXIES; none by default.
	trustedProxies []netip.Prefix
	// pricesBase is the Stripe API the tiers' prices are read from; ""
	// for paymentsBase.
	pricesBase string
	// plans is the catalogue (PLANS_FILE); the zero one for the built-in.
	plans billing.Catalogue
	// grace is BILLING_GRACE_DAYS as a duration; 0 for its default, 7 days.
	grace time.Duration
}

func newHarness(t testing.TB, opts ...options) *harness {
	t.Helper()
	var opt options
	if len(opts) > 0 {
		opt = opts[0]
	}
	if opt.baseURL == "" {
		opt.baseURL = baseURL
	}
	if opt.grace == 0 {
		opt.grace = 7 * 24 * time.Hour
	}
	if opt.log == nil {
		opt.log = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	}
	factory, err := stripe.NewFactory(prices)
	if err != nil {
		t.Fatal(err)
	}
	fake := stripefake.New(factory)
	t.Cleanup(fake.Close)
	var mock *stripemock.Recorder
	if opt.paymentsBase == "fake" {
		opt.paymentsBase = fake.URL
	}
	if opt.paymentsBase == "" {
		mock = stripemock.NewRecorder(t)
		opt.paymentsBase = mock.URL
	}
	if opt.pricesBase == "" {
		opt.pricesBase = opt.paymentsBase
	}
	h := &harness{t: t, db: pgtest.New(t), fake: fake, factory: factory, mock: mock, opt: opt}
	h.build()
	return h
}

// instance returns another instance of the service over the same database
// and Stripe doubles, remembering nothing of this one's accounts and links,
// as a second process behind a load balancer would.
func (h *harness) instance() *harness {
	other := &harness{t: h.t, db: h.db, fake: h.fake, factory: h.factory, mock: h.mock, opt: h.opt}
	other.build()
	return other
}

// build makes the service's instance: its store, projections, use cases
// and router.
func (h *harness) build() {
	db, opt, log := h.db, h.opt, h.opt.log
	clock := system.Clock{}
	status, links := postgres.NewStatusProjection(db.DB), postgres.NewLinksProjection(db.DB)
	client := stripe.NewClient(stripe.Config{SecretKey: "sk_test_fake", APIBase: h.fake.URL, Prices: prices, Timeout: 2 * time.Second})
	pay := stripe.NewClient(stripe.Config{SecretKey: "sk_test_mock", APIBase: opt.paymentsBase, Prices: prices, Timeout: 2 * time.Second})
	priced := stripe.NewClient(stripe.Config{SecretKey: "sk_test_mock", APIBase: opt.pricesBase, Prices: prices, Timeout: 2 * time.Second})
	store := postgres.NewStore(db.DB, clock, []postgres.Projection{status, links, postgres.OrgsProjection{}, postgres.MembershipsProjection{}})
	users := postgres.NewUsers(db.DB)
	inbox := postgres.NewInbox(db.DB, clock)
	svc := application.NewService(application.Deps{Store: store, Status: status, Clock: clock, Log: log,
		Inbox: inbox, Links: links, Orgs: postgres.NewOrgs(db.DB), Subscriptions: client,
		Users: users, Memberships: users, Payments: pay, History: postgres.NewHistory(db.DB, db.DB), BaseURL: opt.baseURL,
		Plans: opt.plans, Grace: opt.grace, Prices: stripe.NewPriceCache(prices, priced.Price, stripe.CacheOptions{Log: log})})
	identity := application.NewIdentity(users, postgres.NewLoginLimiter(db.DB), clock)
	m := metrics.New()
	hooks := stripe.NewWebhooks(secret, client, time.Now)
	hooks.OnRefetch = func(v, typ string) { m.WebhookRefetch.WithLabelValues(v, typ).Inc() }
	hooks.Seen = inbox.Seen
	h.handler = httpapi.NewRouter(httpapi.Deps{Log: log, DB: db.DB, Metrics: m, TrustedProxies: opt.trustedProxies, BaseURL: opt.baseURL,
		Routes: []func(*mux.Router){
			(&httpapi.API{Log: log, Identity: identity, App: svc, CookieName: "sc_test", BaseURL: opt.baseURL}).Routes,
			(&web.Pages{Log: log, Identity: identity, App: svc, CookieName: "sc_test"}).Routes,
		},
		SignedRoutes: []func(*mux.Router){httpapi.WebhookRoutes(log, hooks, svc, m, clock)},
	})
	h.store, h.status, h.svc, h.metrics, h.identity = store, status, svc, m, identity
	// Before the Stripe doubles close and the test's logger goes: the work
	// left after answering (expiring superseded checkout sessions).
	h.t.Cleanup(func() { _ = svc.Drain(context.Background()) })
}

// createOrg makes an org with the given id (owned by a fresh user) the
// way the service does: OrgCreated and MemberAdded in its ledger.
func (h *harness) createOrg(id string) {
	h.t.Helper()
	// A user without a usable password: bcrypt would dominate tests that
	// create hundreds of orgs.
	owner := ports.User{ID: "usr_" + id, Email: "owner-" + id + "@example.com", PasswordHash: []byte("!"), CreatedAt: time.Now()}
	if err := postgres.NewUsers(h.db.DB).CreateUser(context.Background(), owner); err != nil {
		h.t.Fatal(err)
	}
	_, err := h.store.Append(context.Background(), ports.AppendRequest{StreamID: id, Events: []ports.NewEvent{
		porttest.Event(h.t, billing.OrgCreated{Name: "Org " + id, OwnerUserID: owner.ID}, time.Now()),
		porttest.Event(h.t, billing.MemberAdded{UserID: owner.ID, Email: owner.Email, Role: billing.RoleOwner, Permissions: billing.AllPermissions()}, time.Now()),
	}})
	if err != nil {
		h.t.Fatal(err)
	}
}

// user creates a user with password "correct horse".
// acme creates the pages' org, "Acme Corp", owned by owner@example.com,
// with viewer@example.com as a member without permissions.
func (h *harness) acme() (org string, owner, viewer ports.User) {
	h.t.Helper()
	owner, viewer = h.user("owner@example.com"), h.user("viewer@example.com")
	org, err := h.svc.CreateOrg(context.Background(), appActor(owner), "Acme Corp", owner.Email)
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.svc.AddMember(context.Background(), appActor(owner), org, viewer.Email, nil); err != nil {
		h.t.Fatal(err)
	}
	return org, owner, viewer
}

func (h *harness) user(email string) ports.User {
	h.t.Helper()
	u, err := h.identity.CreateUser(context.Background(), email, "correct horse")
	if err != nil {
		h.t.Fatal(err)
	}
	return u
}

// session opens a session for the user and returns its token.
func (h *harness) session(u ports.User) string {
	h.t.Helper()
	tok, err := h.identity.OpenSession(context.Background(), u.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

// do sends a request with an optional bearer token and JSON body.
func (h *harness) do(method, path, token string, body any, headers ...string) *httptest.ResponseRecorder {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req := httptest.NewRequest(method, path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.handler.ServeHTTP(rec, req)
	return rec
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

// billingEvents is the org's ledger without its membership events.
func (h *harness) billingEvents(org string) []ports.StoredEvent {
	var out []ports.StoredEvent
	for _, e := range h.ledger(org) {
		if e.Type != billing.TypeOrgCreated && e.Type != billing.TypeMemberAdded {
			out = append(out, e)
		}
	}
	return out
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

func appActor(u ports.User) application.Actor { return application.Actor{UserID: u.ID} }

func applicationCursor(v int64) string { return application.EncodeCursor(v) }
