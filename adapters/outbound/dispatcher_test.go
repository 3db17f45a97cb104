package outbound_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/safeclose/billing/adapters/metrics"
	"github.com/safeclose/billing/adapters/outbound"
	"github.com/safeclose/billing/adapters/outbound/signature"
	"github.com/safeclose/billing/adapters/postgres"
	"github.com/safeclose/billing/adapters/postgres/pgtest"
	"github.com/safeclose/billing/adapters/system"
	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
	"github.com/safeclose/billing/ports/porttest"
)

const secret = "whsec_outbound_test"

// receiver is an endpoint in the test process: it checks every request's
// signature and id, notes when one event is in flight twice at once, and
// answers as answer says.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	inflight map[string]int
	attempts map[string][]time.Time // by event id
	got      map[string][]int64     // per org, the versions answered 2xx, in order
	problems []string
	answer   func(org string, version int64, attempt int) int
	redirect string // the Location of a 3xx answer
}

func newReceiver(t *testing.T, answer func(org string, version int64, attempt int) int) *receiver {
	r := newUnstartedReceiver(t, answer)
	r.Start()
	return r
}

// newUnstartedReceiver is newReceiver before its server starts (to set
// its server's Config).
func newUnstartedReceiver(t *testing.T, answer func(org string, version int64, attempt int) int) *receiver {
	r := &receiver{inflight: map[string]int{}, attempts: map[string][]time.Time{}, got: map[string][]int64{}, answer: answer}
	r.Server = httptest.NewUnstartedServer(r)
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) problem(format string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.problems = append(r.problems, fmt.Sprintf(format, a...))
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if err := signature.Verify(body, req.Header.Get(signature.Header), secret, 0, time.Now()); err != nil {
		r.problem("bad signature: %v", err)
		w.WriteHeader(400)
		return
	}
	var e outbound.Event
	if err := json.Unmarshal(body, &e); err != nil || e.Type == "" || e.Hash == "" || len(e.Data) == 0 {
		r.problem("bad body %s: %v", body, err)
		w.WriteHeader(400)
		return
	}
	id := req.Header.Get(signature.EventIDHeader)
	if id != fmt.Sprintf("%s:%d", e.OrgID, e.Version) {
		r.problem("event id %q for body %s", id, body)
	}
	r.mu.Lock()
	r.inflight[id]++
	if r.inflight[id] > 1 {
		r.problems = append(r.problems, "in flight twice at once: "+id)
	}
	r.attempts[id] = append(r.attempts[id], time.Now())
	n := len(r.attempts[id])
	r.mu.Unlock()
	status := 200
	if r.answer != nil {
		status = r.answer(e.OrgID, e.Version, n)
	}
	r.mu.Lock()
	r.inflight[id]--
	if status/100 == 2 {
		r.got[e.OrgID] = append(r.got[e.OrgID], e.Version)
	}
	r.mu.Unlock()
	if status/100 == 3 {
		w.Header().Set("Location", r.redirect)
	}
	w.WriteHeader(status)
}

// check fails t unless every org received exactly the versions want[org]
// (at least once each), never one before the one it follows, with no
// problem.
func (r *receiver) check(t *testing.T, want map[string][]int64) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.problems {
		t.Error(p)
	}
	for org, versions := range want {
		if err := inOrder(r.got[org], versions); err != nil {
			t.Errorf("%s: %v (got %v)", org, err, r.got[org])
		}
	}
	for org := range r.got {
		if _, ok := want[org]; !ok {
			t.Errorf("%s: got %v, want nothing", org, r.got[org])
		}
	}
}

// inOrder says whether got holds every version of want, each first
// arriving after the one before it (repeats of delivered ones allowed).
func inOrder(got, want []int64) error {
	next := 0
	for _, v := range got {
		if next < len(want) && v == want[next] {
			next++
			continue
		}
		seen := false
		for _, w := range want[:next] {
			seen = seen || w == v
		}
		if !seen {
			return fmt.Errorf("version %d arrived before %v", v, want[next:min(next+1, len(want))])
		}
	}
	if next < len(want) {
		return fmt.Errorf("missing %v", want[next:])
	}
	return nil
}

// has reports whether every org has received its versions.
// gotAll is a copy of what arrived, per org.
func (r *receiver) gotAll() map[string][]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string][]int64{}
	for org, vs := range r.got {
		out[org] = slices.Clone(vs)
	}
	return out
}

