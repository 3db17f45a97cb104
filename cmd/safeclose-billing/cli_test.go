package main_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/safeclose/billing/adapters/postgres/pgtest"
	"github.com/safeclose/billing/adapters/stripe"
	"github.com/safeclose/billing/adapters/stripe/stripefake"
	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/migrations"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "safeclose-cli")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "safeclose-billing")
	build := []string{"build", "-o", binary}
	if os.Getenv("BENCH_CPUPROFILE") != "" {
		// BenchmarkServeUnderLoad's opt-in CPU profile of the served
		// binary (benchprofile.go).
		build = append(build, "-tags", "benchprofile")
	}
	if out, err := exec.Command("go", append(build, ".")...).CombinedOutput(); err != nil {
		panic(string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testPrices are the price ids the tests' service is configured with
// (serviceEnv) and their fake Stripe knows.
func testPrices() stripe.Prices {
	return stripe.Prices{billing.TierStarter: "price_s", billing.TierPro: "price_p", billing.TierEnterprise: "price_e"}
}

// fakeStripe is a stateful fake of the Stripe API for testPrices, closed
// when the test ends, and the factory of its payloads.
func fakeStripe(t testing.TB) (*stripe.Factory, *stripefake.Server) {
	t.Helper()
	factory, err := stripe.NewFactory(testPrices())
	if err != nil {
		t.Fatal(err)
	}
	fake := stripefake.New(factory)
	t.Cleanup(fake.Close)
	return factory, fake
}

// serviceEnv is the environment of the binary on databaseURL, serving at
// addr, with the Stripe API at stripeAPI, webhooks signed with secret and
// testPrices; more is appended.
func serviceEnv(databaseURL, addr, stripeAPI, secret, logLevel string, more ...string) []string {
	return append([]string{"PATH=" + os.Getenv("PATH"), "DATABASE_URL=" + databaseURL, "HTTP_ADDR=" + addr, "APP_BASE_URL=http://" + addr,
		"STRIPE_SECRET_KEY=sk_test_x", "STRIPE_WEBHOOK_SECRET=" + secret, "STRIPE_API_BASE=" + stripeAPI,
		"STRIPE_PRICE_STARTER=price_s", "STRIPE_PRICE_PRO=price_p", "STRIPE_PRICE_ENTERPRISE=price_e", "LOG_LEVEL=" + logLevel}, more...)
}

type cli struct {
	t   *testing.T
	env []string
}

func (c cli) run(stdin string, args ...string) (stdout, stderr string, code int) {
	c.t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = c.env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func (c cli) ok(stdin string, args ...string) string {
	c.t.Helper()
	out, errs, code := c.run(stdin, args...)
	if code != 0 {
		c.t.Fatalf("%v: exit %d\nstdout: %s\nstderr: %s", args, code, out, errs)
	}
	return out
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestConfigurationErrorsStopWithExit2(t *testing.T) {
	base := []string{"PATH=" + os.Getenv("PATH")}
	for _, tc := range []struct {
		env  []string
		args []string
		name string
	}{
		{nil, []string{"migrate", "status"}, "DATABASE_URL"},
		{[]string{"DATABASE_URL=mysql://x"}, []string{"migrate", "status"}, "DATABASE_URL"},
		{[]string{"DATABASE_URL=postgres://x/y", "LOG_LEVEL=loud"}, []string{"migrate", "status"}, "LOG_LEVEL"},
		{[]string{"DATABASE_URL=postgres://x/y", "HTTP_ADDR=nope"}, []string{"migrate", "status"}, "HTTP_ADDR"},
		{[]string{"DATABASE_URL=postgres://x/y"}, []string{"serve"}, "STRIPE_SECRET_KEY"},
		{[]string{"DATABASE_URL=postgres://x/y", "STRIPE_SECRET_KEY=pk_live_oops", "STRIPE_PRICE_STARTER=a", "STRIPE_PRICE_PRO=b", "STRIPE_PRICE_ENTERPRISE=c", "STRIPE_WEBHOOK_SECRET=whsec_x"}, []string{"serve"}, "STRIPE_SECRET_KEY"},
		{[]string{"DATABASE_URL=postgres://x/y", "APP_BASE_URL=localhost:8080"}, []string{"migrate", "status"}, "APP_BASE_URL"},
		{[]string{"DATABASE_URL=postgres://x/y", "HTTP_TRUSTED_PROXIES=10.0.0.0/8, proxy.internal"}, []string{"migrate", "status"}, "HTTP_TRUSTED_PROXIES"},
		{[]string{"DATABASE_URL=postgres://x/y", "HTTP_TRUSTED_PROXIES=10.0.0.0/33"}, []string{"migrate", "status"}, "HTTP_TRUSTED_PROXIES"},
		{[]string{"DATABASE_URL=postgres://x/y"}, []string{"ledger", "checkpoint"}, "LEDGER_SIGNING_KEY"},
		{[]string{"DATABASE_URL=postgres://x/y", "LEDGER_SIGNING_KEY=c2hvcnQ="}, []string{"ledger", "checkpoint"}, "LEDGER_SIGNING_KEY"},
		{[]string{"DATABASE_URL=postgres://x/y", "LEDGER_PUBLIC_KEY=not base64!"}, []string{"migrate", "status"}, "LEDGER_PUBLIC_KEY"},
		{[]string{"DATABASE_URL=postgres://x/y"}, []string{"ledger", "verify", "--checkpoint", "cp.json"}, "LEDGER_PUBLIC_KEY"},
		{[]string{"DATABASE_URL=postgres://x/y", "CHECKPOINT_INTERVAL=1h"}, []string{"migrate", "status"}, "CHECKPOINT_DIR"},
		{[]string{"DATABASE_URL=postgres://x/y", "CHECKPOINT_INTERVAL=soon"}, []string{"migrate", "status"}, "CHECKPOINT_INTERVAL"},
		{[]string{"DATABASE_URL=postgres://x/y", "BILLING_GRACE_DAYS=-1"}, []string{"migrate", "status"}, "BILLING_GRACE_DAYS"},
		{[]string{"DATABASE_URL=postgres://x/y", "BILLING_GRACE_DAYS=seven"}, []string{"migrate", "status"}, "BILLING_GRACE_DAYS"},
		{[]string{"DATABASE_URL=postgres://x/y", "BILLING_GRACE_DAYS=1.5"}, []string{"migrate", "status"}, "BILLING_GRACE_DAYS"},
	} {
		c := cli{t: t, env: append(base, tc.env...)}
		out, errs, code := c.run("", tc.args...)
		if code != 2 || out != "" || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, tc.name) {
			t.Errorf("%v with %v: exit %d, stdout %q, stderr %q; want exit 2 and one line naming %s", tc.args, tc.env, code, out, errs, tc.name)
		}
	}
	c := cli{t: t, env: base}
	if _, _, code := c.run("", "migrate", "sideways"); code != 2 {
		t.Errorf("bad migrate action: exit %d", code)
	}
	if _, _, code := c.run("", "no-such-command"); code != 2 {
		t.Errorf("unknown command: exit %d", code)
	}
}

// TestOperatorJourney runs the binary as ops would: migrations, users and
// orgs, the service, simulated Stripe events, verification, tampering,
// rebuild, export, reconciliation, and SIGTERM.
func TestOperatorJourney(t *testing.T) {
	db := pgtest.New(t)
	_, fake := fakeStripe(t)
	addr := freeAddr(t)
	c := cli{t: t, env: serviceEnv(db.URL, addr, fake.URL, "whsec_cli", "warn", "HTTP_TRUSTED_PROXIES=10.0.0.0/8, 192.0.2.1, 2001:db8::/32")}

	if out := c.ok("", "migrate", "status"); !strings.Contains(out, "applied") || strings.Contains(out, "pending") {
		t.Errorf("migrate status: %s", out)
	}
	c.ok("", "migrate", "down")
	if out := c.ok("", "migrate", "status"); !strings.Contains(out, "pending") {
		t.Errorf("after down: %s", out)
	}
	c.ok("", "migrate", "up")
	c.ok("s3cret password\n", "users", "create", "--email", "ops@example.com")
	c.ok("another password\n", "users", "create", "--email", "aud@example.com")
	if _, errs, code := c.run("x\n", "users", "create", "--email", "ops@example.com"); code == 0 || !strings.Contains(errs, "password") {
		t.Errorf("short password accepted: %d %s", code, errs)
	}
	if _, errs, code := c.run("", "orgs", "create", "--name", "Ops\tCo", "--owner", "ops@example.com"); code != 1 || !strings.Contains(errs, "name must not contain control characters") {
		t.Errorf("a name with a tab: exit %d, %s", code, errs)
	}
	org := strings.TrimSpace(c.ok("", "orgs", "create", "--name", "Ops Co", "--owner", "ops@example.com"))
	if !regexp.MustCompile(`^org_[a-z0-9]+$`).MatchString(org) {
		t.Fatalf("orgs create printed %q", org)
	}
	c.ok("", "orgs", "grant", "--org", org, "--email", "aud@example.com", "--permission", "audit")
	token := strings.TrimSpace(c.ok("", "sessions", "create", "--email", "aud@example.com"))
	if len(token) < 40 || strings.Contains(token, " ") {
		t.Fatalf("token %q", token)
	}

	// The service.
	serve := exec.Command(binary, "serve")
	serve.Env = c.env
	var serveOut bytes.Buffer
	serve.Stdout, serve.Stderr = &serveOut, &serveOut
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer serve.Process.Kill()
	waitReady(t, "http://"+addr+"/readyz")
	out := c.ok("", "dev", "simulate", "lifecycle", "--org", org, "--tier", "PRO")
	if strings.Count(out, " 200 ") != 8 {
		t.Fatalf("simulate: %s", out)
	}
	req, _ := http.NewRequest("GET", "http://"+addr+"/api/billing/events?limit=500&orgId="+org, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("history as auditor: %v %v", err, res)
	}
	res.Body.Close()

	if out := c.ok("", "ledger", "verify"); !strings.Contains(out, "intact") {
		t.Errorf("verify: %s", out)
	}
	if out := c.ok("", "projections", "rebuild"); !regexp.MustCompile(`replayed \d+ events .* events/s`).MatchString(out) {
		t.Errorf("rebuild: %s", out)
	}
	jsonl := c.ok("", "events", "export", "--org", org)
	if n := strings.Count(jsonl, "\n"); n != 11 || !strings.Contains(jsonl, `"type":"PlanActivated"`) {
		t.Errorf("export jsonl: %d lines\n%s", n, jsonl)
	}
	if csvOut := c.ok("", "events", "export", "--org", org, "--format", "csv"); strings.Count(csvOut, "\n") < 12 || !strings.HasPrefix(csvOut, "position,") {
		t.Errorf("export csv: %s", csvOut)
	}
	if _, _, code := c.run("", "events", "export", "--org", "org_nope"); code != 1 {
		t.Errorf("export of an unknown org: exit %d", code)
	}

	// Reconcile: Stripe says the subscription is alive on ENTERPRISE.
	suffix := strings.TrimPrefix(org, "org_")
	fake.SetSubscription(stripe.SubscriptionSpec{OrgID: org, CustomerID: "cus_sim_" + suffix, SubscriptionID: "sub_sim_" + suffix,
		Tier: billing.TierEnterprise, Status: "active", CurrentPeriodEnd: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)})
	out = c.ok("", "reconcile")
	for _, want := range []string{org + " status: canceled -> active", org + " planTier: FREE -> ENTERPRISE", "1 drifted orgs"} {
		if !strings.Contains(out, want) {
			t.Errorf("reconcile dry run lacks %q:\n%s", want, out)
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.HasPrefix(lines[len(lines)-1], "1 drifted orgs") {
		t.Errorf("last line %q", lines[len(lines)-1])
	}
	c.ok("", "reconcile", "--apply", "--org", org)
	if out := c.ok("", "reconcile"); !strings.HasPrefix(out, "0 drifted orgs") {
		t.Errorf("after --apply: %s", out)
	}
	metrics, _ := http.Get("http://" + addr + "/metrics")
	var mb bytes.Buffer
	_, _ = mb.ReadFrom(metrics.Body)
	metrics.Body.Close()
	if !strings.Contains(mb.String(), "safeclose_reconcile_drifted_orgs 0") || !strings.Contains(mb.String(), `safeclose_webhook_events_total{outcome="applied"`) || !strings.Contains(mb.String(), "safeclose_webhook_parked_events 0") || !strings.Contains(mb.String(), "safeclose_append_conflicts_total") {
		t.Errorf("metrics lack reconcile or webhook series")
	}
	fake.Down.Store(true)
	if _, _, code := c.run("", "reconcile"); code != 1 {
		t.Errorf("reconcile with Stripe down: exit %d, want 1", code)
	}

	// A superuser edits the ledger behind the trigger's back.
	super, err := sql.Open("pgx", db.SuperURL)
	if err != nil {
		t.Fatal(err)
	}
	defer super.Close()
	ctx := context.Background()
	for _, stmt := range []string{"ALTER TABLE billing_events DISABLE TRIGGER billing_events_append_only",
		fmt.Sprintf("UPDATE billing_events SET data = jsonb_set(data, '{tier}', '\"ENTERPRISE\"') WHERE stream_id = '%s' AND type = 'PlanActivated'", org),
		"ALTER TABLE billing_events ENABLE TRIGGER billing_events_append_only"} {
		if _, err := super.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	out, _, code := c.run("", "ledger", "verify", "--org", org)
	if code != 1 || !strings.Contains(out, org) || !strings.Contains(out, "event 4") {
		t.Errorf("verify after tampering: exit %d: %s", code, out)
	}

	// SIGTERM: exit 0, quickly.
	start := time.Now()
	_ = serve.Process.Signal(syscall.SIGTERM)
	if err := serve.Wait(); err != nil {
		t.Errorf("serve after SIGTERM: %v\n%s", err, serveOut.String())
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("shutdown took %v", d)
	}
}

func waitReady(t testing.TB, url string) {
	t.Helper()
	for range 100 {
		if res, err := http.Get(url); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never ready", url)
}

// TestTwoInstancesAndAKill runs two instances on one database (both
// migrating at start), delivers 20 orgs' lifecycles split between them
// concurrently, kills one with SIGKILL mid-load and restarts it,
// re-delivers everything that got no 2xx (and some that did) to both, and
// expects every org in its in-order state, every Stripe event recorded
// once, and the ledger intact.
func TestTwoInstancesAndAKill(t *testing.T) {
	db := pgtest.New(t)
	factory, fake := fakeStripe(t)
	env := func(addr string) []string { return serviceEnv(db.URL, addr, fake.URL, "whsec_two", "error") }
	c := cli{t: t, env: env(freeAddr(t))}
	c.ok("", "migrate", "up") // the pgtest template has them; serve must cope with none pending
	c.ok("pw-pw-pw-pw\n", "users", "create", "--email", "o@example.com")
	addrs := []string{freeAddr(t), freeAddr(t)}
	var procs []*exec.Cmd
	for _, a := range addrs {
		p := exec.Command(binary, "serve")
		p.Env = env(a)
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		defer p.Process.Kill()
		procs = append(procs, p)
	}
	for _, a := range addrs {
		waitReady(t, "http://"+a+"/readyz")
	}
	type delivery struct{ payload []byte }
	var all []delivery
	var orgs []string
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	for i := range 20 {
		org := strings.TrimSpace(c.ok("", "orgs", "create", "--name", fmt.Sprint("Org ", i), "--owner", "o@example.com"))
		orgs = append(orgs, org)
		spec := stripe.SubscriptionSpec{OrgID: org, CustomerID: "cus_" + org, SubscriptionID: "sub_" + org, Tier: billing.TierPro, CurrentPeriodEnd: start.AddDate(0, 1, 0)}
		final := spec
		final.Status, final.Tier = "canceled", billing.TierEnterprise
		fake.SetSubscription(final)
		at := func(s int) time.Time { return start.Add(time.Duration(s) * time.Second) }
		id := func(n int) string { return fmt.Sprintf("evt_%s_%d", org, n) }
		ent := spec
		ent.Tier = billing.TierEnterprise
		for _, p := range [][]byte{
			factory.Event(id(1), "checkout.session.completed", at(0), factory.CheckoutSession("cs_"+org, spec)),
			factory.Event(id(2), "invoice.paid", at(0), factory.Invoice(spec, stripe.InvoiceSpec{InvoiceID: "in1_" + org, Amount: 10, Paid: true})),
			factory.Event(id(3), "invoice.payment_failed", at(2), factory.Invoice(spec, stripe.InvoiceSpec{InvoiceID: "in2_" + org, Amount: 10})),
			factory.Event(id(4), "customer.subscription.updated", at(3), factory.Subscription(ent)),
			factory.Event(id(5), "customer.subscription.deleted", at(4), factory.Subscription(final)),
		} {
			all = append(all, delivery{p})
		}
	}
	post := func(addr string, p []byte) int {
		code, _ := postWebhook(addr, "whsec_two", p)
		return code
	}
	// Deliver in reverse order, split between the instances, 8 at a time;
	// kill the first instance halfway.
	codes := make([]int, len(all))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for k := range all {
		i := len(all) - 1 - k
		if k == len(all)/2 {
			_ = procs[0].Process.Signal(syscall.SIGKILL)
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			codes[i] = post(addrs[i%2], all[i].payload)
		}()
	}
	wg.Wait()
	// The killed instance comes back on its address; re-deliveries go to
	// it and to the survivor in turn.
	_ = procs[0].Wait()
	restarted := exec.Command(binary, "serve")
	restarted.Env = env(addrs[0])
	if err := restarted.Start(); err != nil {
		t.Fatal(err)
	}
	defer restarted.Process.Kill()
	waitReady(t, "http://"+addrs[0]+"/readyz")
	redelivered, unacknowledged := 0, 0
	for i, code := range codes {
		if code/100 != 2 || i%3 == 0 { // everything not acknowledged, and some that were
			if code/100 != 2 {
				unacknowledged++
			}
			if got := post(addrs[redelivered%2], all[i].payload); got != 200 {
				t.Fatalf("re-delivery %d to instance %d: %d", i, redelivered%2, got)
			}
			redelivered++
		}
	}
	if unacknowledged == 0 {
		t.Error("the kill cut no delivery short: it came too late to test anything")
	}
	t.Logf("%d deliveries, %d not acknowledged, %d re-delivered after the kill and restart", len(all), unacknowledged, redelivered)
	conn, err := sql.Open("pgx", db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	checkCanceledOnce(t, conn, orgs, 5)
	if out := c.ok("", "ledger", "verify"); !strings.Contains(out, "intact") {
		t.Error(out)
	}
}

// TestSIGTERMUnderLoadAndAPostgresRestart runs the service on a Postgres
// cluster of its own: under webhook load it is restarted (the service
// answers 5xx quickly meanwhile and recovers without a restart of its
// own); then SIGTERM under load lets in-flight requests finish and exits 0.
func TestSIGTERMUnderLoadAndAPostgresRestart(t *testing.T) {
	pg := newLocalStack(t, "pg-restart")
	stack := pg.run
	proxy, server := newTCPProxy(t, stack("pg-start", "pg"))
	defer stack("pg-stop", "pg")
	factory, fake := fakeStripe(t)
	addr := freeAddr(t)
	c := cli{t: t, env: serviceEnv(server, addr, fake.URL, "whsec_r", "error")}
	c.ok("", "migrate", "up")
	c.ok("pw-pw-pw-pw\n", "users", "create", "--email", "o@example.com")
	org := strings.TrimSpace(c.ok("", "orgs", "create", "--name", "R", "--owner", "o@example.com"))
	serve := exec.Command(binary, "serve")
	serve.Env = c.env
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer serve.Process.Kill()
	waitReady(t, "http://"+addr+"/readyz")
	spec := stripe.SubscriptionSpec{OrgID: org, CustomerID: "cus_r", SubscriptionID: "sub_r", Tier: billing.TierPro, CurrentPeriodEnd: time.Now().AddDate(0, 1, 0)}
	n := 0
	post := func() (int, time.Duration) {
		n++
		p := factory.Event(fmt.Sprintf("evt_r_%d", n), "invoice.paid", time.Now().Add(-time.Minute), factory.Invoice(spec, stripe.InvoiceSpec{InvoiceID: fmt.Sprint("in_", n), Amount: 1, Paid: true}))
		req, _ := http.NewRequest("POST", "http://"+addr+"/api/billing/webhook", bytes.NewReader(p))
		req.Header.Set("Stripe-Signature", stripe.Sign(p, "whsec_r", time.Now()))
		start := time.Now()
		res, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
		if err != nil {
			return 0, time.Since(start)
		}
		res.Body.Close()
		return res.StatusCode, time.Since(start)
	}
	if code, _ := post(); code != 200 {
		t.Fatalf("before the restart: %d", code)
	}
	token := login(t, "http://"+addr, "o@example.com", "pw-pw-pw-pw")
	status := func() (int, string) {
		req, _ := http.NewRequest("GET", "http://"+addr+"/api/billing/status?orgId="+org, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	if code, body := status(); code != 200 {
		t.Fatalf("status before the restart: %d %s", code, body)
	}
	// Postgres down: 5xx, fast; the API says 503 unavailable.
	stack("pg-stop", "pg")
	if code, body := status(); code != 503 || !strings.Contains(body, `"code":"unavailable"`) {
		t.Errorf("status with Postgres down: %d %s, want 503 unavailable", code, body)
	}
	for range 5 {
		code, took := post()
		if code/100 != 5 || took > 3*time.Second {
			t.Errorf("with Postgres down: %d after %v, want 5xx quickly", code, took)
		}
	}
	if res, err := http.Get("http://" + addr + "/readyz"); err != nil || res.StatusCode != 503 {
		t.Errorf("readyz with Postgres down: %v %v", err, res)
	}
	// Postgres back, on another port (its old one taken meanwhile, as any
	// process may), behind the proxy at the service's same address: the
	// service recovers by itself.
	if taken, err := net.Listen("tcp", "127.0.0.1:"+pg.port("pg")); err == nil {
		defer taken.Close()
	}
	proxy.retarget(t, stack("pg-start", "pg"))
	recovered := false
	for range 50 {
		if code, _ := post(); code == 200 {
			recovered = true
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !recovered {
		t.Fatal("the service did not recover after Postgres came back")
	}

	// SIGTERM under load: in-flight requests complete.
	var wg sync.WaitGroup
	results := make(chan int, 64)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 16 {
				code, _ := post()
				results <- code
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	_ = serve.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- serve.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit within 10 s of SIGTERM")
	}
	wg.Wait()
	close(results)
	ok, refused, other := 0, 0, 0
	for code := range results {
		switch {
		case code == 200:
			ok++
		case code == 0:
			refused++ // not accepted: the listener was closed
		default:
			other++
		}
	}
	t.Logf("during shutdown: %d answered 200, %d not accepted", ok, refused)
	if ok == 0 || other != 0 {
		t.Errorf("during shutdown: %d answered 200, %d not accepted, %d other answers (an accepted request must complete)", ok, refused, other)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestVerifyDuringWebhookLoad runs `ledger verify`, for the whole ledger and
// for one org, again and again while the service applies webhooks to many
// orgs: an append committed while verify reads must never be reported as
// tampering.
func TestVerifyDuringWebhookLoad(t *testing.T) {
	db := pgtest.New(t)
	factory, fake := fakeStripe(t)
	addr := freeAddr(t)
	c := cli{t: t, env: serviceEnv(db.URL, addr, fake.URL, "whsec_v", "error")}
	c.ok("pw-pw-pw-pw\n", "users", "create", "--email", "o@example.com")
	orgs := make([]string, 24)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := range orgs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			orgs[i] = strings.TrimSpace(c.ok("", "orgs", "create", "--name", fmt.Sprint("Org ", i), "--owner", "o@example.com"))
		}()
	}
	wg.Wait()
	serve := exec.Command(binary, "serve")
	serve.Env = c.env
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer serve.Process.Kill()
	waitReady(t, "http://"+addr+"/readyz")

	// The load: invoices paid, each one event appended to its org's stream,
	// a few hundred a second (enough for an append to land between two
	// reads of most runs; more would only make each run longer).
	var (
		applied atomic.Int64
		seq     atomic.Int64
		stop    = make(chan struct{})
		load    sync.WaitGroup
	)
	created := time.Now().Add(-time.Hour)
	client := &http.Client{Timeout: 15 * time.Second}
	for range 8 {
		load.Add(1)
		go func() {
			defer load.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				n := seq.Add(1)
				org := orgs[n%int64(len(orgs))]
				spec := stripe.SubscriptionSpec{OrgID: org, CustomerID: "cus_" + org, SubscriptionID: "sub_" + org, Tier: billing.TierPro, CurrentPeriodEnd: created.AddDate(0, 1, 0)}
				p := factory.Event(fmt.Sprint("evt_v_", n), "invoice.paid", created, factory.Invoice(spec, stripe.InvoiceSpec{InvoiceID: fmt.Sprint("in_v_", n), Amount: 1, Paid: true}))
				req, _ := http.NewRequest("POST", "http://"+addr+"/api/billing/webhook", bytes.NewReader(p))
				req.Header.Set("Stripe-Signature", stripe.Sign(p, "whsec_v", time.Now()))
				res, err := client.Do(req)
				if err != nil {
					t.Errorf("webhook: %v", err)
					return
				}
				res.Body.Close()
				if res.StatusCode != 200 {
					t.Errorf("webhook: %d", res.StatusCode)
					return
				}
				applied.Add(1)
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	for applied.Load() < 50 {
		time.Sleep(10 * time.Millisecond)
	}
	const runs = 40
	overlapped := 0
	for i := range runs {
		args := []string{"ledger", "verify"}
		if i%4 == 3 {
			args = append(args, "--org", orgs[i%len(orgs)])
		}
		before := applied.Load()
		out, errs, code := c.run("", args...)
		if applied.Load() > before {
			overlapped++
		}
		if code != 0 || !strings.Contains(out, "ledger intact") {
			t.Errorf("run %d, %v during the load: exit %d\nstdout: %s\nstderr: %s", i, args, code, out, errs)
		}
	}
	close(stop)
	load.Wait()
	t.Logf("%d webhooks applied; %d of %d verify runs overlapped an append", applied.Load(), overlapped, runs)
	if overlapped < runs/2 {
		t.Errorf("only %d of %d verify runs overlapped an append: the load did not run beside verify", overlapped, runs)
	}
	out := c.ok("", "ledger", "verify")
	if want := fmt.Sprintf("ledger intact: %d events in %d streams", applied.Load()+2*int64(len(orgs)), len(orgs)); !strings.Contains(out, want) {
		t.Errorf("after the load: %q, want %q", out, want)
	}
}

// TestMigrationLockWait holds the migration lock as a long migration
// would: `migrate up` waits past the 30 s that a statement_timeout would
// allow and applies once the lock is free; `serve` gives up after its
// bounded wait, exit 1, saying what to do.
func TestMigrationLockWait(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	holder, err := sql.Open("pgx", db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	lock, err := holder.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if _, err := lock.ExecContext(ctx, "SELECT pg_advisory_lock($1)", int64(migrations.LockKey)); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	c := cli{t: t, env: serviceEnv(db.URL, addr, "http://127.0.0.1:1", "whsec_m", "error")}
	type result struct {
		out, errs string
		code      int
	}
	start := func(args ...string) chan result {
		done := make(chan result, 1)
		go func() {
			out, errs, code := c.run("", args...)
			done <- result{out, errs, code}
		}()
		return done
	}
	migrate := start("migrate", "up")
	serve := start("serve")
	select {
	case r := <-serve:
		t.Logf("serve: exit %d: %s", r.code, r.errs)
		if r.code != 1 || !strings.Contains(r.errs, "migration lock") || !strings.Contains(r.errs, "migrate up") {
			t.Errorf("serve with the migration lock held: exit %d, stderr %q; want exit 1 naming the lock and `migrate up`", r.code, r.errs)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("serve still waiting for the migration lock after 2 minutes")
	}
	// serve waited its 30 s; the operator's command waits on.
	time.Sleep(3 * time.Second)
	select {
	case r := <-migrate:
		t.Fatalf("migrate up stopped waiting for the lock: exit %d, stderr %q", r.code, r.errs)
	default:
	}
	if _, err := lock.ExecContext(ctx, "SELECT pg_advisory_unlock($1)", int64(migrations.LockKey)); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-migrate:
		if r.code != 0 || !strings.Contains(r.out, "no pending migrations") {
			t.Errorf("migrate up once the lock is free: exit %d, stdout %q, stderr %q", r.code, r.out, r.errs)
		}
	case <-time.After(time.Minute):
		t.Fatal("migrate up did not finish after the lock was released")
	}
}

// login returns a session token for the user, as a script would use it
// (Authorization: Bearer).
func login(t testing.TB, base, email, password string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	req, _ := http.NewRequest("POST", base+"/api/auth/login", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", base)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	for _, c := range res.Cookies() {
		if c.Name == "safeclose_session" && res.StatusCode == http.StatusNoContent {
			return c.Value
		}
	}
	t.Fatalf("login: %d, no session cookie", res.StatusCode)
	return ""
}
