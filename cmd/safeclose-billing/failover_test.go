package main_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/safeclose/billing/adapters/localstack"
	"github.com/safeclose/billing/adapters/stripe"
	"github.com/safeclose/billing/domain/billing"
)

// localStack runs scripts/stack.sh on clusters in a folder of its own
// (not t.TempDir: its parent is private and Postgres runs as its own
// user), removed at the test's end: unlike package localstack's shared
// services, these are the test's to stop, kill and promote.
type localStack struct {
	t         testing.TB
	root, dir string
}

func newLocalStack(t testing.TB, name string) *localStack {
	t.Helper()
	root, err := localstack.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &localStack{t: t, root: root, dir: dir}
}

// run runs stack.sh with args (cluster folders relative to the stack's
// folder) and returns what it printed.
func (s *localStack) run(args ...string) string {
	s.t.Helper()
	for i, a := range args {
		if i > 0 {
			args[i] = filepath.Join(s.dir, a)
		}
	}
	out, err := exec.Command(filepath.Join(s.root, "scripts", "stack.sh"), args...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		s.t.Fatalf("stack.sh %v: %v\n%s", args, err, stderr)
	}
	return strings.TrimSpace(string(out))
}

// port is the port of the cluster in the stack's folder name.
func (s *localStack) port(name string) string {
	return strings.TrimSpace(string(must(os.ReadFile(filepath.Join(s.dir, name, "port")))))
}

// killCluster kills the cluster's postmaster and its processes with
// SIGKILL: the machine's loss, as its clients see it.
func (s *localStack) killCluster(name string) {
	s.t.Helper()
	pidFile := must(os.ReadFile(filepath.Join(s.dir, name, "pgdata", "postmaster.pid")))
	pid, err := strconv.Atoi(strings.SplitN(string(pidFile), "\n", 2)[0])
	if err != nil {
		s.t.Fatal(err)
	}
	_ = exec.Command("pkill", "-KILL", "-P", strconv.Itoa(pid)).Run()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		s.t.Fatal(err)
	}
}

// postWebhook delivers a signed Stripe event to the service at addr and
// returns the status (0: no answer) and how long the answer took.
func postWebhook(addr, secret string, payload []byte) (int, time.Duration) {
	req, _ := http.NewRequest("POST", "http://"+addr+"/api/billing/webhook", bytes.NewReader(payload))
	req.Header.Set("Stripe-Signature", stripe.Sign(payload, secret, time.Now()))
	start := time.Now()
	res, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return 0, time.Since(start)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, time.Since(start)
}

// getJSON GETs path from the service at addr with a session token and
// decodes the 200 answer into v.
func getJSON(t testing.TB, addr, token, path string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, res.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, body)
	}
}

