package httpapi

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"go.uber.org/zap"

	"github.com/safeclose/billing/adapters/httpapi/httperr"
	"github.com/safeclose/billing/application"
	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// API serves the identity, organization and billing routes.
type API struct {
	Log        *zap.Logger
	Identity   *application.Identity
	App        *application.Service
	CookieName string
	BaseURL    string // the app's public origin; its scheme decides Secure cookies
}

type userKey struct{}

func currentUser(ctx context.Context) ports.User {
	u, _ := ctx.Value(userKey{}).(ports.User)
	return u
}

// Routes adds the API's routes. They are called with the session cookie,
// so they belong in [Deps.Routes], behind the same-origin check.
func (a *API) Routes(r *mux.Router) {
	api := r.PathPrefix("/api").Subrouter()
	api.HandleFunc("/auth/login", a.login).Methods(http.MethodPost)
	authed := api.NewRoute().Subrouter()
	authed.Use(a.authenticate)
	authed.HandleFunc("/auth/logout", a.logout).Methods(http.MethodPost)
	authed.HandleFunc("/me", a.me).Methods(http.MethodGet)
	authed.HandleFunc("/orgs", a.createOrg).Methods(http.MethodPost)
	authed.HandleFunc("/orgs/{orgId}/members", a.members).Methods(http.MethodGet)
	authed.HandleFunc("/orgs/{orgId}/members", a.addMember).Methods(http.MethodPost)
	authed.HandleFunc("/orgs/{orgId}/members/{userId}/permissions", a.setPermissions).Methods(http.MethodPut)
	authed.HandleFunc("/orgs/{orgId}/members/{userId}", a.removeMember).Methods(http.MethodDelete)
	authed.HandleFunc("/billing/checkout-session", a.checkout).Methods(http.MethodPost)
	authed.HandleFunc("/billing/portal", a.portal).Methods(http.MethodPost)
	authed.HandleFunc("/billing/subscription/preview", a.previewChange).Methods(http.MethodPost)
	authed.HandleFunc("/billing/subscription/change", a.changePlan).Methods(http.MethodPost)
	authed.HandleFunc("/billing/subscription/cancel", a.cancelSubscription).Methods(http.MethodPost)
	authed.HandleFunc("/billing/subscription/resume", a.resumeSubscription).Methods(http.MethodPost)
	authed.HandleFunc("/billing/status", a.status).Methods(http.MethodGet)
	authed.HandleFunc("/billing/entitlements", a.entitlements).Methods(http.MethodGet)
	authed.HandleFunc("/billing/events", a.events).Methods(http.MethodGet)
	authed.HandleFunc("/billing/plans", a.plans).Methods(http.MethodGet)
}

// fail answers err in the contract's shape (see [httperr.Write]).
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	httperr.Write(w, r, a.Log, err)
}

// token reads the session token: Authorization: Bearer, else the cookie.
func (a *API) token(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if t, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(t)
		}
		return ""
	}
	if c, err := r.Cookie(a.CookieName); err == nil {
		return c.Value
	}
	return ""
}

func (a *API) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, err := a.Identity.Authenticate(r.Context(), a.token(r))
		if err != nil {
			a.fail(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, u)))
	})
}

func (a *API) actor(r *http.Request) application.Actor {
	return application.Actor{UserID: currentUser(r.Context()).ID, RequestID: httperr.RequestID(r.Context())}
}

func (a *API) login(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if err := decode(w, r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	if err := required([2]string{"email", in.Email}, [2]string{"password", in.Password}); err != nil {
		a.fail(w, r, err)
		return
	}
	// The application limits failed attempts per email and per client
	// address (the TCP peer, or the client a trusted proxy names).
	client := ClientAddr(r.Context())
	if !client.IsValid() {
		client = parseAddr(r.RemoteAddr) // served without NewRouter
	}
	token, err := a.Identity.Login(r.Context(), in.Email, in.Password, client)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: a.CookieName, Value: token, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: strings.HasPrefix(a.BaseURL, "https://"), MaxAge: int(application.SessionMaxAge.Seconds())})
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) logout(w http.ResponseWriter, r *http.Request) {
	if err := a.Identity.Logout(r.Context(), a.token(r)); err != nil {
		a.fail(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: a.CookieName, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: strings.HasPrefix(a.BaseURL, "https://"), MaxAge: -1})
	w.WriteHeader(http.StatusNoContent)
}

type orgJSON struct {
	OrgID       string   `json:"orgId"`
	Name        string   `json:"name"`
	Role        string   `json:"role"`
	Permissions []string `json:"permissions"`
}

func (a *API) me(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	ms, err := a.App.OrgsOf(r.Context(), u.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	orgs := make([]orgJSON, len(ms))
	for i, m := range ms {
		orgs[i] = orgJSON{OrgID: m.OrgID, Name: m.OrgName, Role: m.Role, Permissions: m.Permissions}
	}
	writeJSON(w, http.StatusOK, map[string]any{"userId": u.ID, "email": u.Email, "orgs": orgs})
}

func (a *API) createOrg(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name string `json:"name"`
	}
	if err := decode(w, r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	if err := required([2]string{"name", in.Name}); err != nil {
		a.fail(w, r, err)
		return
	}
	org, err := a.App.CreateOrg(r.Context(), a.actor(r), in.Name, currentUser(r.Context()).Email)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"orgId": org, "name": strings.TrimSpace(in.Name)})
}

type memberJSON struct {
	UserID      string   `json:"userId"`
	Email       string   `json:"email"`
	Role        string   `json:"role"`
	Permissions []string `json:"permissions"`
}

func toMember(m ports.Membership) memberJSON {
	return memberJSON{UserID: m.UserID, Email: m.Email, Role: m.Role, Permissions: m.Permissions}
}

