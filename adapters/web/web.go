// Package web serves the billing page and the login page: server-rendered
// with html/template, assets embedded, no external resources. Reading works
// without JavaScript; the buttons use small progressive scripts.
package web

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gorilla/mux"
	"go.uber.org/zap"

	"github.com/safeclose/billing/adapters/httpapi/httperr"
	"github.com/safeclose/billing/application"
	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Pages serves /login and /orgs/{orgId}/billing.
type Pages struct {
	Log        *zap.Logger
	Identity   *application.Identity
	App        *application.Service
	CookieName string

	tpl *template.Template
}

// Routes adds the pages and their assets.
func (p *Pages) Routes(r *mux.Router) {
	p.tpl = template.Must(template.ParseFS(templateFS, "templates/*.html"))
	static, _ := fs.Sub(staticFS, "static")
	r.PathPrefix("/assets/").Handler(http.StripPrefix("/assets/", http.FileServer(http.FS(static)))).Methods(http.MethodGet)
	r.HandleFunc("/login", p.login).Methods(http.MethodGet)
	r.HandleFunc("/orgs/{orgId}/billing", p.billing).Methods(http.MethodGet)
}

func (p *Pages) render(w http.ResponseWriter, status int, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
	w.WriteHeader(status)
	if err := p.tpl.ExecuteTemplate(w, name, data); err != nil {
		p.Log.Error("render page", zap.String("page", name), zap.Error(err))
	}
}

func (p *Pages) user(r *http.Request) (ports.User, bool) {
	c, err := r.Cookie(p.CookieName)
	if err != nil {
		return ports.User{}, false
	}
	u, err := p.Identity.Authenticate(r.Context(), c.Value)
	return u, err == nil
}

func (p *Pages) login(w http.ResponseWriter, r *http.Request) {
	p.render(w, http.StatusOK, "login.html", map[string]any{"Title": "Log in"})
}

// planView is a plan card: Price is the amount for the currency ("$49.00",
// "¥4,900"), "No charge" for FREE or "Price unavailable" while Stripe's
// price cannot be read, and Per its interval ("per month").
type planView struct {
	Tier, Name, Description string
	Price, Per              string
	Unavailable             bool
	Features, Limits        []string
	TrialDays               int
	Paid, Current           bool
}

type historyRow struct {
	When, Event, Detail, Actor         string
	Invoice, Amount, HostedURL, PDFURL string
	Failed                             bool
}

// billingView is the billing page. CanChange (billing permission and a
// live subscription) offers Switch on the other paid plans and Cancel plan,
// or Resume once Canceling; Decimals is then the currency-decimals table
// (JSON) the script formats the preview's amounts with.
type billingView struct {
	Title, Email, OrgID, OrgName string
	Status                       ports.BillingStatus
	StatusLabel, PeriodEnd       string
	CanBill, CanReadHistory      bool
	HasCustomer, Live, PastDue   bool
	Confirming, Canceled         bool
	CanChange, Canceling         bool
	Decimals                     string
	Plans                        []planView
	History                      []historyRow
	NextCursor                   string
	Lifecycle                    lifecycleView
	Grace                        *graceView // in the grace period: its banner
	Seats                        *seatsView // no room for another member: the note
}

// plan is the card of an offer.
func plan(o application.PlanOffer, current string) planView {
	v := planView{Tier: string(o.Tier), Name: o.Name, Description: o.Description, Features: o.Features,
		TrialDays: o.TrialDays, Paid: o.Tier.Paid(), Current: string(o.Tier) == current}
	switch {
	case !o.Tier.Paid():
		v.Price = "No charge"
	case !o.Priced:
		v.Price, v.Unavailable = "Price unavailable", true
	default:
		v.Price = billing.FormatAmount(o.UnitAmount, o.Currency)
		switch {
		case o.Interval == "":
		case o.IntervalCount > 1:
			v.Per = fmt.Sprintf("every %d %ss", o.IntervalCount, o.Interval)
		default:
			v.Per = "per " + o.Interval
		}
	}
	for _, name := range slices.Sorted(maps.Keys(o.Limits)) {
		v.Limits = append(v.Limits, fmt.Sprintf("Up to %d %s", o.Limits[name], name))
	}
	return v
}