func (r *receiver) has(want map[string][]int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for org, versions := range want {
		if inOrder(r.got[org], versions) != nil {
			return false
		}
	}
	return true
}

// patience bounds the waits for deliveries, generously: under make test
// the machine also runs other packages' tests.
const patience = 90 * time.Second

func eventually(t *testing.T, within time.Duration, what string, ok func() bool, explain ...func()) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			for _, fn := range explain {
				fn()
			}
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type ledger struct {
	t     *testing.T
	db    *pgtest.DB
	store *postgres.Store
	mu    sync.Mutex
	heads map[string]int64
}

func newLedger(t *testing.T) *ledger {
	db := pgtest.New(t)
	t.Cleanup(func() {
		if t.Failed() {
			dumpOutbound(t, db)
		}
	})
	return &ledger{t: t, db: db, heads: map[string]int64{},
		store: postgres.NewStore(db.DB, system.Clock{}, []postgres.Projection{postgres.NewStatusProjection(db.DB)})}
}

// dumpOutbound logs the outbound state of a failed test: the endpoints'
// cursors, the orgs' rows, the events' transaction ids, and the sessions
// of the database with their transactions.
func dumpOutbound(t *testing.T, db *pgtest.DB) {
	for _, q := range []string{
		"SELECT url, tx_id::text, position FROM outbound_endpoints",
		"SELECT endpoint, org_id, delivered_version, target_version, attempts, next_attempt_at, lease_owner, lease_until FROM outbound_orgs ORDER BY 1, 2",
		"SELECT stream_id, count(*), min(tx_id)::text, max(tx_id)::text, max(position) FROM billing_events GROUP BY 1 ORDER BY 1",
		"SELECT pg_current_snapshot()::text",
		"SELECT pid, backend_xid::text, backend_xmin::text, state, left(query, 80) FROM pg_stat_activity WHERE datname = current_database()",
	} {
		rows, err := db.DB.QueryContext(context.Background(), q)
		if err != nil {
			t.Logf("%s: %v", q, err)
			continue
		}
		cols, _ := rows.Columns()
		t.Logf("%s:", q)
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err == nil {
				t.Logf("  %v", vals)
			}
		}
		rows.Close()
	}
}

// add appends n events to org, one transaction each, and returns their
// versions.
func (l *ledger) add(org string, n int) []int64 {
	l.t.Helper()
	var out []int64
	for range n {
		l.mu.Lock()
		head := l.heads[org]
		l.mu.Unlock()
		var c billing.Change = billing.CheckoutStarted{Tier: billing.TierPro, CheckoutSessionID: fmt.Sprintf("cs_%d", head)}
		if head == 0 {
			c = billing.OrgCreated{Name: org, OwnerUserID: "usr_1"}
		}
		if _, err := l.store.Append(context.Background(), ports.AppendRequest{StreamID: org, ExpectedVersion: head,
			Events: []ports.NewEvent{porttest.Event(l.t, c, time.Now())}}); err != nil {
			l.t.Fatal(err)
		}
		l.mu.Lock()
		l.heads[org] = head + 1
		l.mu.Unlock()
		out = append(out, head+1)
	}
	return out
}

// addConcurrently appends n events to each of orgs orgs (org_0, org_1,
// …), the orgs at once, and adds their versions to want.
func (l *ledger) addConcurrently(orgs, n int, want map[string][]int64) {
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for i := range orgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			org := fmt.Sprintf("org_%d", i)
			vs := l.add(org, n)
			mu.Lock()
			want[org] = append(want[org], vs...)
			mu.Unlock()
		}()
	}
	wg.Wait()
}

// fast are options for tests: short polls, retries and leases.
func fast(endpoints ...string) outbound.Options {
	return outbound.Options{Endpoints: endpoints, Secret: secret, Poll: 20 * time.Millisecond, IdlePoll: 200 * time.Millisecond,
		Timeout: time.Second, Lease: 2 * time.Second, Backoff: func(n int) time.Duration { return 30 * time.Millisecond << min(n-1, 4) }}
}

func start(t *testing.T, l *ledger, opt outbound.Options) *outbound.Dispatcher {
	t.Helper()
	return startOn(t, postgres.NewOutbound(l.db.DB), opt)
}

// startOn is start over the queue q.
func startOn(t *testing.T, q ports.OutboundQueue, opt outbound.Options) *outbound.Dispatcher {
	t.Helper()
	if opt.Log == nil {
		opt.Log = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	}
	d := outbound.New(q, opt)
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := d.Stop(ctx); err != nil {
			t.Error(err)
		}
	})
	return d
}

