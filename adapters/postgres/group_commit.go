package postgres

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Group commit. Appends of different streams that reach the store while
// an earlier round trip of theirs is in flight are sent together, as one
// batch and so one transaction: under load a webhook costs Postgres one
// commit and the service one write and one read shared by its group,
// instead of each its own.
//
// No goroutine of its own (as LevelDB's writers): the appends of a lane
// queue; the one that finds the lane idle runs alone; when its round trip
// ends it hands whatever queued meanwhile, as one group, to the first of
// them, which runs it and hands on in turn. A group is all or nothing (the
// batch's first error undoes it whole): when Postgres refuses a group of
// several, each of its appends runs again alone, as it would have without
// the group, and gets its own answer (a duplicate key, a lost race). A
// round trip that breaks off (the connection lost, the deadline passed)
// may have committed: each append of the group then fails as a lone one
// would, uncertain, and none runs again, which could append twice. The
// round trip is bounded by the latest of the appends' deadlines, not by
// the leader's cancellation. Appends of one stream never share a group,
// so that two decisions on the same version cannot sink the others.

// groupLanes is how many groups of one store may be in flight at once:
// Postgres works on each in its own backend. Streams are spread over
// lanes by hash, so one stream's appends keep their lane. One lane per two
// of the service's processors: the fewer the lanes, the larger the groups
// and the less Postgres and the service spend per append (on two cores,
// 16 deliveries at once: 7.5 appends a group with one lane, 2 with four;
// Postgres's CPU per webhook 267 µs against 398 µs), while a machine with
// more cores keeps more of Postgres's backends busy.
func groupLanes() int {
	return min(max(runtime.GOMAXPROCS(0)/2, 1), 8)
}

// maxGroup bounds the appends of one group.
const maxGroup = 32

type lane struct {
	mu    sync.Mutex
	busy  bool
	queue []*pending
}

// pending is one append's batch on its way through a lane.
type pending struct {
	stream    string
	b         *batch
	returning int
	deadline  time.Time // the append's context's, if any
	positions []int64
	err       error
	// alone is set when the pending's group failed: it runs again alone.
	alone bool
	// group is set, before done closes, when the pending leads a group.
	group []*pending
	done  chan struct{}
}

// commit runs b, an append to stream, with other streams' appends when
// some are waiting, and returns the positions its statement number
// returning returned (see [Store.run]).
func (s *Store) commit(ctx context.Context, stream string, b *batch, returning int) ([]int64, error) {
	l := s.laneOf(stream)
	p := &pending{stream: stream, b: b, returning: returning, done: make(chan struct{})}
	p.deadline, _ = ctx.Deadline()
	l.mu.Lock()
	if l.busy {
		l.queue = append(l.queue, p)
		l.mu.Unlock()
		<-p.done
	} else {
		l.busy = true
		l.mu.Unlock()
		p.group = []*pending{p}
	}
	if p.group != nil {
		s.lead(ctx, l, p.group)
	}
	if p.alone {
		return s.run(ctx, b, returning)
	}
	return p.positions, p.err
}

// laneOf is the lane of stream's appends: one stream always has the same.
func (s *Store) laneOf(stream string) *lane {
	return &s.lanes[streamHash(stream)%uint32(len(s.lanes))]
}

// lead runs group, hands the lane to the next group (or leaves it idle),
// and lets the group's other appends go on. The caller is group[0]. The
// lane is handed on whatever happens, a panic too: a lane left busy would
// hold every later append of its streams for ever (the others then find
// no positions, an error).
func (s *Store) lead(ctx context.Context, l *lane, group []*pending) {
	defer func() {
		l.handOn()
		for _, p := range group[1:] {
			close(p.done)
		}
	}()
	s.runGroup(ctx, group)
}

// handOn makes the appends queued on the lane the next group, led by its
// first, or leaves the lane idle.
func (l *lane) handOn() {
	l.mu.Lock()
	var next []*pending
	next, l.queue = takeGroup(l.queue)
	if len(next) == 0 {
		l.busy = false
	}
	l.mu.Unlock()
	if len(next) > 0 {
		next[0].group = next
		close(next[0].done)
	}
}

// takeGroup splits queue into the next group, at most maxGroup appends
// and none of a stream already in it, and what stays queued, in order.
// The group is led by the longest waiting append.
func takeGroup(queue []*pending) (group, rest []*pending) {
	if len(queue) == 0 {
		return nil, queue
	}
	group = make([]*pending, 0, min(len(queue), maxGroup))
	rest = queue[:0:0]
	for _, p := range queue {
		if len(group) == maxGroup || inGroup(group, p.stream) {
			rest = append(rest, p)
			continue
		}
		group = append(group, p)
	}
	return group, rest
}

func inGroup(group []*pending, stream string) bool {
	for _, p := range group {
		if p.stream == stream {
			return true
		}
	}
	return false
}

// runGroup sends the group's batches as one, and gives each pending its
// positions; when Postgres refuses a group of several, each runs again
// alone (when the round trip itself fails, each gets its error). The
// batches run in order of stream: every group takes its streams' rows in
// one order, so groups of two instances may wait for each other but not
// deadlock.
func (s *Store) runGroup(ctx context.Context, group []*pending) {
	if len(group) == 1 {
		p := group[0]
		p.positions, p.err = s.run(ctx, p.b, p.returning)
		return
	}
	group = slices.Clone(group)
	slices.SortFunc(group, func(a, b *pending) int { return strings.Compare(a.stream, b.stream) })
	var (
		all       = &batch{stmts: make([]statement, 0, len(group)*len(group[0].b.stmts))}
		returning = make([]int, len(group))
	)
	for i, p := range group {
		returning[i] = len(all.stmts) + p.returning
		all.stmts = append(all.stmts, p.b.stmts...)
	}
	gctx, cancel := groupContext(ctx, group)
	defer cancel()
	positions, err := s.runReturning(gctx, all, returning)
	var refused *pgconn.PgError
	for i, p := range group {
		switch {
		case errors.As(err, &refused):
			// Postgres answered the Sync with an error: nothing committed.
			p.alone = true
		case err != nil:
			// The round trip broke off: the group may have committed, so
			// running again could append twice. Each append fails as a
			// lone one would have.
			p.err = err
		default:
			p.positions = positions[i]
		}
	}
}

// groupContext bounds a group's round trip by the latest deadline of its
// appends, none when one of them has none, and not by the leader's
// cancellation: one request given up must not fail, or leave uncertain,
// the appends of the others.
func groupContext(leader context.Context, group []*pending) (context.Context, context.CancelFunc) {
	ctx := context.WithoutCancel(leader)
	var latest time.Time
	for _, p := range group {
		if p.deadline.IsZero() {
			return ctx, func() {}
		}
		if p.deadline.After(latest) {
			latest = p.deadline
		}
	}
	return context.WithDeadline(ctx, latest)
}