// A primary and its synchronous standby, as scripts/stack.sh starts them;
// the service's DATABASE_URL names both (target_session_attrs=read-write).
//
// Replica reads: with DATABASE_READ_URL at the standby, history, export and
// asOf read there (a standby paused in its replay does not show a new
// event), while the status and entitlements read the primary (the writer
// sees its write at once), and a knownAt answer is read where the seal is.
//
// Failover: two instances take webhook load, delivered as Stripe does
// (again until a 2xx); the primary is killed with SIGKILL mid-load and the
// standby promoted. Every acknowledged webhook is in the new primary's
// ledger, every org ends in the state of its facts, the ledger verifies,
// and the time from the kill to the first write after the promotion is
// logged.
func TestStandbyReadsAndFailover(t *testing.T) {
	stack := newLocalStack(t, "pg-pair")
	primaryURL := stack.run("pg-start", "primary")
	defer stack.run("pg-stop", "primary")
	standbyURL := stack.run("pg-standby-start", "primary", "standby")
	defer stack.run("pg-stop", "standby")
	both := fmt.Sprintf("postgres://postgres@127.0.0.1:%s,127.0.0.1:%s/postgres?sslmode=disable&target_session_attrs=read-write",
		stack.port("primary"), stack.port("standby"))

	factory, fake := fakeStripe(t)
	const secret = "whsec_pair"
	env := func(addr, read string) []string {
		if read != "" {
			return serviceEnv(both, addr, fake.URL, secret, "error", "DATABASE_READ_URL="+read)
		}
		return serviceEnv(both, addr, fake.URL, secret, "error")
	}
	c := cli{t: t, env: env(freeAddr(t), "")}
	c.ok("", "migrate", "up")
	c.ok("pw-pw-pw-pw\n", "users", "create", "--email", "o@example.com")
	var orgs []string
	for i := range 12 {
		orgs = append(orgs, strings.TrimSpace(c.ok("", "orgs", "create", "--name", fmt.Sprint("Org ", i), "--owner", "o@example.com")))
	}
	serve := func(addr, read string) *exec.Cmd {
		p := exec.Command(binary, "serve")
		p.Env = env(addr, read)
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Process.Kill(); _ = p.Wait() })
		waitReady(t, "http://"+addr+"/readyz")
		return p
	}
	primary := must(sql.Open("pgx", primaryURL))
	defer primary.Close()
	standby := must(sql.Open("pgx", standbyURL))
	defer standby.Close()
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	spec := func(org string) stripe.SubscriptionSpec {
		return stripe.SubscriptionSpec{OrgID: org, CustomerID: "cus_" + org, SubscriptionID: "sub_" + org, Tier: billing.TierPro, CurrentPeriodEnd: start.AddDate(0, 1, 0)}
	}

	t.Run("replica reads", func(t *testing.T) {
		addr := freeAddr(t)
		serve(addr, standbyURL)
		token := login(t, "http://"+addr, "o@example.com", "pw-pw-pw-pw")
		org := orgs[0]
		type page struct {
			Events []struct {
				Type string `json:"type"`
			} `json:"events"`
		}
		history := func() int {
			var p page
			getJSON(t, addr, token, "/api/billing/events?orgId="+org+"&limit=500", &p)
			return len(p.Events)
		}
		var status struct {
			PlanTier      string `json:"planTier"`
			LedgerVersion int64  `json:"ledgerVersion"`
		}
		getJSON(t, addr, token, "/api/billing/status?orgId="+org, &status)
		created := int(status.LedgerVersion) // the org's creation and its owner
		// Let the standby catch up with them, then hold its replay: what it
		// shows from now on is what it had.
		waitFor(t, "the standby to show the org", func() bool { return history() == created })
		if _, err := standby.Exec("SELECT pg_wal_replay_pause()"); err != nil {
			t.Fatal(err)
		}
		paused := true
		defer func() {
			if paused {
				_, _ = standby.Exec("SELECT pg_wal_replay_resume()")
			}
		}()
		p := factory.Event("evt_read_1", "checkout.session.completed", start, factory.CheckoutSession("cs_read", spec(org)))
		if code, _ := postWebhook(addr, secret, p); code != 200 {
			t.Fatalf("webhook: %d", code)
		}
		getJSON(t, addr, token, "/api/billing/status?orgId="+org, &status)
		if status.PlanTier != "PRO" || int(status.LedgerVersion) != created+1 {
			t.Errorf("status after the checkout (primary): %+v, want PRO at version %d", status, created+1)
		}
		var ent struct {
			PlanTier string `json:"planTier"`
		}
		getJSON(t, addr, token, "/api/billing/entitlements?orgId="+org, &ent)
		if ent.PlanTier != "PRO" {
			t.Errorf("entitlements after the checkout (primary): %+v, want PRO", ent)
		}
		if n := history(); n != created {
			t.Errorf("history on the paused standby: %d events, want %d (the replica's)", n, created)
		}
		now := url.QueryEscape(time.Now().UTC().Format(time.RFC3339Nano))
		getJSON(t, addr, token, "/api/billing/status?orgId="+org+"&asOf="+now, &status)
		if int(status.LedgerVersion) != created {
			t.Errorf("status asOf now on the paused standby: version %d, want %d", status.LedgerVersion, created)
		}
		exported := c.ok("", "events", "export", "--org", org)
		reader := cli{t: t, env: env(freeAddr(t), standbyURL)}
		if got := strings.Count(reader.ok("", "events", "export", "--org", org), "\n"); got != created || strings.Count(exported, "\n") != created+1 {
			t.Errorf("export: %d lines from the paused standby (want %d), %d from the primary (want %d)", got, created, strings.Count(exported, "\n"), created+1)
		}
		// knownAt: sealed on the primary, so read there.
		getJSON(t, addr, token, "/api/billing/status?orgId="+org+"&knownAt="+now, &status)
		if int(status.LedgerVersion) != created+1 {
			t.Errorf("status knownAt now: version %d, want %d (what was recorded by then)", status.LedgerVersion, created+1)
		}
		if _, err := standby.Exec("SELECT pg_wal_replay_resume()"); err != nil {
			t.Fatal(err)
		}
		paused = false
		waitFor(t, "the standby to replay the checkout", func() bool { return history() == created+1 })
	})

	t.Run("failover", func(t *testing.T) {
		addrs := []string{freeAddr(t), freeAddr(t)}
		for _, a := range addrs {
			serve(a, "")
		}
		// Each org: a checkout, invoices paid and one failed, an upgrade,
		// the subscription deleted (its final state: FREE, canceled), in
		// a shuffled order, with many paid invoices for volume.
		type delivery struct {
			id      string
			payload []byte
		}
		var all []delivery
		for _, org := range orgs[1:] {
			s := spec(org)
			final := s
			final.Status, final.Tier = "canceled", billing.TierEnterprise
			fake.SetSubscription(final)
			ent := s
			ent.Tier = billing.TierEnterprise
			at := func(sec int) time.Time { return start.Add(time.Duration(sec) * time.Second) }
			add := func(id, typ string, when time.Time, obj map[string]any) {
				all = append(all, delivery{id, factory.Event(id, typ, when, obj)})
			}
			add("evt_"+org+"_co", "checkout.session.completed", at(0), factory.CheckoutSession("cs_"+org, s))
			add("evt_"+org+"_fail", "invoice.payment_failed", at(2), factory.Invoice(s, stripe.InvoiceSpec{InvoiceID: "inf_" + org, Amount: 10}))
			add("evt_"+org+"_up", "customer.subscription.updated", at(3), factory.Subscription(ent))
			add("evt_"+org+"_del", "customer.subscription.deleted", at(4), factory.Subscription(final))
			for n := range 40 {
				add(fmt.Sprintf("evt_%s_paid_%d", org, n), "invoice.paid", at(1), factory.Invoice(s, stripe.InvoiceSpec{InvoiceID: fmt.Sprintf("in_%s_%d", org, n), Amount: 10, Paid: true}))
			}
		}
		rand.New(rand.NewPCG(16, 1)).Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })

		var (
			next, acked                 atomic.Int64
			killedAt, firstAfterPromote atomic.Int64 // unix nanos
			promoted                    atomic.Bool
			slowest                     atomic.Int64
			mu                          sync.Mutex
			failed                      []string
			refusals                    = map[int]int{} // answers other than 2xx, by status
		)
		deliver := func(worker int) {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(all) {
					return
				}
				d := all[i]
				// As Stripe does: again, until a 2xx (here quickly, and
				// for at most a minute), to either instance.
				deadline := time.Now().Add(time.Minute)
				for attempt := 0; ; attempt++ {
					code, took := postWebhook(addrs[(worker+attempt)%2], secret, d.payload)
					if took > time.Duration(slowest.Load()) {
						slowest.Store(int64(took))
					}
					if code/100 != 2 {
						mu.Lock()
						refusals[code]++
						mu.Unlock()
					}
					if code/100 == 2 {
						acked.Add(1)
						if promoted.Load() {
							firstAfterPromote.CompareAndSwap(0, time.Now().UnixNano())
						}
						break
					}
					if time.Now().After(deadline) {
						mu.Lock()
						failed = append(failed, fmt.Sprintf("%s: %d", d.id, code))
						mu.Unlock()
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
		}
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() { defer wg.Done(); deliver(w) }()
		}
		waitFor(t, "a third of the load acknowledged", func() bool { return acked.Load() >= int64(len(all)/3) })
		stack.killCluster("primary")
		killedAt.Store(time.Now().UnixNano())
		atKill := acked.Load()
		// While no primary is up: not ready, and webhooks answered 5xx.
		waitFor(t, "readyz to say not ready", func() bool {
			res, err := http.Get("http://" + addrs[0] + "/readyz")
			if err != nil {
				return false
			}
			res.Body.Close()
			return res.StatusCode == http.StatusServiceUnavailable
		})
		time.Sleep(time.Second) // an operator's (or a failover manager's) reaction
		duringOutage := acked.Load() - atKill
		stack.run("pg-promote", "standby")
		promoted.Store(true)
		wg.Wait()
		if len(failed) > 0 {
			t.Fatalf("%d deliveries never acknowledged, e.g. %v", len(failed), failed[:min(3, len(failed))])
		}
		if firstAfterPromote.Load() == 0 {
			t.Fatal("nothing was acknowledged after the promotion: the kill came too late to test anything")
		}
		figure(t, "failover: %d deliveries, %d acknowledged before the kill, %d while no primary was up (answers in flight at the kill), slowest answer %v; "+
			"kill to the first acknowledged write after the promotion: %v (1 s of it the operator's reaction)",
			len(all), atKill, duringOutage, time.Duration(slowest.Load()).Round(time.Millisecond),
			time.Duration(firstAfterPromote.Load()-killedAt.Load()).Round(time.Millisecond))
		t.Logf("answers other than 2xx, by status (0: none): %v", refusals)
		for code := range refusals {
			if code != http.StatusServiceUnavailable {
				t.Errorf("%d answers %d while the primary was gone, want 503 unavailable", refusals[code], code)
			}
		}
		if refusals[http.StatusServiceUnavailable] == 0 {
			t.Error("no 503 while the primary was gone")
		}
		if slowest := time.Duration(slowest.Load()); slowest > 20*time.Second {
			t.Errorf("an answer took %v: an instance hung on the dead primary", slowest)
		}

		// Everything acknowledged is on the new primary, once.
		db := must(sql.Open("pgx", standbyURL))
		defer db.Close()
		checkCanceledOnce(t, db, orgs[1:], 44)
		if out := c.ok("", "ledger", "verify"); !strings.Contains(out, "intact") {
			t.Error(out)
		}
	})
}