func (a *API) members(w http.ResponseWriter, r *http.Request) {
	ms, err := a.App.Members(r.Context(), currentUser(r.Context()).ID, mux.Vars(r)["orgId"])
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]memberJSON, len(ms))
	for i, m := range ms {
		out[i] = toMember(m)
	}
	writeJSON(w, http.StatusOK, map[string]any{"members": out})
}

func (a *API) addMember(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email       string    `json:"email"`
		Permissions *[]string `json:"permissions"`
	}
	if err := decode(w, r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	if err := required([2]string{"email", in.Email}); err != nil {
		a.fail(w, r, err)
		return
	}
	perms := []string{}
	if in.Permissions != nil {
		perms = *in.Permissions
	}
	m, err := a.App.AddMember(r.Context(), a.actor(r), mux.Vars(r)["orgId"], in.Email, perms)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toMember(m))
}

func (a *API) setPermissions(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Permissions *[]string `json:"permissions"`
	}
	if err := decode(w, r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	if in.Permissions == nil {
		a.fail(w, r, httperr.New(http.StatusBadRequest, "invalid_request", "Field %q is required.", "permissions"))
		return
	}
	v := mux.Vars(r)
	m, err := a.App.SetPermissions(r.Context(), a.actor(r), v["orgId"], v["userId"], *in.Permissions)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toMember(m))
}

func (a *API) removeMember(w http.ResponseWriter, r *http.Request) {
	v := mux.Vars(r)
	if err := a.App.RemoveMember(r.Context(), a.actor(r), v["orgId"], v["userId"]); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) checkout(w http.ResponseWriter, r *http.Request) {
	var in struct {
		OrgID    string `json:"orgId"`
		PlanTier string `json:"planTier"`
	}
	if err := decode(w, r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	if err := required([2]string{"orgId", in.OrgID}, [2]string{"planTier", in.PlanTier}); err != nil {
		a.fail(w, r, err)
		return
	}
	if _, err := billing.ParsePaidTier(in.PlanTier); err != nil {
		a.fail(w, r, httperr.New(http.StatusBadRequest, "invalid_request", "Field %q must be STARTER, PRO or ENTERPRISE.", "planTier"))
		return
	}
	u, err := a.App.StartCheckout(r.Context(), a.actor(r), in.OrgID, in.PlanTier)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"url": u})
}

func (a *API) portal(w http.ResponseWriter, r *http.Request) {
	var in struct {
		OrgID string `json:"orgId"`
	}
	if err := decode(w, r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	if err := required([2]string{"orgId", in.OrgID}); err != nil {
		a.fail(w, r, err)
		return
	}
	u, err := a.App.OpenPortal(r.Context(), a.actor(r), in.OrgID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"url": u})
}

type statusJSON struct {
	OrgID                string  `json:"orgId"`
	PlanTier             string  `json:"planTier"`
	Status               string  `json:"status"`
	CurrentPeriodEnd     *string `json:"currentPeriodEnd"`
	CancelAtPeriodEnd    bool    `json:"cancelAtPeriodEnd"`
	StripeCustomerID     *string `json:"stripeCustomerId"`
	StripeSubscriptionID *string `json:"stripeSubscriptionId"`
	LedgerVersion        int64   `json:"ledgerVersion"`
	// TrialEnd: while trialing; PaymentActionURL: while an invoice waits
	// for the customer (3-D Secure). Null otherwise.
	TrialEnd         *string `json:"trialEnd"`
	PaymentActionURL *string `json:"paymentActionUrl"`
	UpdatedAt        string  `json:"updatedAt"`
}

func toStatus(s ports.BillingStatus) statusJSON {
	out := statusJSON{OrgID: s.OrgID, PlanTier: s.PlanTier, Status: s.Status, CancelAtPeriodEnd: s.CancelAtPeriodEnd,
		LedgerVersion: s.LedgerVersion, UpdatedAt: s.UpdatedAt.UTC().Format(time.RFC3339)}
	if !s.CurrentPeriodEnd.IsZero() {
		t := s.CurrentPeriodEnd.UTC().Format(time.RFC3339)
		out.CurrentPeriodEnd = &t
	}
	if s.StripeCustomerID != "" {
		out.StripeCustomerID = &s.StripeCustomerID
	}
	if s.StripeSubscriptionID != "" {
		out.StripeSubscriptionID = &s.StripeSubscriptionID
	}
	if !s.TrialEnd.IsZero() {
		t := s.TrialEnd.UTC().Format(time.RFC3339)
		out.TrialEnd = &t
	}
	if s.PaymentActionURL != "" {
		out.PaymentActionURL = &s.PaymentActionURL
	}
	return out
}

func (a *API) status(w http.ResponseWriter, r *http.Request) {
	org := r.URL.Query().Get("orgId")
	if org == "" {
		a.fail(w, r, httperr.New(http.StatusBadRequest, "invalid_request", "Query parameter %q is required.", "orgId"))
		return
	}
	q := r.URL.Query()
	var (
		bounds [2]time.Time
		st     ports.BillingStatus
		err    error
	)
	for i, name := range []string{"asOf", "knownAt"} {
		if v := q.Get(name); v != "" {
			if bounds[i], err = time.Parse(time.RFC3339Nano, v); err != nil {
				a.fail(w, r, httperr.New(http.StatusBadRequest, "invalid_request", "Query parameter %q must be an RFC 3339 time.", name))
				return
			}
		}
	}
	if bounds[0].IsZero() && bounds[1].IsZero() {
		st, err = a.App.Status(r.Context(), currentUser(r.Context()).ID, org)
	} else {
		st, err = a.App.StatusAt(r.Context(), currentUser(r.Context()).ID, org, bounds[0], bounds[1])
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toStatus(st))
}