func (p *Pages) billing(w http.ResponseWriter, r *http.Request) {
	u, ok := p.user(r)
	if !ok {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.Path), http.StatusSeeOther)
		return
	}
	org := mux.Vars(r)["orgId"]
	ctx := r.Context()
	m, err := p.App.Authorize(ctx, u.ID, org)
	if err != nil {
		p.fail(w, r, u.Email, err)
		return
	}
	st, err := p.App.Status(ctx, u.ID, org)
	if err != nil {
		p.fail(w, r, u.Email, err)
		return
	}
	member := billing.Member{UserID: m.UserID, Email: m.Email, Role: m.Role, Permissions: m.Permissions}
	v := billingView{Title: "Billing · " + m.OrgName, Email: u.Email, OrgID: org, OrgName: m.OrgName, Status: st,
		StatusLabel: statusLabel(st.Status), CanBill: member.Has(billing.PermBilling),
		CanReadHistory: member.Has(billing.PermBilling) || member.Has(billing.PermAudit),
		HasCustomer:    st.StripeCustomerID != "", Live: billing.Status(st.Status).Live(), PastDue: st.Status == string(billing.StatusPastDue),
		Confirming: r.URL.Query().Get("checkout") == "success" && !billing.Status(st.Status).Live(),
		Canceled:   r.URL.Query().Get("checkout") == "canceled"}
	v.CanChange, v.Canceling = v.CanBill && v.Live, st.CancelAtPeriodEnd
	if v.CanChange {
		table, err := json.Marshal(billing.CurrencyDecimalExceptions())
		if err != nil {
			p.fail(w, r, u.Email, err)
			return
		}
		v.Decimals = string(table)
	}
	if !st.CurrentPeriodEnd.IsZero() {
		v.PeriodEnd = st.CurrentPeriodEnd.UTC().Format("2 January 2006")
	}
	offers, err := p.App.Plans(ctx)
	if err != nil {
		p.fail(w, r, u.Email, err)
		return
	}
	for _, o := range offers {
		v.Plans = append(v.Plans, plan(o, st.PlanTier))
	}
	if err := p.lifecycle(ctx, u.ID, r.URL.Query(), &v); err != nil {
		p.fail(w, r, u.Email, err)
		return
	}
	if err := p.entitlements(ctx, u.ID, org, &v); err != nil {
		p.fail(w, r, u.Email, err)
		return
	}
	if v.CanReadHistory {
		if err := p.history(ctx, u.ID, org, r.URL.Query().Get("after"), &v); err != nil {
			p.fail(w, r, u.Email, err)
			return
		}
	}
	p.render(w, http.StatusOK, "billing.html", v)
}

// fail answers err with a page for the user with email: its status and
// message are the API's for the same error ([httperr.Answer], which logs a
// 5xx once); a 403 (a foreign or unknown org) is the no-access page.
func (p *Pages) fail(w http.ResponseWriter, r *http.Request, email string, err error) {
	a := httperr.Answer(p.Log, r, err)
	if a.Status == http.StatusForbidden {
		p.render(w, a.Status, "denied.html", map[string]any{"Title": "No access", "Email": email})
		return
	}
	p.render(w, a.Status, "error.html", map[string]any{"Title": http.StatusText(a.Status), "Email": email, "Message": a.Message})
}