// figure logs a measured figure, and adds it to the file TEST_FIGURES
// names (make test prints it at the end).
func figure(t testing.TB, format string, args ...any) {
	t.Helper()
	line := fmt.Sprintf(format, args...)
	t.Log(line)
	if path := os.Getenv("TEST_FIGURES"); path != "" {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := fmt.Fprintf(f, "%s: %s\n", t.Name(), line); err != nil {
			t.Fatal(err)
		}
	}
}

// checkCanceledOnce fails the test unless every org ends FREE and
// canceled with exactly stripeEvents Stripe events in its ledger, each
// once: what the kill tests deliver, in any order and again.
func checkCanceledOnce(t testing.TB, db *sql.DB, orgs []string, stripeEvents int) {
	t.Helper()
	for _, org := range orgs {
		var tier, status string
		var events, distinct int
		if err := db.QueryRow("SELECT plan_tier, status FROM billing_status WHERE org_id = $1", org).Scan(&tier, &status); err != nil {
			t.Fatal(err)
		}
		if tier != "FREE" || status != "canceled" {
			t.Errorf("%s: %s %s, want FREE canceled", org, tier, status)
		}
		if err := db.QueryRow("SELECT count(*), count(DISTINCT metadata->>'stripeEventId') FROM billing_events WHERE stream_id = $1 AND metadata ? 'stripeEventId'", org).Scan(&events, &distinct); err != nil {
			t.Fatal(err)
		}
		if events != stripeEvents || distinct != stripeEvents {
			t.Errorf("%s: %d Stripe events in the ledger (%d distinct), want the %d acknowledged, once each", org, events, distinct, stripeEvents)
		}
	}
}

// waitFor polls cond every 20 ms for up to 30 s, and fails the test naming
// what it waited for.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("waited 30 s for %s", what)
}
