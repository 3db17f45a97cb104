// Package outbound pushes every ledger event to the configured endpoints
// (docs/API.md, "Outbound events"): signed, per org and endpoint strictly
// in version order, at least once, from any number of instances. The
// durable state (cursors, per-org delivery state, leases) is a
// [ports.OutboundQueue]; this package follows, claims, sends and retries.
package outbound

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	gojson "github.com/goccy/go-json"
	"go.uber.org/zap"

	"github.com/safeclose/billing/adapters/metrics"
	"github.com/safeclose/billing/adapters/outbound/signature"
	"github.com/safeclose/billing/application"
	"github.com/safeclose/billing/ports"
)

// MaxBody is the largest body sent: an event whose body would be larger is
// given up at once.
const MaxBody = 1 << 20

// Options tune a [Dispatcher]; the zero value of each field means its
// default.
type Options struct {
	Endpoints []string // the endpoints' URLs
	Secret    string   // OUTBOUND_WEBHOOK_SECRET
	Owner     string   // this instance's name on its leases (default: random)
	// Concurrency is how many orgs an instance delivers at once to each
	// endpoint (default 256).
	Concurrency int
	// Timeout bounds one attempt, answer included (default 10 s).
	Timeout time.Duration
	// Lease is how long a claimed org stays this instance's without a
	// renewal (default 20 s; at least twice Timeout).
	Lease time.Duration
	// Poll is how often the ledger and the due orgs are read while there
	// is work and nothing wakes the dispatcher (default 50 ms).
	Poll time.Duration
	// IdlePoll is the longest wait between two reads once they find
	// nothing: each empty read doubles the wait, from Poll up to IdlePoll
	// (default 1 s), and any work brings it back to Poll. An append of
	// this instance's ([Dispatcher.Appended]) ends the follower's wait at
	// once; the events of other instances wait at most IdlePoll.
	IdlePoll time.Duration
	// Backoff is the delay before attempt n+1 after n failed ones
	// (default [Backoff]).
	Backoff func(n int) time.Duration
	// GiveUpAfter is how long an event is retried after its first failed
	// attempt (default 72 h).
	GiveUpAfter time.Duration
	// AckDelay is how long a delivery's ack may wait for others to be
	// written with it (default 5 ms).
	AckDelay time.Duration
	// DirectWait is how long the follower waits for the orgs it delivers
	// itself (those with nothing due) before it moves on and leaves the
	// rest to the claims (default 200 ms).
	DirectWait time.Duration
	// MaxBody is the largest body sent (default [MaxBody]).
	MaxBody int
	// Client sends the requests (default: one that follows no redirect).
	Client  *http.Client
	Log     *zap.Logger
	Metrics *metrics.Outbound // optional
}

// Backoff is the default retry delay after n failed attempts: 2 s, then
// doubling up to 1 hour, each with up to 20% less at random so that
// retries spread.
func Backoff(n int) time.Duration {
	d := time.Hour
	if n < 12 {
		d = min(time.Hour, 2*time.Second<<max(n-1, 0))
	}
	return d - time.Duration(rand.Int64N(int64(d/5)+1))
}

// Dispatcher delivers the ledger's events to every endpoint. Start it
// once; Stop ends it. Its methods are safe for concurrent use.
type Dispatcher struct {
	q         ports.OutboundQueue
	opt       Options
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	endpoints []*endpoint // made by New, so that Appended may be called before Start
}