// TestEveryEventInOrderToEveryEndpoint appends to 8 orgs concurrently:
// two endpoints each get every event appended after they were first
// seen, per org in version order, signed; an org's earlier events are not
// sent.
func TestEveryEventInOrderToEveryEndpoint(t *testing.T) {
	l := newLedger(t)
	before := l.add("org_before", 3)
	_ = before
	a, b := newReceiver(t, nil), newReceiver(t, nil)
	m := metrics.New()
	opt := fast(a.URL, b.URL+"/hooks?token=x")
	opt.Metrics = m.Outbound(opt.Endpoints)
	start(t, l, opt)
	want := map[string][]int64{"org_before": l.add("org_before", 3)}
	l.addConcurrently(8, 15, want)
	eventually(t, patience, "every event at both endpoints", func() bool { return a.has(want) && b.has(want) }, func() {
		t.Logf("first endpoint got %v; second got %v; want %v", a.gotAll(), b.gotAll(), want)
	})
	a.check(t, want)
	b.check(t, want)
	if got := testutil.ToFloat64(opt.Metrics.Deliveries.WithLabelValues(a.URL, metrics.OutboundDelivered)); got < 123 {
		t.Errorf("delivered counter %v, want at least 123", got)
	}
	eventually(t, patience, "the oldest-undelivered gauge back at 0", func() bool {
		return testutil.ToFloat64(opt.Metrics.Oldest.WithLabelValues(a.URL)) == 0
	})
}

// TestDeliveredDirectlyWritesNoOrgState: while every attempt succeeds
// within the follower's wait, the follower delivers each org's events
// itself: no org ever has a row (nothing was due, nothing leased), and
// the cursor moved past every event.
func TestDeliveredDirectlyWritesNoOrgState(t *testing.T) {
	l := newLedger(t)
	r := newReceiver(t, nil)
	opt := fast(r.URL)
	opt.DirectWait = time.Minute // however slow the machine: nothing is left to the claims
	start(t, l, opt)
	want := map[string][]int64{}
	for i := range 6 {
		org := fmt.Sprintf("org_%d", i)
		want[org] = l.add(org, 5)
	}
	eventually(t, patience, "every event", func() bool { return r.has(want) })
	r.check(t, want)
	var rows int
	if err := l.db.QueryRow(`SELECT count(*) FROM outbound_orgs`).Scan(&rows); err != nil || rows != 0 {
		t.Errorf("%d rows in outbound_orgs (%v), want none: every event was delivered directly", rows, err)
	}
	var behind int
	eventually(t, patience, "the cursor past every event", func() bool {
		_ = l.db.QueryRow(`SELECT count(*) FROM billing_events e, outbound_endpoints c WHERE (e.tx_id, e.position) > (c.tx_id, c.position)`).Scan(&behind)
		return behind == 0
	})
}

// TestSlowOrgAndFailingEndpointHoldUpNoOne: while one org's first event
// hangs at the receiver, and while another endpoint answers 500 to
// everything, the other orgs' events arrive.
func TestSlowOrgAndFailingEndpointHoldUpNoOne(t *testing.T) {
	l := newLedger(t)
	unblock := make(chan struct{})
	a := newReceiver(t, func(org string, _ int64, _ int) int {
		if org == "org_slow" {
			<-unblock
		}
		return 200
	})
	failing := newReceiver(t, func(string, int64, int) int { return 500 })
	opt := fast(a.URL, failing.URL)
	opt.Timeout = 10 * time.Second
	opt.Lease = 30 * time.Second
	start(t, l, opt)
	want := map[string][]int64{"org_slow": l.add("org_slow", 3)}
	others := map[string][]int64{}
	for i := range 5 {
		org := fmt.Sprintf("org_%d", i)
		others[org] = l.add(org, 4)
		want[org] = others[org]
	}
	eventually(t, patience, "the other orgs' events, while org_slow hangs", func() bool { return a.has(others) })
	a.mu.Lock()
	if len(a.got["org_slow"]) != 0 {
		t.Errorf("org_slow delivered %v while its first event hangs", a.got["org_slow"])
	}
	a.mu.Unlock()
	close(unblock)
	eventually(t, patience, "org_slow's events", func() bool { return a.has(want) })
	a.check(t, want)
}

