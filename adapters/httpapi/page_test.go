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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/safeclose/billing/adapters/stripe"
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
	var png []byte
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		t.Fatal(err)
	}
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

func TestBillingPageInABrowser(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	h := newHarness(t, options{baseURL: base})
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: h.handler}}
	srv.Start()
	defer srv.Close()

	ctx := context.Background()
	owner, plain := h.user("owner@example.com"), h.user("viewer@example.com")
	org, err := h.svc.CreateOrg(ctx, appActor(owner), "Acme Corp", owner.Email)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.AddMember(ctx, appActor(owner), org, plain.Email, nil); err != nil {
		t.Fatal(err)
	}
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

// After logging in, the login page follows ?next= only on the app's own
// origin: a path the browser reads as another host sends it home instead.
func TestLoginNeverSendsTheBrowserOffSite(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	h := newHarness(t, options{baseURL: base})
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: h.handler}}
	srv.Start()
	defer srv.Close()
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