// New returns a dispatcher over q.
func New(q ports.OutboundQueue, opt Options) *Dispatcher {
	if opt.Concurrency <= 0 {
		opt.Concurrency = 256
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 10 * time.Second
	}
	if opt.Lease <= 0 {
		opt.Lease = 20 * time.Second
	}
	opt.Lease = max(opt.Lease, 2*opt.Timeout)
	if opt.Poll <= 0 {
		opt.Poll = 50 * time.Millisecond
	}
	if opt.IdlePoll <= 0 {
		opt.IdlePoll = time.Second
	}
	opt.IdlePoll = max(opt.IdlePoll, opt.Poll)
	if opt.Backoff == nil {
		opt.Backoff = Backoff
	}
	if opt.GiveUpAfter <= 0 {
		opt.GiveUpAfter = 72 * time.Hour
	}
	if opt.AckDelay <= 0 {
		opt.AckDelay = 5 * time.Millisecond
	}
	if opt.DirectWait <= 0 {
		opt.DirectWait = 200 * time.Millisecond
	}
	if opt.MaxBody <= 0 {
		opt.MaxBody = MaxBody
	}
	if opt.Owner == "" {
		opt.Owner = "instance-" + strconv.FormatUint(rand.Uint64(), 36)
	}
	if opt.Log == nil {
		opt.Log = zap.NewNop()
	}
	if opt.Client == nil {
		// Every connection an endpoint's deliveries opened stays for the
		// next ones: net/http keeps 100 idle connections in all by
		// default, so with more orgs in flight the rest were closed after
		// each answer and dialled again.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = opt.Concurrency
		tr.MaxIdleConns = 0 // no bound but the endpoints'
		opt.Client = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	d := &Dispatcher{q: q, opt: opt}
	for _, ep := range opt.Endpoints {
		d.endpoints = append(d.endpoints, &endpoint{d: d, url: ep, label: Redacted(ep),
			wake: make(chan struct{}, 1), appended: make(chan struct{}, 1),
			slots: make(chan struct{}, opt.Concurrency), acks: make(chan ackReq, opt.Concurrency),
			workers: newWorkers(opt.Concurrency)})
	}
	return d
}

// Appended tells the dispatcher that this instance appended events: a
// follower waiting longer than Poll (it read nothing lately) reads the
// ledger at once. It never blocks; call it after the append commits.
func (d *Dispatcher) Appended() {
	for _, e := range d.endpoints {
		select {
		case e.appended <- struct{}{}:
		default:
		}
	}
}

// Start registers the endpoints (an unknown one starts at the ledger's
// head) and starts delivering in the background.
func (d *Dispatcher) Start(ctx context.Context) error {
	for _, ep := range d.opt.Endpoints {
		if err := d.q.Register(ctx, ep); err != nil {
			return err
		}
	}
	run, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d.cancel = cancel
	for _, e := range d.endpoints {
		var loops sync.WaitGroup
		loops.Add(2)
		d.wg.Add(3)
		go func() { defer d.wg.Done(); defer loops.Done(); e.follow(run) }()
		go func() { defer d.wg.Done(); defer loops.Done(); e.claim(run) }()
		go func() { defer d.wg.Done(); e.ackLoop(run) }()
		go func() {
			// The acks close after the last org's goroutine, so that every
			// ack taken is answered (the ack loop is waited for).
			loops.Wait()
			e.orgs.Wait()
			e.workers.close()
			close(e.acks)
		}()
	}
	if d.opt.Metrics != nil {
		d.wg.Add(1)
		go func() { defer d.wg.Done(); d.observe(run) }()
	}
	return nil
}

// Stop cancels the attempts under way (their leases are released, so
// another instance goes on at once) and waits for the dispatcher's
// goroutines, at most until ctx ends.
func (d *Dispatcher) Stop(ctx context.Context) error {
	if d.cancel == nil {
		return nil
	}
	d.cancel()
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop outbound dispatcher: %w", ctx.Err())
	}
}