// TestReceiverDownThenBack: the receiver answers 503 for a while; attempts
// come at growing delays, the oldest-undelivered gauge grows, and once it
// is back everything arrives in order.
func TestReceiverDownThenBack(t *testing.T) {
	l := newLedger(t)
	var mu sync.Mutex
	down := true
	r := newReceiver(t, func(string, int64, int) int {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return 503
		}
		return 200
	})
	m := metrics.New()
	opt := fast(r.URL)
	opt.Metrics = m.Outbound(opt.Endpoints)
	start(t, l, opt)
	want := map[string][]int64{"org_a": l.add("org_a", 5), "org_b": l.add("org_b", 5)}
	eventually(t, patience, "five attempts at org_a:1", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.attempts["org_a:1"]) >= 5
	})
	eventually(t, patience, "the oldest-undelivered gauge above 0", func() bool {
		return testutil.ToFloat64(opt.Metrics.Oldest.WithLabelValues(r.URL)) > 0
	})
	r.mu.Lock()
	at := append([]time.Time(nil), r.attempts["org_a:1"]...)
	if n := len(r.attempts["org_a:2"]); n != 0 {
		t.Errorf("org_a:2 sent %d times before org_a:1 was delivered", n)
	}
	r.mu.Unlock()
	// No retry before its delay (30, 60, 120, 240 ms), and the delays grow.
	for i := 1; i < 5; i++ {
		if gap, delay := at[i].Sub(at[i-1]), opt.Backoff(i); gap < delay-5*time.Millisecond {
			t.Errorf("retry %d came %v after the attempt before, before its delay of %v", i, gap, delay)
		}
	}
	if first, last := at[1].Sub(at[0]), at[4].Sub(at[3]); last <= first {
		t.Errorf("the 4th retry's delay %v is not longer than the first's %v", last, first)
	}
	mu.Lock()
	down = false
	mu.Unlock()
	eventually(t, patience, "everything, once the receiver is back", func() bool { return r.has(want) })
	r.check(t, want)
	if got := testutil.ToFloat64(opt.Metrics.Deliveries.WithLabelValues(r.URL, metrics.OutboundRetry)); got < 8 {
		t.Errorf("retry counter %v, want at least 8", got)
	}
}

// TestGiveUpAfterTheWindowThenReplay: an event refused for longer than the
// window is marked failed, counted, and the org's next events go on;
// a replay from its version sends it and the later ones again, in order.
func TestGiveUpAfterTheWindowThenReplay(t *testing.T) {
	l := newLedger(t)
	var mu sync.Mutex
	refuse := true
	r := newReceiver(t, func(org string, v int64, _ int) int {
		mu.Lock()
		defer mu.Unlock()
		if refuse && v == 2 {
			return 500
		}
		return 200
	})
	m := metrics.New()
	opt := fast(r.URL)
	opt.GiveUpAfter = 300 * time.Millisecond
	opt.Metrics = m.Outbound(opt.Endpoints)
	start(t, l, opt)
	l.add("org_g", 4)
	eventually(t, patience, "versions 1, 3 and 4", func() bool { return r.has(map[string][]int64{"org_g": {1, 3, 4}}) })
	r.check(t, map[string][]int64{"org_g": {1, 3, 4}})
	var failures int
	if err := l.db.QueryRow(`SELECT count(*) FROM outbound_failures WHERE org_id = 'org_g' AND version = 2 AND attempts > 1`).Scan(&failures); err != nil || failures != 1 {
		t.Fatalf("failures recorded: %d %v", failures, err)
	}
	if got := testutil.ToFloat64(opt.Metrics.Deliveries.WithLabelValues(r.URL, metrics.OutboundFailed)); got != 1 {
		t.Errorf("failed counter %v, want 1", got)
	}
	mu.Lock()
	refuse = false
	mu.Unlock()
	head, err := postgres.NewOutbound(l.db.DB).Replay(context.Background(), []string{r.URL}, "org_g", 2)
	if err != nil || head != 4 {
		t.Fatalf("replay: %d %v", head, err)
	}
	want := []int64{1, 3, 4, 2, 3, 4}
	eventually(t, patience, "the replay", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.got["org_g"]) == len(want)
	})
	r.mu.Lock()
	if fmt.Sprint(r.got["org_g"]) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", r.got["org_g"], want)
	}
	r.mu.Unlock()
}

