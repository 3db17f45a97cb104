package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/safeclose/billing/adapters/outbound"
	"github.com/safeclose/billing/adapters/outbound/signature"
	"github.com/safeclose/billing/adapters/postgres"
	"github.com/safeclose/billing/adapters/postgres/pgtest"
	"github.com/safeclose/billing/adapters/system"
	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
	"github.com/safeclose/billing/ports/porttest"
)

func TestOutboundConfigurationErrors(t *testing.T) {
	base := []string{"PATH=" + os.Getenv("PATH"), "DATABASE_URL=postgres://x/y"}
	for _, tc := range []struct {
		env  []string
		args []string
		name string
	}{
		{[]string{"OUTBOUND_WEBHOOK_URLS=https://hooks.example.com/a"}, []string{"migrate", "status"}, "OUTBOUND_WEBHOOK_SECRET"},
		{[]string{"OUTBOUND_WEBHOOK_URLS=https://hooks.example.com/a", "OUTBOUND_WEBHOOK_SECRET=nope"}, []string{"migrate", "status"}, "OUTBOUND_WEBHOOK_SECRET"},
		{[]string{"OUTBOUND_WEBHOOK_URLS=https://hooks.example.com/a, ftp://x", "OUTBOUND_WEBHOOK_SECRET=whsec_x"}, []string{"migrate", "status"}, "OUTBOUND_WEBHOOK_URLS"},
		{nil, []string{"outbound", "replay", "--org", "org_x"}, "OUTBOUND_WEBHOOK_URLS"},
	} {
		c := cli{t: t, env: append(base, tc.env...)}
		out, errs, code := c.run("", tc.args...)
		if code != 2 || out != "" || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, tc.name) || strings.Contains(errs, "nope") {
			t.Errorf("%v with %v: exit %d, stdout %q, stderr %q; want exit 2 and one line naming %s", tc.args, tc.env, code, out, errs, tc.name)
		}
	}
}

// hookReceiver records what a running serve delivers: per org the
// versions answered 2xx in arrival order; bad signatures and events in
// flight twice at once are problems.
type hookReceiver struct {
	mu       sync.Mutex
	inflight map[string]int
	got      map[string][]int64
	total    int
	problems []string
	delay    time.Duration
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var e outbound.Event
	err := signature.Verify(body, r.Header.Get(signature.Header), "whsec_out", 0, time.Now())
	if err == nil {
		err = json.Unmarshal(body, &e)
	}
	id := r.Header.Get(signature.EventIDHeader)
	h.mu.Lock()
	if err != nil || id != fmt.Sprintf("%s:%d", e.OrgID, e.Version) {
		h.problems = append(h.problems, fmt.Sprintf("%s: %v %s", id, err, body))
	}
	h.inflight[id]++
	if h.inflight[id] > 1 {
		h.problems = append(h.problems, "in flight twice at once: "+id)
	}
	h.mu.Unlock()
	time.Sleep(h.delay)
	h.mu.Lock()
	h.inflight[id]--
	h.got[e.OrgID] = append(h.got[e.OrgID], e.Version)
	h.total++
	h.mu.Unlock()
}

// complete says whether every org has every version up to heads[org],
// each first arriving after the one before it.
func (h *hookReceiver) complete(heads map[string]int64) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for org, head := range heads {
		next := int64(1)
		for _, v := range h.got[org] {
			switch {
			case v == next:
				next++
			case v > next:
				return fmt.Errorf("%s: version %d arrived before %d: %v", org, v, next, h.got[org])
			}
		}
		if next <= head {
			return fmt.Errorf("%s: missing versions from %d to %d", org, next, head)
		}
	}
	return nil
}

