package httpapi_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/safeclose/billing/adapters/stripe"
	"github.com/safeclose/billing/adapters/stripe/stripemock"
	"github.com/safeclose/billing/domain/billing"
)

// browser starts headless Chromium (Debian's, installed by make test).
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium not found (make test installs Debian's chromium): %v", err)
	}
	// Not t.TempDir: Chromium's helpers may still write to the profile
	// while the test's cleanup removes it, which would fail the test.
	profile, err := os.MkdirTemp("", "chromium-profile")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile), chromedp.WindowSize(1100, 900))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 30*time.Second)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA(); _ = os.RemoveAll(profile) })
	return ctx
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	// A page the test just saw reload itself may still be laying out
	// (Chromium then refuses a screenshot "with 0 width").
	if !eventually(ctx, 10*time.Second, `document.readyState === "complete" && document.documentElement.scrollWidth > 0`) {
		t.Fatalf("%s: the page never finished loading", name)
	}
	var png []byte
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		t.Fatal(err)
	}
	save(t, name, png)
}

// screenshotView is [screenshot] of the window only: a modal dialog's
// backdrop covers the window, not the whole page.
func screenshotView(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	var png []byte
	if err := chromedp.Run(ctx, chromedp.CaptureScreenshot(&png)); err != nil {
		t.Fatal(err)
	}
	save(t, name, png)
}

// save writes png to docs/name under UPDATE_SCREENSHOTS=1.
func save(t *testing.T, name string, png []byte) {
	t.Helper()
	if os.Getenv("UPDATE_SCREENSHOTS") == "" {
		return
	}
	dir := filepath.Join("..", "..", "docs")
	_ = os.MkdirAll(dir, 0o755)
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	var s string
	if err := chromedp.Run(ctx, chromedp.Text(sel, &s, chromedp.ByQuery)); err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func count(t *testing.T, ctx context.Context, sel string) int {
	t.Helper()
	var n int
	if err := chromedp.Run(ctx, chromedp.Evaluate(`document.querySelectorAll(`+jsString(sel)+`).length`, &n)); err != nil {
		t.Fatal(err)
	}
	return n
}

// eventually evaluates cond until it is true; the page may reload meanwhile.
func eventually(ctx context.Context, within time.Duration, cond string) bool {
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var ok bool
		if err := chromedp.Run(ctx, chromedp.Evaluate(cond, &ok)); err == nil && ok {
			return true
		}
	}
	return false
}

func jsString(s string) string { b, _ := json.Marshal(s); return string(b) }