// TestReplayOfAnOrgDeliveredDirectly: an org's row stays at the version
// its last queued delivery reached while later events go out directly;
// a replay from a later version sends that version on, not the ones the
// stale row is behind by.
func TestReplayOfAnOrgDeliveredDirectly(t *testing.T) {
	l := newLedger(t)
	r := newReceiver(t, func(org string, v int64, attempt int) int {
		if v == 1 && attempt == 1 {
			return 500 // v1 goes through the queue: the org gets a row
		}
		return 200
	})
	opt := fast(r.URL)
	opt.DirectWait = time.Minute
	start(t, l, opt)
	l.add("org_s", 1)
	eventually(t, patience, "version 1, retried", func() bool { return r.has(map[string][]int64{"org_s": {1}}) })
	var rowAt int64
	eventually(t, patience, "the org's row caught up", func() bool {
		_ = l.db.QueryRow(`SELECT delivered_version FROM outbound_orgs WHERE org_id = 'org_s' AND delivered_version = target_version`).Scan(&rowAt)
		return rowAt == 1
	})
	l.add("org_s", 3)
	eventually(t, patience, "versions 2 to 4, directly", func() bool { return r.has(map[string][]int64{"org_s": {1, 2, 3, 4}}) })
	_ = l.db.QueryRow(`SELECT delivered_version FROM outbound_orgs WHERE org_id = 'org_s'`).Scan(&rowAt)
	if rowAt != 1 {
		t.Fatalf("the row is at %d: versions 2 to 4 were not delivered directly", rowAt)
	}
	if _, err := postgres.NewOutbound(l.db.DB).Replay(context.Background(), []string{r.URL}, "org_s", 4); err != nil {
		t.Fatal(err)
	}
	eventually(t, patience, "the replay of version 4", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.got["org_s"]) == 5
	})
	time.Sleep(300 * time.Millisecond) // anything more would come now
	r.mu.Lock()
	defer r.mu.Unlock()
	if got := fmt.Sprint(r.got["org_s"]); got != "[1 2 3 4 4]" {
		t.Errorf("got %s, want [1 2 3 4 4]: the replay starts at version 4", got)
	}
}

// claimCounter counts the claims a dispatcher makes.
type claimCounter struct {
	ports.OutboundQueue
	claims, follows atomic.Int64
}

func (q *claimCounter) Follow(ctx context.Context, endpoint, owner string, limit int, lease time.Duration, deliver ports.DeliverFunc) (ports.OutboundFollowed, error) {
	q.follows.Add(1)
	return q.OutboundQueue.Follow(ctx, endpoint, owner, limit, lease, deliver)
}

func (q *claimCounter) Claim(ctx context.Context, endpoint, owner string, n int, lease time.Duration) ([]ports.OutboundLease, error) {
	q.claims.Add(1)
	return q.OutboundQueue.Claim(ctx, endpoint, owner, n, lease)
}

// TestDirectDeliveriesWakeNoClaims: orgs the follower delivers itself
// free their slots one after another, with nothing due; the claimer is
// not woken for each (it claimed after every one: ~20 claims here),
// only by its poll.
func TestDirectDeliveriesWakeNoClaims(t *testing.T) {
	l := newLedger(t)
	const orgs = 20
	r := newReceiver(t, func(org string, v int64, attempt int) int {
		var i int
		_, _ = fmt.Sscanf(org, "org_w%d", &i)
		time.Sleep(time.Duration(i) * 30 * time.Millisecond) // slots free 30 ms apart
		return 200
	})
	opt := fast(r.URL)
	opt.Poll, opt.DirectWait = time.Second, 10*time.Second
	q := &claimCounter{OutboundQueue: postgres.NewOutbound(l.db.DB)}
	startOn(t, q, opt)
	want := map[string][]int64{}
	for i := range orgs {
		org := fmt.Sprintf("org_w%d", i)
		want[org] = l.add(org, 1)
	}
	before, began := q.claims.Load(), time.Now()
	eventually(t, patience, "every org delivered", func() bool { return r.has(want) })
	claims, polls := q.claims.Load()-before, int64(time.Since(began)/opt.Poll)+1
	r.check(t, want)
	if claims > polls {
		t.Errorf("%d claims while %d orgs were delivered directly in %v: at most %d (one a poll)", claims, orgs, time.Since(began).Round(time.Millisecond), polls)
	}
}

