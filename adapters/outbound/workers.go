package outbound

import "sync/atomic"

// workers runs the endpoint's org deliveries on goroutines it keeps: a
// fresh goroutine per org grew its stack through net/http's client on
// every delivery (a tenth of the outbound CPU in a profile under load);
// an idle worker's stack is already grown.
type workers struct {
	jobs chan func() // unbuffered: a send succeeds only to an idle worker
	idle atomic.Int32
	keep int32 // the most idle workers kept
}

func newWorkers(keep int) *workers {
	return &workers{jobs: make(chan func()), keep: int32(keep)}
}

// Go runs f on an idle worker, or on a new one if none is idle.
func (w *workers) Go(f func()) {
	select {
	case w.jobs <- f:
	default:
		go w.work(f)
	}
}

// close ends the idle workers; Go must not be called after it.
func (w *workers) close() { close(w.jobs) }

func (w *workers) work(f func()) {
	for f != nil {
		f()
		if w.idle.Add(1) > w.keep {
			w.idle.Add(-1)
			return
		}
		f = <-w.jobs
		w.idle.Add(-1)
	}
}
