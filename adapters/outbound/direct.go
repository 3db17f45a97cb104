package outbound

import (
	"context"
	"sync"
	"time"

	"github.com/safeclose/billing/ports"
)

// direct delivers the orgs of one batch the follower read, during the
// follower's turn, for the orgs with nothing due at the endpoint: each org
// on a worker of its own (within the endpoint's slots), in version
// order, until its first failed attempt. When every org is done, or after
// DirectWait, the follower takes how far each got, and the queue makes
// the rest due: an org with an attempt in flight or failed stays this
// instance's (Hold), and its goroutine goes on with it as with a claimed
// lease once the follow has committed. So in the common case an event
// costs no write of its own, and is never in flight twice: nothing of the
// org is due (claimable) until the follower's turn ends.
type direct struct {
	e    *endpoint
	orgs []*directOrg
	stop chan struct{} // the follower took the orgs' state: start nothing more
	// wg counts the goroutines until they have learned the follow's
	// outcome (closed done): after a failed follow, the next one waits
	// for them, so that none is still in flight when it reads the same
	// events again.
	wg   sync.WaitGroup
	done chan struct{}
	ok   bool // the follow committed
}

// directOrg is one org's delivery in a direct batch.
type directOrg struct {
	org       ports.OutboundOrg
	bodies    []body // the events' bodies, rendered by the follower
	mu        sync.Mutex
	delivered int64    // the last version delivered
	inFlight  bool     // an attempt is under way
	failed    *attempt // the failed attempt at the event after delivered
	stopped   bool     // the follower took the state below
	taken     int64    // delivered, when the follower took it
	held      bool     // left due, leased to this instance
}

func (e *endpoint) newDirect() *direct {
	return &direct{e: e, stop: make(chan struct{}), done: make(chan struct{})}
}

// deliver is the batch's [ports.DeliverFunc].
func (b *direct) deliver(ctx context.Context, orgs []ports.OutboundOrg) []ports.OutboundDirect {
	e := b.e
	oldest := orgs[0].Events[0].RecordedAt
	var settled sync.WaitGroup
	for _, org := range orgs {
		if at := org.Events[0].RecordedAt; at.Before(oldest) {
			oldest = at
		}
		// Rendered here, on the follower's long-lived stack, rather than
		// growing each new goroutine's.
		o := &directOrg{org: org, delivered: org.Events[0].Version - 1, bodies: make([]body, len(org.Events))}
		for i, ev := range org.Events {
			o.bodies[i] = e.body(ev)
		}
		b.orgs = append(b.orgs, o)
		settled.Add(1)
		b.wg.Add(1)
		e.spawn(func() { b.run(ctx, o, sync.OnceFunc(settled.Done)) })
	}
	e.directSince.Store(oldest.UnixNano())
	defer e.directSince.Store(0)
	all := make(chan struct{})
	go func() { settled.Wait(); close(all) }()
	wait := time.NewTimer(e.d.opt.DirectWait)
	select {
	case <-all:
	case <-wait.C:
	case <-ctx.Done():
	}
	wait.Stop()
	close(b.stop)
	out := make([]ports.OutboundDirect, len(b.orgs))
	for i, o := range b.orgs {
		o.mu.Lock()
		o.stopped, o.taken = true, o.delivered
		o.held = o.inFlight || o.failed != nil
		out[i] = ports.OutboundDirect{Delivered: o.delivered, Hold: o.held}
		o.mu.Unlock()
	}
	return out
}

// settle tells the batch's goroutines whether the follow committed; if
// it did not, it waits for them to end.
func (b *direct) settle(ok bool) {
	b.ok = ok
	close(b.done)
	if !ok {
		b.wg.Wait()
	}
}

// run delivers o's events until one fails or the follower stops it; then,
// if o was left held, it waits for the follow's outcome and goes on as
// the lease's holder.
func (b *direct) run(ctx context.Context, o *directOrg, settled func()) {
	e := b.e
	defer b.wg.Done()
	defer settled()
	select {
	case e.slots <- struct{}{}:
	case <-b.stop: // not started: left due to the claims
		return
	case <-ctx.Done():
		return
	}
	defer e.freed()
	for i, ev := range o.org.Events {
		o.mu.Lock()
		if o.stopped {
			o.mu.Unlock()
			break
		}
		o.inFlight = true
		o.mu.Unlock()
		a := e.attempt(ctx, ev, o.bodies[i])
		o.mu.Lock()
		o.inFlight = false
		if a.err == nil {
			o.delivered = ev.Version
		} else if ctx.Err() == nil {
			o.failed = &a
		}
		o.mu.Unlock()
		if a.err != nil {
			break
		}
	}
	settled()
	o.mu.Lock()
	maybeHeld := o.failed != nil || o.stopped && o.held
	o.mu.Unlock()
	if !maybeHeld {
		return
	}
	<-b.done // closed once the follow's outcome is known, whatever ctx says
	o.mu.Lock()
	held, taken, delivered, failed := o.held, o.taken, o.delivered, o.failed
	o.mu.Unlock()
	if !b.ok || !held {
		return
	}
	// The row says taken; the attempt at the event after it was in flight
	// or failed when the follower took the state: it is the lease's first.
	first := &attempt{}
	if delivered == taken {
		first = failed
		if first == nil { // the attempt ended with the stop: not counted
			first = &attempt{err: ctx.Err()}
		}
	}
	last := o.org.Events[len(o.org.Events)-1].Version
	events := o.org.Events[taken-o.org.Events[0].Version+1:]
	e.deliverOrg(ctx, ports.OutboundLease{OrgID: o.org.OrgID, Delivered: taken, Target: last, Events: events}, first)
}