// TestIdleDispatcherReadsLessOften: with nothing to do, the follower and
// the claimer wait longer after each empty read, up to IdlePoll (every
// Poll, they would each read ~75 times in 1.5 s here).
func TestIdleDispatcherReadsLessOften(t *testing.T) {
	l := newLedger(t)
	r := newReceiver(t, func(string, int64, int) int { return 200 })
	opt := fast(r.URL)
	opt.IdlePoll = 400 * time.Millisecond
	q := &claimCounter{OutboundQueue: postgres.NewOutbound(l.db.DB)}
	startOn(t, q, opt)
	time.Sleep(1500 * time.Millisecond)
	// 20, 40, ..., 320 ms, then 400 ms: about 8 reads each.
	if f, c := q.follows.Load(), q.claims.Load(); f > 15 || c > 15 {
		t.Errorf("idle for 1.5 s: %d reads of the ledger and %d claims, want at most 15 each", f, c)
	}
	// Work brings the polls back: an org appended meanwhile is delivered.
	want := map[string][]int64{"org_idle": l.add("org_idle", 3)}
	eventually(t, patience, "the org delivered", func() bool { return r.has(want) })
	r.check(t, want)
}

// TestAppendedWakesAnIdleFollower: a follower waiting long after empty
// reads reads the ledger at once when this instance appends
// (Dispatcher.Appended), instead of at the end of its wait.
func TestAppendedWakesAnIdleFollower(t *testing.T) {
	l := newLedger(t)
	r := newReceiver(t, func(string, int64, int) int { return 200 })
	opt := fast(r.URL)
	opt.IdlePoll = time.Minute
	q := &claimCounter{OutboundQueue: postgres.NewOutbound(l.db.DB)}
	// The store may report appends before the dispatcher starts: that
	// never blocks.
	unstarted := outbound.New(q, opt)
	unstarted.Appended()
	unstarted.Appended()
	d := startOn(t, q, opt)
	// Waits of 20, 40, ..., 1,280 ms end about 2.5 s in; the next is 2.56 s.
	time.Sleep(3 * time.Second)
	before := q.follows.Load()
	time.Sleep(500 * time.Millisecond)
	if n := q.follows.Load() - before; n != 0 {
		t.Fatalf("%d reads of the ledger in 500 ms of an idle follower 3 s in, want none (it should be in a 2.56 s wait)", n)
	}
	want := map[string][]int64{"org_wake": l.add("org_wake", 1)}
	appended := time.Now()
	d.Appended()
	eventually(t, patience, "the org delivered", func() bool { return r.has(want) })
	if took := time.Since(appended); took > time.Second {
		t.Errorf("delivered %v after Appended, want within 1 s (the wait had more than 1 s left)", took.Round(time.Millisecond))
	}
	r.check(t, want)
}

// failingQueue is a queue whose database is gone.
type failingQueue struct{ ports.OutboundQueue }

func (failingQueue) Follow(context.Context, string, string, int, time.Duration, ports.DeliverFunc) (ports.OutboundFollowed, error) {
	return ports.OutboundFollowed{}, errors.New("connection refused")
}

func (failingQueue) Claim(context.Context, string, string, int, time.Duration) ([]ports.OutboundLease, error) {
	return nil, errors.New("connection refused")
}

// TestLogsNeverNameTheEndpointsPassword: the warnings of a dispatcher
// whose database fails name the endpoint without the password of its URL.
func TestLogsNeverNameTheEndpointsPassword(t *testing.T) {
	l := newLedger(t)
	core, logs := observer.New(zap.WarnLevel)
	opt := fast("http://hook:s3cret-pass@127.0.0.1:9/events")
	opt.Log = zap.New(core)
	startOn(t, failingQueue{postgres.NewOutbound(l.db.DB)}, opt)
	eventually(t, patience, "a failed claim and a failed read logged", func() bool {
		return logs.FilterMessage("outbound: claiming orgs failed").Len() > 0 && logs.FilterMessage("outbound: reading the ledger failed").Len() > 0
	})
	for _, e := range logs.All() {
		for k, v := range e.ContextMap() {
			if strings.Contains(fmt.Sprint(v), "s3cret-pass") {
				t.Errorf("%q logs the endpoint's password in %s: %v", e.Message, k, v)
			}
		}
	}
}