// observe sets the oldest-undelivered gauge every second: the oldest
// event due in the queue, or the oldest the follower is delivering
// itself.
func (d *Dispatcher) observe(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		ages, err := d.q.Oldest(ctx)
		if err == nil {
			for _, e := range d.endpoints {
				age := ages[e.url]
				if since := e.directSince.Load(); since != 0 {
					age = max(age, time.Since(time.Unix(0, since)))
				}
				d.opt.Metrics.Oldest.WithLabelValues(e.label).Set(age.Seconds())
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Redacted is how an endpoint is named in logs and metrics: its URL
// without a password.
func Redacted(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "unparsable URL"
	}
	return u.Redacted()
}

// endpoint is one endpoint's follower, claimer and acker.
type endpoint struct {
	d          *Dispatcher
	url, label string
	wake       chan struct{} // the follower made events due, or a slot freed
	appended   chan struct{} // this instance appended events (see [Dispatcher.Appended])
	slots      chan struct{} // orgs being delivered
	acks       chan ackReq
	orgs       sync.WaitGroup // the orgs' deliveries under way (see [endpoint.spawn])
	workers    *workers
	// directSince is the recordedAt (Unix ns) of the oldest event the
	// follower is delivering itself, 0 when none.
	directSince atomic.Int64
	// starved: the last claim took as many orgs as it had slots for (or
	// had none), so more may be due when a slot frees.
	starved atomic.Bool
}

func (e *endpoint) signal() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// spawn runs an org's delivery on one of the endpoint's workers.
func (e *endpoint) spawn(f func()) {
	e.orgs.Add(1)
	e.workers.Go(func() {
		defer e.orgs.Done()
		f()
	})
}

// freed gives a slot back; it wakes the claimer only if its last claim
// was short of slots (more may be due), not after every delivery.
func (e *endpoint) freed() {
	<-e.slots
	if e.starved.Load() {
		e.signal()
	}
}

// sleep waits for d or ctx; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool { return sleepUnless(ctx, d, nil) }

// sleepUnless is sleep that also ends when wake (nil: never) receives.
func sleepUnless(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-wake:
	case <-t.C:
	}
	return true
}

// follow moves the endpoint's cursor along the ledger, delivering the
// events of orgs with nothing due itself (see [direct]). It reads again
// at once after a full batch, after Poll while there are events, and
// after ever longer waits (up to IdlePoll) while there are none.
func (e *endpoint) follow(ctx context.Context) {
	const batch = 1000
	wait := e.d.opt.Poll
	for ctx.Err() == nil {
		b := e.newDirect()
		res, err := e.d.q.Follow(ctx, e.url, e.d.opt.Owner, batch, e.d.opt.Lease, b.deliver)
		b.settle(err == nil)
		if err != nil && ctx.Err() == nil {
			e.d.opt.Log.Warn("outbound: reading the ledger failed", zap.String("endpoint", e.label), zap.Error(err))
			sleep(ctx, time.Second)
			continue
		}
		if res.Due {
			e.signal()
		}
		switch {
		case res.Read == batch:
			wait = e.d.opt.Poll
			continue
		case res.Read == 0:
			wait = e.d.idler(wait)
		default:
			wait = e.d.opt.Poll
		}
		if !e.pause(ctx, wait) {
			return
		}
	}
}

// idler is the wait after an empty read that followed a wait of w.
func (d *Dispatcher) idler(w time.Duration) time.Duration {
	return min(2*w, d.opt.IdlePoll)
}

// pause is the follower's wait of d; one longer than Poll ends early when
// this instance appends. False when ctx ended.
func (e *endpoint) pause(ctx context.Context, d time.Duration) bool {
	if d <= e.d.opt.Poll {
		// Under load: an append per event would otherwise cut every wait
		// short, and make a read of the ledger per event or so.
		return sleep(ctx, d)
	}
	return sleepUnless(ctx, d, e.appended)
}

// claimGap is the shortest time between two claims of one endpoint.
const claimGap = 20 * time.Millisecond

// claim leases due orgs while slots are free and delivers each on a
// worker of its own. Unwoken, it claims every Poll while claims find
// orgs or slots are all taken, and after ever longer waits (up to
// IdlePoll) while they find none.
func (e *endpoint) claim(ctx context.Context) {
	wait := e.d.opt.Poll
	t := time.NewTimer(wait)
	defer t.Stop()
	var last time.Time
	for {
		woken := false
		select {
		case <-ctx.Done():
			return
		case <-e.wake:
			woken = true
		case <-t.C:
		}
		free := cap(e.slots) - len(e.slots)
		if free == 0 {
			e.starved.Store(true)
			wait = e.d.opt.Poll
			t.Reset(wait)
			continue
		}
		// One claim serves many orgs: at most one every claimGap.
		if gap := claimGap - time.Since(last); gap > 0 && !sleep(ctx, gap) {
			return
		}
		last = time.Now()
		leases, err := e.d.q.Claim(ctx, e.url, e.d.opt.Owner, free, e.d.opt.Lease)
		if err != nil || len(leases) > 0 || woken {
			wait = e.d.opt.Poll
		} else {
			wait = e.d.idler(wait)
		}
		t.Reset(wait)
		if err != nil {
			if ctx.Err() == nil {
				e.d.opt.Log.Warn("outbound: claiming orgs failed", zap.String("endpoint", e.label), zap.Error(err))
			}
			continue
		}
		e.starved.Store(len(leases) == free)
		for _, l := range leases {
			e.slots <- struct{}{}
			e.spawn(func() {
				e.deliverOrg(ctx, l, nil)
				e.freed() // claim again if short of slots (at most every claimGap)
			})
		}
	}
}

// ackReq is one delivery waiting for its ack to be written.
type ackReq struct {
	ack   ports.OutboundAck
	reply chan ackRes
}

type ackRes struct {
	acked ports.OutboundAcked
	err   error
}

// ackLoop writes acks in batches: what arrives within AckDelay of the
// first goes in the same statement. It ends when acks close, after the
// last org's goroutine, so every ack taken is answered.
func (e *endpoint) ackLoop(ctx context.Context) {
	for {
		r, ok := <-e.acks
		if !ok {
			return
		}
		batch := []ackReq{r}
		closed := false
		linger := time.NewTimer(e.d.opt.AckDelay)
	collect:
		for len(batch) < 500 {
			select {
			case r, ok := <-e.acks:
				if !ok {
					closed = true
					break collect
				}
				batch = append(batch, r)
			case <-linger.C:
				break collect
			}
		}
		linger.Stop()
		acks := make([]ports.OutboundAck, len(batch))
		for i, r := range batch {
			acks[i] = r.ack
		}
		// The ack is written even while stopping: the events were delivered.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		res, err := e.d.q.Ack(wctx, e.url, e.d.opt.Owner, e.d.opt.Lease, acks)
		cancel()
		for i, r := range batch {
			if err != nil {
				r.reply <- ackRes{err: err}
				continue
			}
			r.reply <- ackRes{acked: res[i]}
		}
		if closed {
			return
		}
	}
}

// ack waits for a's ack to be written with others.
func (e *endpoint) ack(a ports.OutboundAck) (ports.OutboundAcked, error) {
	reply := make(chan ackRes, 1)
	e.acks <- ackReq{ack: a, reply: reply}
	r := <-reply // the ack loop answers every request it takes
	return r.acked, r.err
}

// attempt is the outcome of an attempt at an event made before its org's
// lease was written: deliverOrg goes on from it.
type attempt struct {
	err      error
	tooLarge bool // given up at once
}

// deliverOrg sends the leased org's events in version order until it is
// caught up, an attempt fails, or the lease is lost. first, when not nil,
// is the outcome of the attempt at the first event, already made.
func (e *endpoint) deliverOrg(ctx context.Context, l ports.OutboundLease, first *attempt) {
	d := e.d
	log := d.opt.Log.With(zap.String("endpoint", e.label), zap.String("orgId", l.OrgID))
	release := func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if err := d.q.Release(rctx, e.url, d.opt.Owner, l.OrgID); err != nil {
			log.Warn("outbound: releasing a lease failed (it expires)", zap.Error(err))
		}
	}
	delivered, target, attempts := l.Delivered, l.Target, l.Attempts
	renewed := time.Now()
	events := l.Events
	for delivered < target {
		if len(events) == 0 {
			var err error
			events, err = d.q.Events(ctx, l.OrgID, delivered+1, min(target, delivered+100))
			if err != nil || len(events) == 0 || events[0].Version != delivered+1 {
				if ctx.Err() == nil {
					log.Error("outbound: reading the org's events failed", zap.Int64("version", delivered+1), zap.Error(err))
				}
				release()
				return
			}
		}
		ev := events[0]
		events = events[1:]
		// An attempt must end inside the lease: renew it unless the last
		// renewal (a claim, an ack) is recent. Every path below either
		// ends or acks, which renews.
		if first == nil && time.Since(renewed) > d.opt.Lease/4 {
			ok, err := d.q.Renew(ctx, e.url, d.opt.Owner, l.OrgID, delivered, d.opt.Lease)
			if err != nil || !ok {
				release()
				return
			}
		}
		eventID := l.OrgID + ":" + strconv.FormatInt(ev.Version, 10)
		var a attempt
		if first != nil {
			a, first = *first, nil
		} else {
			a = e.attempt(ctx, ev, e.body(ev))
		}
		err := a.err
		if a.tooLarge {
			attempts = -1
		}
		if err != nil && ctx.Err() != nil { // stopping: the attempt does not count
			release()
			return
		}
		if err != nil {
			giveUp := d.opt.GiveUpAfter
			if attempts < 0 {
				giveUp = 0
			}
			gaveUp, n, held, ferr := d.q.Fail(ctx, e.url, d.opt.Owner, ports.OutboundFailure{
				OrgID: l.OrgID, Version: ev.Version, Retry: d.opt.Backoff(max(attempts, 0) + 1), GiveUp: giveUp, Error: err.Error()})
			switch {
			case ferr != nil:
				log.Error("outbound: recording a failed attempt failed", zap.String("eventId", eventID), zap.Error(ferr))
				release()
			case !held:
			case gaveUp:
				e.count(metrics.OutboundFailed)
				log.Error("outbound: event given up: marked failed; the org's next event goes on (outbound replay sends it again)",
					zap.String("eventId", eventID), zap.Int("attempts", n), zap.Error(err))
			default:
				e.count(metrics.OutboundRetry)
				log.Warn("outbound: attempt failed, will retry", zap.String("eventId", eventID), zap.Int("attempt", n), zap.Error(err))
			}
			return
		}
		res, err := e.ack(ports.OutboundAck{OrgID: l.OrgID, Version: ev.Version})
		if err != nil {
			log.Error("outbound: recording a delivery failed (it will be sent again)", zap.String("eventId", eventID), zap.Error(err))
			release()
			return
		}
		if !res.Counted || ctx.Err() != nil { // the lease was lost, a replay moved the org back, or stopping
			release()
			return
		}
		delivered, target, attempts, renewed = ev.Version, res.Target, 0, time.Now()
	}
}

