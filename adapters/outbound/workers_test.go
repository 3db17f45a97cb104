package outbound

import (
	"sync"
	"testing"
	"time"
)

// waitIdle waits until w has n idle workers.
func waitIdle(t *testing.T, w *workers, n int32) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); w.idle.Load() != n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d idle workers, want %d", w.idle.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestWorkersReuseIdleGoroutinesAndKeepAtMostKeep(t *testing.T) {
	w := newWorkers(2)
	// Three jobs at once: three workers; two are kept when they end.
	var started, release sync.WaitGroup
	started.Add(3)
	release.Add(1)
	for range 3 {
		w.Go(func() { started.Done(); release.Wait() })
	}
	started.Wait()
	release.Done()
	waitIdle(t, w, 2)
	// A job now runs on an idle worker: a new goroutine would leave two
	// idle while it runs. (A worker counts itself idle just before it
	// waits for a job, so a job given in between starts a goroutine: a
	// few tries.)
	reused := false
	for try := 0; try < 50 && !reused; try++ {
		running, done := make(chan struct{}), make(chan struct{})
		w.Go(func() { close(running); <-done })
		<-running
		reused = w.idle.Load() == 1
		close(done)
		waitIdle(t, w, 2)
		time.Sleep(time.Millisecond)
	}
	if !reused {
		t.Fatal("every job started a goroutine of its own")
	}
	// close ends the idle ones.
	w.close()
	waitIdle(t, w, 0)
}
