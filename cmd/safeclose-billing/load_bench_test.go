package main_test

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/safeclose/billing/adapters/postgres"
	"github.com/safeclose/billing/adapters/postgres/pgtest"
	"github.com/safeclose/billing/adapters/stripe"
	"github.com/safeclose/billing/adapters/system"
	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
	"github.com/safeclose/billing/ports/porttest"
)

// pgbenchScript is the bare SQL transaction of one webhook: the dedupe
// insert, a ~1 KB jsonb event insert under UNIQUE (stream, version), the
// read-model upsert.
const pgbenchScript = `\set k random(1, 2000000000)
\set org random(1, 1000)
BEGIN;
INSERT INTO bench_keys VALUES ('k' || :k) ON CONFLICT DO NOTHING;
INSERT INTO bench_events (stream, version, data) VALUES ('o' || :org, :k, jsonb_build_object('d', repeat('x', 900))) ON CONFLICT DO NOTHING;
INSERT INTO bench_status VALUES ('o' || :org, :k, jsonb_build_object('d', repeat('x', 300))) ON CONFLICT (org) DO UPDATE SET version = EXCLUDED.version, data = EXCLUDED.data;
END;
`

// BenchmarkServeUnderLoad runs the built binary and posts signed
// invoice.paid events for 1,000 linked orgs from 16 connections for
// BENCH_SECONDS (default 10), then runs pgbench with the equivalent bare
// transaction at the same concurrency on the same database, BENCH_ROUNDS
// times (default 3); it reports the round of the median ratio, the CPU
// each party spent per webhook, and the service's peak RSS. With
// BENCH_CPUPROFILE=FILE the binary is built with -tags benchprofile and
// writes its CPU profile of the whole run to FILE (a path relative to the
// repository's root, or absolute) for go tool pprof.
func BenchmarkServeUnderLoad(b *testing.B) {
	db := pgtest.New(b)
	factory, fake := fakeStripe(b)
	specs := linkedOrgs(b, db, "org_l")
	addr := freeAddr(b)
	serve := exec.Command(binary, "serve", "--no-migrate")
	serve.Env = serviceEnv(db.URL, addr, fake.URL, "whsec_l", "warn")
	profile := profilePath()
	if profile != "" {
		serve.Env = append(serve.Env, "BENCH_CPUPROFILE="+profile)
	}
	if err := serve.Start(); err != nil {
		b.Fatal(err)
	}
	defer serve.Process.Kill()
	waitReady(b, "http://"+addr+"/readyz")
	seconds := 10
	if v, err := strconv.Atoi(os.Getenv("BENCH_SECONDS")); err == nil && v > 0 {
		seconds = v
	}
	rounds := 3
	if v, err := strconv.Atoi(os.Getenv("BENCH_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	// Every request is built and signed before the clock starts, and each
	// worker writes them on its own keep-alive connection and reads the
	// answers with net/http's parser: like pgbench's, the load generator's
	// own work takes as little of the two cores as it can (net/http's
	// client took 75-100 µs of CPU a request). Each round has its own
	// events: every delivery must be applied.
	load := func(round int) (rate, servicePer, pgPer, genPer float64) {
		requests := invoicesPaid(factory, specs, addr, fmt.Sprint("l", round))
		cpu0, pg0, gen0 := cpuSeconds(b, serve.Process.Pid), postgresCPUSeconds(), cpuSeconds(b, os.Getpid())
		start := time.Now()
		applied, failed := sendAll(b, addr, requests, start.Add(time.Duration(seconds)*time.Second))
		if failed > 0 {
			b.Errorf("round %d: %d deliveries not applied", round, failed)
		}
		k := float64(applied)
		return k / time.Since(start).Seconds(), (cpuSeconds(b, serve.Process.Pid) - cpu0) / k * 1e6,
			(postgresCPUSeconds() - pg0) / k * 1e6, (cpuSeconds(b, os.Getpid()) - gen0) / k * 1e6
	}
	// Rounds of webhooks then pgbench, one after the other, and the round
	// of the median ratio: this machine is shared, and one run can be far
	// off.
	type result struct{ rate, tps, service, pg, pgbench, gen float64 }
	var results []result
	b.ResetTimer()
	for round := range rounds {
		var r result
		r.rate, r.service, r.pg, r.gen = load(round)
		pgb0 := postgresCPUSeconds()
		r.tps = pgbench(b, db.URL, seconds)
		r.pgbench = (postgresCPUSeconds() - pgb0) / (r.tps * float64(seconds)) * 1e6
		fmt.Fprintf(os.Stderr, "serve round %d: webhooks %5.0f/s   pgbench %5.0f tps   ratio %.2f\n", round+1, r.rate, r.tps, r.rate/r.tps)
		results = append(results, r)
	}
	b.StopTimer()
	if profile != "" {
		writeProfile(b, serve.Process, profile)
	}
	slices.SortFunc(results, func(x, y result) int { return cmp.Compare(x.rate/x.tps, y.rate/y.tps) })
	m := results[len(results)/2]
	rss := peakRSS(b, serve.Process.Pid)
	b.ReportMetric(m.rate, "webhooks/s")
	b.ReportMetric(m.tps, "pgbench-tps")
	b.ReportMetric(rss, "peak-RSS-MiB")
	b.ReportMetric(m.service, "service-cpu-µs/webhook")
	b.ReportMetric(m.pg, "postgres-cpu-µs/webhook")
	b.ReportMetric(m.pgbench, "postgres-cpu-µs/pgbench-tx")
	fmt.Fprintf(os.Stderr, "serve: webhooks c=16 over %d orgs %7.0f/s   pgbench same tx c=16 %7.0f tps   ratio %.2f (median of %d rounds, from %.2f to %.2f)   peak RSS %.0f MiB   CPU per webhook: service %.0f µs, Postgres %.0f µs (per pgbench tx %.0f µs), load generator %.0f µs\n",
		len(specs), m.rate, m.tps, m.rate/m.tps, len(results), results[0].rate/results[0].tps, results[len(results)-1].rate/results[len(results)-1].tps,
		rss, m.service, m.pg, m.pgbench, m.gen)
}

// profilePath is BENCH_CPUPROFILE as an absolute path (a relative one is
// relative to the repository's root, where make bench runs), with no file
// there yet; "" when unset.
func profilePath() string {
	profile := os.Getenv("BENCH_CPUPROFILE")
	if profile == "" {
		return ""
	}
	if !filepath.IsAbs(profile) {
		profile = filepath.Join("..", "..", profile)
	}
	profile, _ = filepath.Abs(profile)
	os.Remove(profile)
	return profile
}

// writeProfile asks the served binary (built with -tags benchprofile) for
// its CPU profile, written to path, and waits for it.
func writeProfile(b *testing.B, p *os.Process, path string) {
	if err := p.Signal(syscall.SIGUSR1); err != nil {
		b.Fatal(err)
	}
	for range 100 {
		if _, err := os.Stat(path); err == nil {
			fmt.Fprintf(os.Stderr, "serve: CPU profile of the served binary in %s\n", path)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Fatalf("no CPU profile in %s", path)
}

// postgresCPUSeconds is the CPU time used so far by this machine's live
// postgres processes (every cluster's: the bench runs one).
func postgresCPUSeconds() float64 {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	total := 0.0
	for _, f := range stats {
		stat, err := os.ReadFile(f)
		if err != nil || !bytes.Contains(stat, []byte("(postgres)")) {
			continue
		}
		// Live processes' own time, and what the postmaster reaped of
		// backends that exited (pgbench's).
		total += ticks(stat, ownTime) + ticks(stat, reapedTime)
	}
	return total
}

// cpuSeconds is the user and system CPU time the process has used.
func cpuSeconds(b *testing.B, pid int) float64 {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	return ticks(stat, ownTime)
}

// Where a /proc/PID/stat line keeps CPU times, counting the fields after
// the command name (which is in parentheses) from 0: utime and stime, the
// process's own; cutime and cstime, its children's that it waited for.
const (
	ownTime    = 11
	reapedTime = 13
)

// ticks reads the user and system time at field (ownTime or reapedTime)
// of a /proc/PID/stat line, in seconds (clock ticks are 1/100 s on Linux).
func ticks(stat []byte, field int) float64 {
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
	ut, _ := strconv.ParseFloat(f[field], 64)
	st, _ := strconv.ParseFloat(f[field+1], 64)
	return (ut + st) / 100
}

func peakRSS(b *testing.B, pid int) float64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(status)
	if m == nil {
		b.Fatal("no VmHWM")
	}
	kb, _ := strconv.Atoi(string(m[1]))
	return float64(kb) / 1024
}

func pgbench(b *testing.B, url string, seconds int) float64 {
	bin, err := exec.LookPath("pgbench")
	if err != nil {
		matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pgbench")
		if len(matches) == 0 {
			b.Fatal("pgbench not found (Debian's postgresql package has it)")
		}
		bin = matches[len(matches)-1]
	}
	conn, err := postgres.Open(url, postgres.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Exec(`CREATE TABLE IF NOT EXISTS bench_keys (key text PRIMARY KEY);
		CREATE TABLE IF NOT EXISTS bench_events (id bigserial PRIMARY KEY, stream text, version bigint, data jsonb, UNIQUE (stream, version));
		CREATE TABLE IF NOT EXISTS bench_status (org text PRIMARY KEY, version bigint, data jsonb)`); err != nil {
		b.Fatal(err)
	}
	script := filepath.Join(b.TempDir(), "webhook.sql")
	if err := os.WriteFile(script, []byte(pgbenchScript), 0o644); err != nil {
		b.Fatal(err)
	}
	out, err := exec.Command(bin, "-n", "-c", "16", "-j", "2", "-T", strconv.Itoa(seconds), "-f", script, url).CombinedOutput()
	if err != nil {
		b.Fatalf("pgbench: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`tps = ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		b.Fatalf("pgbench output: %s", out)
	}
	tps, _ := strconv.ParseFloat(strings.TrimSpace(string(m[1])), 64)
	return tps
}

// The webhook load's shape: 16 workers, each on a keep-alive connection
// of its own, up to 4,000 requests each.
const loadWorkers, loadPerWorker = 16, 4000

// invoicesPaid builds and signs, before any clock starts, each worker's
// requests: invoice.paid for the orgs of specs in turn, as bytes on the
// wire to addr, their ids unique to run.
func invoicesPaid(factory *stripe.Factory, specs []stripe.SubscriptionSpec, addr, run string) [][][]byte {
	requests := make([][][]byte, loadWorkers)
	for w := range requests {
		requests[w] = make([][]byte, loadPerWorker)
		for i := range requests[w] {
			spec := specs[(w*7919+i)%len(specs)]
			p := factory.Event(fmt.Sprintf("evt_%s_%d_%d", run, w, i), "invoice.paid", time.Now().Add(-time.Minute),
				factory.Invoice(spec, stripe.InvoiceSpec{InvoiceID: fmt.Sprintf("in_%s_%d_%d", run, w, i), Amount: 4900, Paid: true}))
			head := fmt.Sprintf("POST /api/billing/webhook HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nStripe-Signature: %s\r\nContent-Length: %d\r\n\r\n",
				addr, stripe.Sign(p, "whsec_l", time.Now()), len(p))
			requests[w][i] = append([]byte(head), p...)
		}
	}
	return requests
}

// sendAll writes each worker's requests on a connection of its own until
// deadline, reading the answers with net/http's parser, and counts the
// deliveries applied and the others.
func sendAll(b *testing.B, addr string, requests [][][]byte, deadline time.Time) (applied, failed int64) {
	var n, bad atomic.Int64
	var wg sync.WaitGroup
	for _, reqs := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				b.Error(err)
				return
			}
			defer conn.Close()
			answers := bufio.NewReader(conn)
			for _, req := range reqs {
				if !time.Now().Before(deadline) {
					return
				}
				if _, err := conn.Write(req); err != nil {
					b.Error(err)
					return
				}
				res, err := http.ReadResponse(answers, nil)
				if err != nil {
					b.Error(err)
					return
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != 200 || !bytes.Contains(body, []byte(`"outcome":"applied"`)) {
					bad.Add(1)
					continue
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	return n.Load(), bad.Load()
}

// linkedOrgs creates 1,000 orgs named prefix0, prefix1, … in db, each on
// PRO with a Stripe customer and subscription of its own, and returns
// their subscriptions: the orgs the webhook load pays invoices for.
func linkedOrgs(b *testing.B, db *pgtest.DB, prefix string) []stripe.SubscriptionSpec {
	store := postgres.NewStore(db.DB, system.Clock{}, []postgres.Projection{postgres.NewStatusProjection(db.DB), postgres.NewLinksProjection(db.DB),
		postgres.OrgsProjection{}, postgres.MembershipsProjection{}})
	specs := make([]stripe.SubscriptionSpec, 1000)
	for i := range specs {
		org := fmt.Sprint(prefix, i)
		specs[i] = stripe.SubscriptionSpec{OrgID: org, CustomerID: "cus_" + org, SubscriptionID: "sub_" + org, Tier: billing.TierPro}
		if _, err := store.Append(context.Background(), ports.AppendRequest{StreamID: org, Events: []ports.NewEvent{
			porttest.Event(b, billing.OrgCreated{Name: org, OwnerUserID: "usr_x"}, time.Now()),
			porttest.Event(b, billing.PlanActivated{CheckoutSessionID: "cs", CustomerID: specs[i].CustomerID, SubscriptionID: specs[i].SubscriptionID, Tier: billing.TierPro}, time.Now().Add(-time.Hour)),
		}}); err != nil {
			b.Fatal(err)
		}
	}
	return specs
}