// TestTwoDispatchersOneDatabase: two instances on one database, a
// receiver that is slow at random and refuses some attempts: no event is
// ever in flight twice at once, and nothing is missed or reordered.
func TestTwoDispatchersOneDatabase(t *testing.T) {
	l := newLedger(t)
	r := newReceiver(t, func(org string, v int64, attempt int) int {
		time.Sleep(time.Duration((v*7+int64(len(org)))%5) * 3 * time.Millisecond)
		if attempt == 1 && v%4 == 0 {
			return 500
		}
		return 200
	})
	for _, owner := range []string{"one", "two"} {
		opt := fast(r.URL)
		opt.Owner = owner
		opt.Concurrency = 4
		start(t, l, opt)
	}
	want := map[string][]int64{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			org := fmt.Sprintf("org_%02d", i)
			vs := l.add(org, 12)
			mu.Lock()
			want[org] = vs
			mu.Unlock()
		}()
	}
	wg.Wait()
	eventually(t, patience, "every event", func() bool { return r.has(want) })
	r.check(t, want)
}

// TestAKilledInstancesLeasesAreTakenOver: leases held by an instance that
// died are taken over when they expire.
func TestAKilledInstancesLeasesAreTakenOver(t *testing.T) {
	l := newLedger(t)
	r := newReceiver(t, nil)
	q := postgres.NewOutbound(l.db.DB)
	if err := q.Register(context.Background(), r.URL); err != nil {
		t.Fatal(err)
	}
	want := map[string][]int64{"org_k": l.add("org_k", 3)}
	eventually(t, patience, "the follower", func() bool {
		res, err := q.Follow(context.Background(), r.URL, "dead", 100, time.Minute, nil)
		return err == nil && res.Read > 0 && res.Due
	})
	leases, err := q.Claim(context.Background(), r.URL, "dead", 10, 700*time.Millisecond)
	if err != nil || len(leases) != 1 {
		t.Fatalf("claim: %v %v", leases, err)
	}
	claimed := time.Now()
	start(t, l, fast(r.URL))
	eventually(t, patience, "the events, after the lease expired", func() bool { return r.has(want) })
	if d := time.Since(claimed); d < 600*time.Millisecond {
		t.Errorf("delivered %v after another owner's claim of 700 ms", d)
	}
	r.check(t, want)
}

// TestALateCommitIsNotSkipped holds open a transaction that appended an
// event while later ones commit: it is delivered once it commits,
// although later positions were read before it.
func TestALateCommitIsNotSkipped(t *testing.T) {
	l := newLedger(t)
	checkLateCommitDelivered(t, l, l.db.DB.DB)
}