func login(t *testing.T, ctx context.Context, base, next, email string) {
	t.Helper()
	err := chromedp.Run(ctx,
		chromedp.Navigate(base+next),
		chromedp.WaitVisible("#login-form", chromedp.ByQuery),
		chromedp.SendKeys("#email", email, chromedp.ByQuery),
		chromedp.SendKeys("#password", "correct horse", chromedp.ByQuery),
		chromedp.Click(`#login-form button[type="submit"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#plan-tier", chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("log in as %s: %v", email, err)
	}
}

// servePage serves a harness over real HTTP on a free loopback port, so
// that a browser can load its pages; the app's base URL is that address.
func servePage(t *testing.T, opt options) (*harness, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opt.baseURL = "http://" + ln.Addr().String()
	h := newHarness(t, opt)
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: h.handler}}
	srv.Start()
	t.Cleanup(srv.Close)
	return h, opt.baseURL
}

func TestBillingPageInABrowser(t *testing.T) {
	h, base := servePage(t, options{})

	org, owner, plain := h.acme()
	billingPage := "/orgs/" + org + "/billing"

	b := browser(t)
	var mu sync.Mutex
	var navigations []string
	// Stripe's hosted page is unreachable from here: Chromium commits an
	// error page whose unreachableUrl is where the page sent the browser.
	chromedp.ListenTarget(b, func(ev any) {
		if e, ok := ev.(*page.EventFrameNavigated); ok {
			mu.Lock()
			navigations = append(navigations, e.Frame.URL, e.Frame.UnreachableURL)
			mu.Unlock()
		}
	})
	// Not logged in: to the login page, and back after.
	login(t, b, base, billingPage, owner.Email)
	if got := text(t, b, "#plan-tier"); got != "FREE" {
		t.Fatalf("plan %q, want FREE", got)
	}
	if n := count(t, b, "h1"); n != 1 {
		t.Errorf("%d h1", n)
	}
	if n := count(t, b, "[data-checkout]"); n != 3 {
		t.Errorf("%d Upgrade buttons, want 3", n)
	}
	// The plans with Stripe's prices (stripe-mock: 20.00 USD a month).
	for sel, want := range map[string]string{"#price-FREE": "No charge", "#price-STARTER": "$20.00 per month", "#price-PRO": "$20.00 per month"} {
		if got := text(t, b, sel); got != want {
			t.Errorf("%s: %q, want %q", sel, got, want)
		}
	}
	screenshot(t, b, "billing-free.png")

	// Upgrade to PRO: the browser goes where the checkout endpoint says.
	want := func() string {
		rec := h.do("POST", "/api/billing/checkout-session", h.session(owner), map[string]string{"orgId": org, "planTier": "PRO"})
		var out struct{ URL string }
		_ = json.Unmarshal(rec.Body.Bytes(), &out)
		return out.URL
	}()
	if err := chromedp.Run(b, chromedp.Click(`[data-checkout="PRO"]`, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	arrived := false
	for !arrived && time.Now().Before(deadline) {
		mu.Lock()
		for _, u := range navigations {
			arrived = arrived || u == want
		}
		mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	if !arrived || want == "" {
		t.Fatalf("browser did not go to %q; navigations %v", want, navigations)
	}

	// Back from Checkout: confirming, then PRO once the webhook lands.
	if err := chromedp.Run(b, chromedp.Navigate(base+billingPage+"?checkout=success"), chromedp.WaitVisible("#confirming", chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	screenshot(t, b, "billing-confirming.png")
	spec := stripe.SubscriptionSpec{OrgID: org, CustomerID: "cus_page", SubscriptionID: "sub_page", Tier: billing.TierPro, CurrentPeriodEnd: time.Now().AddDate(0, 1, 0)}
	mustOK(t, h.deliver(h.factory.Event("evt_page_1", "checkout.session.completed", time.Now().Add(-2*time.Second), h.factory.CheckoutSession("cs_page", spec))), "checkout")
	mustOK(t, h.deliver(h.factory.Event("evt_page_2", "invoice.paid", time.Now().Add(-2*time.Second), h.factory.Invoice(spec, stripe.InvoiceSpec{InvoiceID: "in_page_1", Number: "ACME-0001", Amount: 4900, Paid: true, AttemptCount: 1}))), "paid")
	if !eventually(b, 15*time.Second, `!!document.querySelector("#plan-tier") && document.querySelector("#plan-tier").textContent.trim() === "PRO" && !document.querySelector("#confirming")`) {
		t.Fatal("the page never showed PRO")
	}
	if n := count(t, b, "[data-checkout]"); n != 0 {
		t.Errorf("%d Upgrade buttons with a live subscription", n)
	}
	if n := count(t, b, "#manage"); n != 1 {
		t.Error("no Manage billing button once a customer is linked")
	}
	// Back after cancel: a plain notice.
	if err := chromedp.Run(b, chromedp.Navigate(base+billingPage+"?checkout=canceled"), chromedp.WaitVisible("#checkout-canceled", chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}

	// past_due: the banner with Update payment method.
	mustOK(t, h.deliver(h.factory.Event("evt_page_3", "invoice.payment_failed", time.Now(), h.factory.Invoice(spec, stripe.InvoiceSpec{InvoiceID: "in_page_2", Number: "ACME-0002", Amount: 4900, AttemptCount: 1}))), "failed")
	if err := chromedp.Run(b, chromedp.Navigate(base+billingPage), chromedp.WaitVisible("#past-due", chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text(t, b, "#past-due"), "Update payment method") {
		t.Error("past_due banner has no Update payment method button")
	}
	// History lists the events, readable, with invoice links.
	hist := text(t, b, "#history")
	for _, want := range []string{"Plan activated", "Invoice paid", "ACME-0001", "49.00 USD", "Payment failed", "ACME-0002", "Checkout started", "owner@example.com", "Stripe"} {
		if !strings.Contains(hist, want) {
			t.Errorf("history lacks %q:\n%s", want, hist)
		}
	}
	if n := count(t, b, `#history a[href$="/pdf"]`); n != 2 {
		t.Errorf("%d PDF links, want 2", n)
	}
	screenshot(t, b, "billing-past-due.png")

	// A member without billing: the plan, no buttons, no history.
	if err := chromedp.Run(b, chromedp.Click("#logout", chromedp.ByQuery), chromedp.WaitVisible("#login-form", chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	login(t, b, base, billingPage, plain.Email)
	if got := text(t, b, "#plan-tier"); got != "PRO" {
		t.Errorf("viewer sees %q", got)
	}
	if n := count(t, b, "[data-checkout], [data-portal]"); n != 0 {
		t.Errorf("viewer sees %d billing buttons", n)
	}
	if n := count(t, b, "#history"); n != 0 {
		t.Error("viewer without audit sees the history")
	}
	screenshot(t, b, "billing-viewer.png")

	// A foreign org: no access, no details.
	if err := chromedp.Run(b, chromedp.Navigate(base+"/orgs/org_nope/billing"), chromedp.WaitVisible("h1", chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	if got := text(t, b, "h1"); got != "No access" {
		t.Errorf("foreign org page: %q", got)
	}
}

// click clicks the element sel and fails the test if it cannot.
func click(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	if err := chromedp.Run(ctx, chromedp.Click(sel, chromedp.ByQuery)); err != nil {
		t.Fatalf("click %s: %v", sel, err)
	}
}

// waitFor fails the test unless cond becomes true within 10 s.
func waitFor(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	if !eventually(ctx, 10*time.Second, cond) {
		t.Fatalf("never: %s (%s)", what, cond)
	}
}

// An org on PRO switches to ENTERPRISE after a preview in a dialog, cancels
// and resumes, all in the page; a member without billing sees the prices
// and none of the buttons. Stripe is the stateful fake (it serves the
// upcoming invoice stripe-mock does not, and applies the updates); the
// prices are stripe-mock's.
func TestBillingPagePlanChangesInABrowser(t *testing.T) {
	h, base := servePage(t, options{paymentsBase: "fake", pricesBase: stripemock.URL(t)})

	org, owner, plain := h.acme()
	billingPage := "/orgs/" + org + "/billing"
	spec := stripe.SubscriptionSpec{OrgID: org, CustomerID: "cus_switch", SubscriptionID: "sub_switch", Tier: billing.TierPro,
		CurrentPeriodEnd: time.Now().AddDate(0, 1, 0).Truncate(time.Second)}
	h.fake.SetSubscription(spec)
	mustOK(t, h.deliver(h.factory.Event("evt_switch_1", "checkout.session.completed", time.Now().Add(-2*time.Second), h.factory.CheckoutSession("cs_switch", spec))), "checkout")

	// Without JavaScript the page reads the same; the buttons that need the
	// script are hidden, and there is no inline script (the CSP forbids it).
	rec := h.do("GET", billingPage, "", nil, "Cookie", "sc_test="+h.session(owner))
	html := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(rec.Header().Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("page: %d, CSP %q", rec.Code, rec.Header().Get("Content-Security-Policy"))
	}
	for _, sel := range []string{`data-switch="ENTERPRISE"`, `data-switch="STARTER"`, `id="cancel-plan"`} {
		if !regexp.MustCompile(`<button [^>]*` + regexp.QuoteMeta(sel) + `[^>]* hidden>`).MatchString(html) {
			t.Errorf("%s is not hidden without JavaScript", sel)
		}
	}
	if n := len(regexp.MustCompile(`<script(?:\s[^>]*)?>`).FindAllString(html, -1)); n != 1 || !strings.Contains(html, `<script src="/assets/app.js" defer></script>`) {
		t.Errorf("%d script elements; want only app.js", n)
	}

	b := browser(t)
	login(t, b, base, billingPage, owner.Email)
	if got := text(t, b, "#plan-tier"); got != "PRO" {
		t.Fatalf("plan %q, want PRO", got)
	}
	// The deferred script unhides them; on a loaded machine it may run a
	// moment after #plan-tier shows.
	eventually(b, 10*time.Second, `document.querySelectorAll("[data-switch]:not([hidden])").length === 2`)
	if n := count(t, b, "[data-switch]:not([hidden])"); n != 2 {
		t.Errorf("%d Switch buttons, want 2 (STARTER, ENTERPRISE)", n)
	}
	if n := count(t, b, `.plan.current [data-switch], [data-switch="FREE"], [data-checkout]`); n != 0 {
		t.Errorf("%d Switch or Upgrade buttons on the current or free plan", n)
	}

	// A preview in yen: no minor units. Escape closes the dialog and focus
	// returns to the button.
	h.fake.SetUpcomingInvoice(spec, stripe.InvoiceSpec{InvoiceID: "in_upcoming_jpy", Amount: 4900, Currency: "jpy"})
	click(t, b, `[data-switch="STARTER"]`)
	waitFor(t, b, "the dialog opens with focus inside", `document.getElementById("switch-dialog").open && document.getElementById("switch-dialog").contains(document.activeElement)`)
	waitFor(t, b, "the yen amount", `!!document.querySelector("#switch-amount") && document.querySelector("#switch-amount").textContent === "¥4,900"`)
	if err := chromedp.Run(b, chromedp.KeyEvent(kb.Escape)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, "Escape closes, focus back on Switch", `!document.getElementById("switch-dialog").open && document.activeElement.dataset.switch === "STARTER"`)

	// Cancel, then another Switch at once: the close event of the first
	// dialog comes after the second opened (a task of its own), and must
	// not drop the second's preview.
	click(t, b, `[data-switch="STARTER"]`)
	waitFor(t, b, "the yen amount again", `!!document.querySelector("#switch-amount")`)
	if err := chromedp.Run(b, chromedp.Evaluate(`document.getElementById("switch-cancel").click(); document.querySelector('[data-switch="STARTER"]').click()`, nil)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, "the preview of a dialog opened right after one was closed", `document.getElementById("switch-dialog").open && !!document.querySelector("#switch-amount") && !document.getElementById("switch-confirm").disabled`)
	click(t, b, "#switch-cancel")
	waitFor(t, b, "closed", `!document.getElementById("switch-dialog").open`)

	// Stripe down: the API's message in the dialog, and no Confirm.
	h.fake.Down.Store(true)
	var apiErr struct {
		Error struct{ Code, Message string }
	}
	down := h.do("POST", "/api/billing/subscription/preview", h.session(owner), map[string]string{"orgId": org, "planTier": "ENTERPRISE"})
	if err := json.Unmarshal(down.Body.Bytes(), &apiErr); err != nil || down.Code != 502 || apiErr.Error.Message == "" {
		t.Fatalf("preview while Stripe is down: %d %s", down.Code, down.Body)
	}
	click(t, b, `[data-switch="ENTERPRISE"]`)
	waitFor(t, b, "the API's message in the dialog", `document.getElementById("switch-error").textContent === `+jsString(apiErr.Error.Message))
	var disabled bool
	if err := chromedp.Run(b, chromedp.Evaluate(`document.getElementById("switch-confirm").disabled`, &disabled)); err != nil || !disabled {
		t.Errorf("Confirm enabled without a preview (%v)", err)
	}
	click(t, b, "#switch-cancel")
	h.fake.Down.Store(false)

	// The preview in dollars, then Confirm: the page shows ENTERPRISE.
	h.fake.SetUpcomingInvoice(spec, stripe.InvoiceSpec{InvoiceID: "in_upcoming", Amount: 2345})
	click(t, b, `[data-switch="ENTERPRISE"]`)
	waitFor(t, b, "the dollar amount", `!!document.querySelector("#switch-amount") && document.querySelector("#switch-amount").textContent === "$23.45"`)
	if got := text(t, b, "#switch-title"); got != "Switch to Enterprise" {
		t.Errorf("dialog heading %q", got)
	}
	if err := chromedp.Run(b, chromedp.Evaluate(`document.getElementById("switch-confirm").disabled`, &disabled)); err != nil || disabled {
		t.Errorf("Confirm disabled after the preview (%v)", err)
	}
	if lines := text(t, b, "#switch-lines tbody"); !strings.Contains(lines, "$10.00") {
		t.Errorf("invoice lines: %q", lines)
	}
	if got := text(t, b, "#switch-error"); got != "" {
		t.Errorf("error after a good preview: %q", got)
	}
	screenshotView(t, b, "billing-switch.png")
	click(t, b, "#switch-confirm")
	waitFor(t, b, "ENTERPRISE after the switch", `!!document.querySelector("#plan-tier") && document.querySelector("#plan-tier").textContent.trim() === "ENTERPRISE" && document.querySelector(".plan.current #plan-ENTERPRISE") !== null`)
	if st := h.billingStatus(org); st.PlanTier != "ENTERPRISE" {
		t.Errorf("status after the switch: %+v", st)
	}

	// Cancel plan, confirmed: "Plan ends on …" with Resume.
	waitFor(t, b, "Cancel plan shown", `!!document.querySelector("#cancel-plan") && !document.querySelector("#cancel-plan").hidden`)
	click(t, b, "#cancel-plan")
	waitFor(t, b, "the cancel dialog with focus inside", `document.getElementById("cancel-dialog").open && document.getElementById("cancel-dialog").contains(document.activeElement)`)
	click(t, b, "#cancel-confirm")
	waitFor(t, b, "Plan ends on", `!!document.querySelector("#plan-ends") && document.querySelector("#plan-ends").textContent.startsWith("Plan ends on ") && !!document.querySelector("#resume") && !document.querySelector("#cancel-plan")`)
	if got, want := text(t, b, "#plan-ends"), "Plan ends on "+spec.CurrentPeriodEnd.UTC().Format("2 January 2006"); got != want {
		t.Errorf("%q, want %q", got, want)
	}
	screenshot(t, b, "billing-canceling.png")
	click(t, b, "#resume")
	waitFor(t, b, "resumed", `!document.querySelector("#cancel-notice") && !!document.querySelector("#cancel-plan") && !document.querySelector("#cancel-plan").hidden`)
	if st := h.billingStatus(org); st.CancelAtPeriodEnd || st.PlanTier != "ENTERPRISE" {
		t.Errorf("status after resume: %+v", st)
	}
	hist := text(t, b, "#history")
	for _, want := range []string{"Plan changed", "From PRO to ENTERPRISE", "Plan canceled", "Cancellation withdrawn"} {
		if !strings.Contains(hist, want) {
			t.Errorf("history lacks %q:\n%s", want, hist)
		}
	}

	// A member without billing: the plans and prices, no buttons.
	click(t, b, "#logout")
	if err := chromedp.Run(b, chromedp.WaitVisible("#login-form", chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	login(t, b, base, billingPage, plain.Email)
	if got := text(t, b, "#price-STARTER"); got != "$20.00 per month" {
		t.Errorf("viewer sees STARTER at %q", got)
	}
	if n := count(t, b, "[data-switch], [data-cancel-plan], [data-resume], [data-checkout], [data-portal], dialog"); n != 0 {
		t.Errorf("viewer sees %d plan-change buttons or dialogs", n)
	}
}

// After logging in, the login page follows ?next= only on the app's own
// origin: a path the browser reads as another host sends it home instead.
func TestLoginNeverSendsTheBrowserOffSite(t *testing.T) {
	h, base := servePage(t, options{})
	u := h.user("owner@example.com")
	b := browser(t)
	for _, tc := range []struct{ next, wantPath string }{
		{`/%5Cevil.example`, "/"},                 // "/\evil.example"
		{`/%09/evil.example`, "/"},                // a tab the URL parser drops: "//evil.example"
		{`/\evil.example`, "/"},                   // the backslash as typed
		{`/.//evil.example/x`, "/evil.example/x"}, // on this origin: followed, as this origin's path
	} {
		err := chromedp.Run(b,
			chromedp.Navigate(base+"/login?next="+tc.next),
			chromedp.WaitVisible("#login-form", chromedp.ByQuery),
			chromedp.SendKeys("#email", u.Email, chromedp.ByQuery),
			chromedp.SendKeys("#password", "correct horse", chromedp.ByQuery),
			chromedp.Click(`#login-form button[type="submit"]`, chromedp.ByQuery),
		)
		if err != nil {
			t.Fatalf("log in with next=%s: %v", tc.next, err)
		}
		// The router answers "//x" by a redirect to "/x".
		cond := `window.location.origin === ` + jsString(base) + ` && window.location.pathname.replace(/^\/+/, "/") === ` + jsString(tc.wantPath)
		if !eventually(b, 10*time.Second, cond) {
			var at string
			_ = chromedp.Run(b, chromedp.Evaluate(`window.location.href`, &at))
			t.Errorf("next=%s: the browser is at %q, want %s%s", tc.next, at, base, tc.wantPath)
		}
	}
}