// TestOutboundKill9AndRestart runs serve with an endpoint in the test
// process while events are appended, kills it with SIGKILL mid-dispatch,
// starts it again: every event arrives at least once, per org in version
// order, signed. Then `outbound replay` sends an org's events again, and
// SIGTERM stops serve cleanly.
func TestOutboundKill9AndRestart(t *testing.T) {
	db := pgtest.New(t)
	recv := &hookReceiver{inflight: map[string]int{}, got: map[string][]int64{}, delay: 15 * time.Millisecond}
	hooks := httptest.NewServer(recv)
	defer hooks.Close()
	addr := freeAddr(t)
	env := []string{"PATH=" + os.Getenv("PATH"), "DATABASE_URL=" + db.URL, "HTTP_ADDR=" + addr, "STRIPE_SECRET_KEY=sk_test_x",
		"STRIPE_WEBHOOK_SECRET=whsec_k", "STRIPE_API_BASE=http://127.0.0.1:1", "STRIPE_PRICE_STARTER=price_s", "STRIPE_PRICE_PRO=price_p",
		"STRIPE_PRICE_ENTERPRISE=price_e", "LOG_LEVEL=warn", "OUTBOUND_WEBHOOK_URLS=" + hooks.URL + "/events", "OUTBOUND_WEBHOOK_SECRET=whsec_out"}
	startServe := func() *exec.Cmd {
		serve := exec.Command(binary, "serve", "--no-migrate")
		serve.Env = env
		var logs strings.Builder
		serve.Stdout, serve.Stderr = &logs, &logs
		if err := serve.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = serve.Process.Kill()
			if strings.Contains(logs.String(), "whsec_out") {
				t.Error("the outbound secret is in the logs")
			}
		})
		waitReady(t, "http://"+addr+"/readyz")
		return serve
	}
	serve := startServe()
	store := postgres.NewStore(db.DB, system.Clock{}, []postgres.Projection{postgres.NewStatusProjection(db.DB)})
	const orgs, perOrg = 6, 25
	heads := map[string]int64{}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range orgs {
		org := fmt.Sprintf("org_k%d", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for v := int64(0); v < perOrg; v++ {
				var c billing.Change = billing.CheckoutStarted{Tier: billing.TierPro, CheckoutSessionID: fmt.Sprint("cs_", v)}
				if v == 0 {
					c = billing.OrgCreated{Name: org, OwnerUserID: "usr_1"}
				}
				if _, err := store.Append(context.Background(), ports.AppendRequest{StreamID: org, ExpectedVersion: v,
					Events: []ports.NewEvent{porttest.Event(t, c, time.Now())}}); err != nil {
					t.Error(err)
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
			mu.Lock()
			heads[org] = perOrg
			mu.Unlock()
		}()
	}
	// Kill mid-dispatch: some events delivered, most not.
	deadline := time.Now().Add(90 * time.Second)
	for {
		recv.mu.Lock()
		n := recv.total
		recv.mu.Unlock()
		if n >= 30 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d events delivered in 90 s", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	_ = serve.Process.Signal(syscall.SIGKILL)
	_ = serve.Wait()
	recv.mu.Lock()
	atKill := recv.total
	recv.mu.Unlock()
	wg.Wait()
	if atKill >= orgs*perOrg {
		t.Fatalf("everything (%d) was delivered before the kill: it tested nothing", atKill)
	}
	serve = startServe()
	// The killed instance's leases expire (20 s) and are taken over.
	deadline = time.Now().Add(120 * time.Second)
	for err := recv.complete(heads); err != nil; err = recv.complete(heads) {
		if time.Now().After(deadline) {
			t.Fatalf("after the restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	recv.mu.Lock()
	for _, p := range recv.problems {
		t.Error(p)
	}
	t.Logf("%d deliveries for %d events, %d before the kill", recv.total, orgs*perOrg, atKill)
	recv.got["org_k0"] = nil
	recv.mu.Unlock()

	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{`safeclose_outbound_deliveries_total{endpoint="` + hooks.URL + `/events",outcome="delivered"}`,
		`safeclose_outbound_oldest_undelivered_seconds{endpoint="` + hooks.URL + `/events"}`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics has no %s", want)
		}
	}

	c := cli{t: t, env: env}
	if out := c.ok("", "outbound", "replay", "--org", "org_k0", "--from-version", "20"); !strings.Contains(out, "queued org_k0 versions 20 to 25") {
		t.Errorf("replay: %s", out)
	}
	if _, errs, code := c.run("", "outbound", "replay", "--org", "org_nope"); code != 1 || !strings.Contains(errs, "org_nope") {
		t.Errorf("replay of an unknown org: exit %d, %s", code, errs)
	}
	deadline = time.Now().Add(90 * time.Second)
	for {
		recv.mu.Lock()
		got := fmt.Sprint(recv.got["org_k0"])
		recv.mu.Unlock()
		if got == "[20 21 22 23 24 25]" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replayed: %s", got)
		}
		time.Sleep(50 * time.Millisecond)
	}

	start := time.Now()
	_ = serve.Process.Signal(syscall.SIGTERM)
	if err := serve.Wait(); err != nil {
		t.Errorf("SIGTERM: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("stopping took %v", d)
	}
}
