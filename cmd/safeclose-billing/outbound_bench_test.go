package main_test

import (
	"bytes"
	"cmp"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/safeclose/billing/adapters/outbound/signature"
	"github.com/safeclose/billing/adapters/postgres/pgtest"
)

// BenchmarkServeUnderLoadOutbound runs the binary under the webhook load
// of BenchmarkServeUnderLoad (signed invoice.paid for 1,000 linked orgs,
// 16 connections, BENCH_SECONDS each), in rounds (BENCH_ROUNDS, default
// 3) of one run without an outbound endpoint and one with an endpoint in
// this process: it reports the median ratio of the webhook rates (with
// over without) and the lag from each event's recordedAt to its delivery
// (p50, p99, max) over the runs with the endpoint. With
// BENCH_CPUPROFILE=FILE (as for BenchmarkServeUnderLoad) the last run with
// the endpoint writes the served binary's CPU profile to FILE.
func BenchmarkServeUnderLoadOutbound(b *testing.B) {
	db := pgtest.New(b)
	factory, fake := fakeStripe(b)
	specs := linkedOrgs(b, db, "org_o")
	var (
		lagMu     sync.Mutex
		lags      []time.Duration
		seen      = map[string]int{} // deliveries by endpoint and event id
		delivered atomic.Int64
	)
	// The receiver stands in for another machine: it reads only the
	// recordedAt it needs (a JSON decode of every body took a few percent
	// of the two cores the service is measured on).
	bodies := sync.Pool{New: func() any { return new(bytes.Buffer) }}
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := bodies.Get().(*bytes.Buffer)
		defer bodies.Put(buf)
		buf.Reset()
		_, _ = buf.ReadFrom(r.Body)
		at := recordedAt(buf.Bytes())
		if at.IsZero() {
			b.Errorf("a delivery without a recordedAt: %.200s", buf.Bytes())
		}
		lag := time.Since(at)
		lagMu.Lock()
		lags = append(lags, lag)
		seen[r.URL.Path+" "+r.Header.Get(signature.EventIDHeader)]++
		lagMu.Unlock()
		delivered.Add(1)
	}))
	defer hooks.Close()
	seconds, rounds := 10, 3
	if v, err := strconv.Atoi(os.Getenv("BENCH_SECONDS")); err == nil && v > 0 {
		seconds = v
	}
	if v, err := strconv.Atoi(os.Getenv("BENCH_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	addr := freeAddr(b)
	type cost struct{ service, pg float64 } // CPU µs per webhook, from the load's start to the last delivery
	run := func(round int, endpoint string) (rate float64, events int64, c cost) {
		base := delivered.Load()
		serve := exec.Command(binary, "serve", "--no-migrate")
		serve.Env = serviceEnv(db.URL, addr, fake.URL, "whsec_l", "warn")
		profile := profilePath()
		if endpoint != "" {
			serve.Env = append(serve.Env, "OUTBOUND_WEBHOOK_URLS="+endpoint, "OUTBOUND_WEBHOOK_SECRET=whsec_bench")
			if profile != "" {
				serve.Env = append(serve.Env, "BENCH_CPUPROFILE="+profile)
			}
		}
		serve.Stdout, serve.Stderr = os.Stderr, os.Stderr
		if err := serve.Start(); err != nil {
			b.Fatal(err)
		}
		defer func() {
			_ = serve.Process.Signal(syscall.SIGTERM)
			_ = serve.Wait()
		}()
		waitReady(b, "http://"+addr+"/readyz")
		requests := invoicesPaid(factory, specs, addr, fmt.Sprintf("o%t_%d", endpoint != "", round))
		var before int64
		_ = db.QueryRow("SELECT count(*) FROM billing_events").Scan(&before)
		cpu0, pg0 := cpuSeconds(b, serve.Process.Pid), postgresCPUSeconds()
		start := time.Now()
		applied, failed := sendAll(b, addr, requests, start.Add(time.Duration(seconds)*time.Second))
		rate = float64(applied) / time.Since(start).Seconds()
		if failed > 0 {
			b.Errorf("round %d: %d deliveries not applied", round, failed)
		}
		var after int64
		_ = db.QueryRow("SELECT count(*) FROM billing_events").Scan(&after)
		if endpoint != "" { // every event delivered before SIGTERM, so that every lag counts
			for wait := time.Now().Add(30 * time.Second); delivered.Load()-base < after-before && time.Now().Before(wait); {
				time.Sleep(10 * time.Millisecond)
			}
			if got := delivered.Load() - base; got < after-before {
				b.Errorf("round %d: %d of %d events delivered 30 s after the load", round, got, after-before)
			}
		}
		k := float64(applied)
		c = cost{(cpuSeconds(b, serve.Process.Pid) - cpu0) / k * 1e6, (postgresCPUSeconds() - pg0) / k * 1e6}
		if endpoint != "" && profile != "" {
			writeProfile(b, serve.Process, profile)
		}
		return rate, after - before, c
	}
	type result struct {
		without, with float64
		cw, cwo       cost
	}
	var results []result
	var sent int64
	b.ResetTimer()
	for round := range rounds {
		var r result
		r.without, _, r.cwo = run(round, "")
		var events int64
		r.with, events, r.cw = run(round, fmt.Sprintf("%s/round%d", hooks.URL, round))
		sent += events
		fmt.Fprintf(os.Stderr, "serve outbound round %d: webhooks without an endpoint %5.0f/s, with one %5.0f/s, ratio %.2f; CPU per webhook without: service %.0f µs, Postgres %.0f µs; with: service %.0f µs, Postgres %.0f µs\n",
			round+1, r.without, r.with, r.with/r.without, r.cwo.service, r.cwo.pg, r.cw.service, r.cw.pg)
		results = append(results, r)
	}
	b.StopTimer()
	slices.SortFunc(results, func(x, y result) int { return cmp.Compare(x.with/x.without, y.with/y.without) })
	m := results[len(results)/2]
	lagMu.Lock()
	slices.Sort(lags)
	q := func(p float64) time.Duration {
		if len(lags) == 0 {
			return 0
		}
		return lags[min(len(lags)-1, int(p*float64(len(lags))))]
	}
	p50, p99, worst := q(0.5), q(0.99), q(1)
	distinct := len(seen)
	lagMu.Unlock()
	b.ReportMetric(m.with/m.without, "ratio")
	b.ReportMetric(float64(p99.Milliseconds()), "lag-p99-ms")
	fmt.Fprintf(os.Stderr, "serve with an outbound endpoint: webhooks %5.0f/s vs %5.0f/s without, ratio %.2f (median of %d rounds, from %.2f to %.2f); append-to-delivery lag p50 %v p99 %v max %v over %d deliveries of %d distinct events (%d events appended in those runs)\n",
		m.with, m.without, m.with/m.without, len(results), results[0].with/results[0].without, results[len(results)-1].with/results[len(results)-1].without,
		p50.Round(time.Millisecond), p99.Round(time.Millisecond), worst.Round(time.Millisecond), delivered.Load(), distinct, sent)
}

// recordedAt is the recordedAt of an outbound body (the zero time if it
// has none).
func recordedAt(body []byte) time.Time {
	const key = `"recordedAt":"`
	i := bytes.Index(body, []byte(key))
	if i < 0 {
		return time.Time{}
	}
	v := body[i+len(key):]
	end := bytes.IndexByte(v, '"')
	if end < 0 {
		return time.Time{}
	}
	t, _ := time.Parse(time.RFC3339Nano, string(v[:end]))
	return t
}