// history renders one page of the ledger, newest first within the page
// order the API gives (oldest first), as the auditor reads it.
func (p *Pages) history(ctx context.Context, userID, org, after string, v *billingView) error {
	q := ports.HistoryQuery{OrgID: org, Limit: 25}
	if after != "" {
		n, err := application.DecodeCursor(after)
		if err == nil {
			q.AfterVersion = n
		}
	}
	page, err := p.App.History(ctx, userID, q)
	if err != nil {
		return err
	}
	emails := map[string]string{}
	if members, err := p.App.Members(ctx, userID, org); err == nil {
		for _, m := range members {
			emails[m.UserID] = m.Email
		}
	}
	for _, e := range page.Events {
		v.History = append(v.History, row(e, emails))
	}
	v.NextCursor = page.NextCursor
	return nil
}

// eventName names an event type for people; "" for a type it does not
// know.
func eventName(eventType string) string {
	switch eventType {
	case billing.TypeOrgCreated:
		return "Organization created"
	case billing.TypeMemberAdded:
		return "Member added"
	case billing.TypeMemberPermissionsChanged:
		return "Permissions changed"
	case billing.TypeMemberRemoved:
		return "Member removed"
	case billing.TypeCheckoutStarted:
		return "Checkout started"
	case billing.TypePortalOpened:
		return "Customer Portal opened"
	case billing.TypePlanActivated:
		return "Plan activated"
	case billing.TypeSubscriptionRefreshed:
		return "Subscription updated"
	case billing.TypeSubscriptionCanceled:
		return "Subscription canceled"
	case billing.TypePaymentSucceeded:
		return "Invoice paid"
	case billing.TypePaymentFailed:
		return "Payment failed"
	case billing.TypeSubscriptionSynced:
		return "Synced from Stripe"
	case billing.TypePlanChangeRequested:
		return "Plan changed"
	case billing.TypeCancellationRequested:
		return "Plan canceled"
	case billing.TypeCancellationWithdrawn:
		return "Cancellation withdrawn"
	case billing.TypeTrialWillEnd:
		return "Trial ending"
	case billing.TypeSubscriptionPaused:
		return "Subscription paused"
	case billing.TypeSubscriptionResumed:
		return "Subscription resumed"
	case billing.TypePaymentActionRequired:
		return "Payment needs confirmation"
	case billing.TypeCheckoutExpired:
		return "Checkout expired"
	case billing.TypeAsyncPaymentSucceeded:
		return "Checkout payment settled"
	case billing.TypeAsyncPaymentFailed:
		return "Checkout payment failed"
	}
	return ""
}