// checkLateCommitDelivered appends org_late's first event in a transaction
// of conn's, holds it open while org_early's three events are appended and
// the follower polls, then commits it: every event must arrive.
func checkLateCommitDelivered(t *testing.T, l *ledger, conn *sql.DB) {
	t.Helper()
	r := newReceiver(t, nil)
	start(t, l, fast(r.URL))
	tx, err := conn.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck // committed below
	var latePosition int64
	if err := tx.QueryRow(`INSERT INTO billing_events (stream_id, stream_version, type, schema_version, data, metadata, occurred_at, recorded_at, hash)
		VALUES ('org_late', 1, 'OrgCreated', 1, '{"name":"late"}', '{}', now(), now(), '\x00') RETURNING position`).Scan(&latePosition); err != nil {
		t.Fatal(err)
	}
	want := map[string][]int64{"org_early": l.add("org_early", 3)}
	time.Sleep(300 * time.Millisecond) // the follower polls meanwhile
	var later int64
	_ = l.db.QueryRow(`SELECT min(position) FROM billing_events WHERE stream_id = 'org_early'`).Scan(&later)
	if later <= latePosition {
		t.Fatalf("the late event's position %d is not before the others' %d", latePosition, later)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	want["org_late"] = []int64{1}
	eventually(t, patience, "the late event and the others", func() bool { return r.has(want) })
	r.check(t, want)
}

// TestALongTransactionInAnotherDatabaseHoldsUpNothing: a transaction
// with an id, open for the whole test in another database of the cluster
// (pg_snapshot_xmin is the cluster's: it would hold every endpoint back
// until that transaction ends), does not delay delivery; nor does it make
// a new endpoint start before it, with events appended before the
// endpoint was added (once a flake of TestEveryEventInOrderToEveryEndpoint
// under make test, whose other packages hold such transactions).
func TestALongTransactionInAnotherDatabaseHoldsUpNothing(t *testing.T) {
	l := newLedger(t)
	other, err := sql.Open("pgx", pgtest.ServerURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	long, err := other.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer long.Rollback()                                               //nolint:errcheck // rolled back at the end
	if _, err := long.Exec("SELECT pg_current_xact_id()"); err != nil { // an id, as any writer has
		t.Fatal(err)
	}
	l.add("org_before", 2)
	r := newReceiver(t, nil)
	start(t, l, fast(r.URL))
	want := map[string][]int64{"org_a": l.add("org_a", 3), "org_b": l.add("org_b", 2), "org_before": l.add("org_before", 1)}
	eventually(t, 15*time.Second, "every event while another database's transaction stays open", func() bool { return r.has(want) })
	r.check(t, want)
}

// TestALateCommitOfAnotherRoleIsNotSkipped: a late commit by a session of
// another role (the superuser's) holds the follower back as the service's
// own do: pg_stat_activity shows every session's transaction id to every
// role.
func TestALateCommitOfAnotherRoleIsNotSkipped(t *testing.T) {
	l := newLedger(t)
	super, err := sql.Open("pgx", l.db.SuperURL)
	if err != nil {
		t.Fatal(err)
	}
	defer super.Close()
	checkLateCommitDelivered(t, l, super)
}

// TestRedirectsTimeoutsAndBodyLimit: a redirect is a failed attempt (not
// followed), so is an answer later than the timeout; a body over the limit
// is given up at once.
func TestRedirectsTimeoutsAndBodyLimit(t *testing.T) {
	l := newLedger(t)
	elsewhere := newReceiver(t, nil)
	r := newReceiver(t, func(org string, v int64, attempt int) int {
		switch {
		case v == 1 && attempt == 1:
			return http.StatusTemporaryRedirect
		case v == 2 && attempt == 1:
			time.Sleep(700 * time.Millisecond)
		}
		return 200
	})
	r.redirect = elsewhere.URL // which must see nothing
	opt := fast(r.URL)
	opt.Timeout = 300 * time.Millisecond
	start(t, l, opt)
	want := map[string][]int64{"org_r": l.add("org_r", 3)}
	eventually(t, patience, "every event", func() bool { return r.has(want) })
	elsewhere.check(t, nil)
	r.mu.Lock()
	if n := len(r.attempts["org_r:2"]); n < 2 {
		t.Errorf("org_r:2 attempted %d times; the first answer came after the timeout", n)
	}
	r.mu.Unlock()

	big := newReceiver(t, nil)
	opt = fast(big.URL)
	opt.MaxBody = 100
	opt.Log = zaptest.NewLogger(t)
	start(t, l, opt)
	l.add("org_big", 2)
	eventually(t, patience, "both events given up", func() bool {
		var n int
		_ = l.db.QueryRow(`SELECT count(*) FROM outbound_failures WHERE endpoint = ?`, big.URL).Scan(&n)
		return n == 2
	})
	big.check(t, nil)
}

// TestConnectionsAreKeptForTheNextEvents: with more orgs in flight than
// net/http keeps idle connections by default (100), every connection
// opened stays for the next events: none is closed after its answer and
// dialled again, so no more are dialled than were in use at once.
func TestConnectionsAreKeptForTheNextEvents(t *testing.T) {
	const orgs = 150
	l := newLedger(t)
	var (
		dialled      atomic.Int64
		inFlight     atomic.Int64
		mostInFlight atomic.Int64 // the most requests the receiver held at once
	)
	r := newUnstartedReceiver(t, func(string, int64, int) int {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := mostInFlight.Load(); n > m && !mostInFlight.CompareAndSwap(m, n); m = mostInFlight.Load() {
		}
		time.Sleep(500 * time.Millisecond) // long enough for every org's attempt to be under way at once
		return 200
	})
	r.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dialled.Add(1)
		}
	}
	r.Start()
	start(t, l, fast(r.URL))
	want := map[string][]int64{}
	wave := func() {
		l.addConcurrently(orgs, 1, want)
		eventually(t, patience, "every event delivered", func() bool { return r.has(want) })
	}
	for range 3 {
		wave()
	}
	r.check(t, want)
	// Kept connections: as many dialled as requests were in flight at
	// once (a few more where a request dialled while another's connection
	// was on its way back to the pool).
	if n, most := dialled.Load(), mostInFlight.Load(); most < 100 || n > most+orgs/10 {
		t.Errorf("%d connections dialled for %d events, at most %d of them in flight at once: want more than 100 at once, each connection kept and used again", n, 3*orgs, most)
	}
}