func (e *endpoint) count(outcome string) {
	if m := e.d.opt.Metrics; m != nil {
		m.Deliveries.WithLabelValues(e.label, outcome).Inc()
	}
}

// body is what an attempt at ev sends: its body, or why it cannot be
// sent.
type body struct {
	data []byte
	bad  *attempt
}

func (e *endpoint) body(ev ports.StoredEvent) body {
	data, err := Body(ev)
	switch {
	case err != nil:
		return body{bad: &attempt{err: err}}
	case len(data) > e.d.opt.MaxBody:
		return body{bad: &attempt{err: fmt.Errorf("body of %d bytes is larger than %d", len(data), e.d.opt.MaxBody), tooLarge: true}}
	}
	return body{data: data}
}

// attempt makes one attempt at ev with its body, counted and logged when
// it delivers.
func (e *endpoint) attempt(ctx context.Context, ev ports.StoredEvent, b body) attempt {
	if b.bad != nil {
		return *b.bad
	}
	eventID := ev.StreamID + ":" + strconv.FormatInt(ev.Version, 10)
	if err := e.send(ctx, eventID, b.data); err != nil {
		return attempt{err: err}
	}
	e.count(metrics.OutboundDelivered)
	e.d.opt.Log.Debug("outbound: delivered", zap.String("endpoint", e.label), zap.String("orgId", ev.StreamID), zap.String("eventId", eventID))
	return attempt{}
}

// send makes one attempt: a 2xx answer within Timeout delivers.
func (e *endpoint) send(ctx context.Context, eventID string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, e.d.opt.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "safeclose-billing-outbound/1")
	req.Header.Set(signature.EventIDHeader, eventID)
	req.Header.Set(signature.Header, signature.Sign(body, e.d.opt.Secret, time.Now()))
	res, err := e.d.opt.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) { // without the URL, which may hold a token
			err = ue.Err
		}
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("answered %s", res.Status)
	}
	return nil
}

// Event is the body of an outbound event: the history event body
// (docs/API.md, "History") plus the org's id.
type Event struct {
	OrgID string `json:"orgId"`
	application.LedgerRecord
}

// Body renders a ledger event as the body sent (with goccy/go-json: the
// same JSON as encoding/json's, in a third of the time).
func Body(e ports.StoredEvent) ([]byte, error) {
	return gojson.Marshal(Event{OrgID: e.StreamID, LedgerRecord: application.RecordOf(e)})
}