func row(e ports.StoredEvent, emails map[string]string) historyRow {
	r := historyRow{When: e.OccurredAt.UTC().Format("2 Jan 2006 15:04"), Event: eventName(e.Type), Actor: actorLabel(e.Metadata.Actor, emails)}
	if r.Event == "" {
		r.Event = e.Type
	}
	c, err := billing.DecodeChange(e.Type, e.SchemaVersion, e.Data)
	if err != nil {
		return r
	}
	switch c := c.(type) {
	case billing.PaymentSucceeded:
		r.Invoice, r.Amount, r.HostedURL, r.PDFURL = invoiceName(c.Invoice), money(c.AmountPaid, c.Currency), c.HostedInvoiceURL, c.InvoicePDF
	case billing.PaymentFailed:
		r.Invoice, r.Amount, r.HostedURL, r.PDFURL, r.Failed = invoiceName(c.Invoice), money(c.AmountDue, c.Currency), c.HostedInvoiceURL, c.InvoicePDF, true
	case billing.PlanActivated:
		r.Detail = "Plan " + string(c.Tier)
	case billing.CheckoutStarted:
		r.Detail = "For plan " + string(c.Tier)
	case billing.SubscriptionRefreshed:
		r.Detail = fmt.Sprintf("%s, %s", statusLabel(string(c.Status)), tierOr(c.Tier))
		if c.CancelAtPeriodEnd {
			r.Detail += ", cancels at period end"
		}
	case billing.SubscriptionSynced:
		r.Detail = fmt.Sprintf("%s, %s", statusLabel(string(c.Status)), tierOr(c.Tier))
	case billing.SubscriptionCanceled:
		r.Detail = "Back to the Free plan"
	case billing.PlanChangeRequested:
		r.Detail = fmt.Sprintf("From %s to %s", c.FromTier, c.Tier)
	case billing.CancellationRequested:
		r.Detail = "Ends at the end of the period"
		if !c.CurrentPeriodEnd.IsZero() {
			r.Detail = "Ends on " + c.CurrentPeriodEnd.UTC().Format("2 January 2006")
		}
	case billing.CancellationWithdrawn:
		r.Detail = "The plan renews"
	case billing.TrialWillEnd:
		if !c.TrialEnd.IsZero() {
			r.Detail = "Ends on " + c.TrialEnd.UTC().Format("2 January 2006")
		}
	case billing.SubscriptionPaused:
		r.Detail = tierOr(c.Tier)
	case billing.SubscriptionResumed:
		r.Detail = fmt.Sprintf("%s, %s", statusLabel(string(c.Status)), tierOr(c.Tier))
	case billing.PaymentActionRequired:
		r.Detail = fmt.Sprintf("Invoice %s · %s · waiting for the customer", invoiceName(c.Invoice), money(c.AmountDue, c.Currency))
	case billing.AsyncPaymentSucceeded:
		r.Detail = "Paid, " + tierOr(c.Tier)
	case billing.AsyncPaymentFailed:
		r.Detail = "Not paid, " + tierOr(c.Tier)
	case billing.MemberAdded:
		r.Detail = fmt.Sprintf("%s as %s (%s)", c.Email, c.Role, permList(c.Permissions))
	case billing.MemberPermissionsChanged:
		r.Detail = fmt.Sprintf("%s: %s", orID(emails, c.UserID), permList(c.Permissions))
	case billing.MemberRemoved:
		r.Detail = orID(emails, c.UserID)
	case billing.OrgCreated:
		r.Detail = c.Name
	}
	return r
}

func permList(perms []string) string {
	if len(perms) == 0 {
		return "no permissions"
	}
	return strings.Join(perms, ", ")
}

func tierOr(t billing.Tier) string {
	if t == "" {
		return "plan unchanged"
	}
	return "plan " + string(t)
}

func invoiceName(in billing.Invoice) string {
	if in.Number != "" {
		return in.Number
	}
	return in.InvoiceID
}

func orID(emails map[string]string, id string) string {
	if e := emails[id]; e != "" {
		return e
	}
	return id
}

func actorLabel(actor string, emails map[string]string) string {
	switch {
	case actor == "stripe":
		return "Stripe"
	case strings.HasPrefix(actor, "user:"):
		return orID(emails, strings.TrimPrefix(actor, "user:"))
	case strings.HasPrefix(actor, "system:"):
		return "Safeclose (" + strings.ReplaceAll(strings.TrimPrefix(actor, "system:"), "_", " ") + ")"
	}
	return actor
}

// money formats minor units for the history, in the currency's decimals:
// 4900 usd → "49.00 USD", 4900 jpy → "4900 JPY".
func money(amount int64, currency string) string {
	cur := strings.ToUpper(currency)
	d := billing.CurrencyDecimals(currency)
	if d == 0 {
		return fmt.Sprintf("%d %s", amount, cur)
	}
	sign := ""
	if amount < 0 {
		sign, amount = "-", -amount
	}
	unit := int64(1)
	for range d {
		unit *= 10
	}
	return fmt.Sprintf("%s%d.%0*d %s", sign, amount/unit, d, amount%unit, cur)
}

func statusLabel(s string) string {
	switch s {
	case "none":
		return "No subscription"
	case "past_due":
		return "Past due"
	case "incomplete_expired":
		return "Incomplete (expired)"
	}
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + strings.ReplaceAll(s[1:], "_", " ")
}
