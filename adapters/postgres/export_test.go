package postgres

import "time"

// RememberHead makes s believe the hash of stream's event at version is
// hash (tests of a wrong belief).
func RememberHead(s *Store, stream string, version int64, hash []byte) {
	s.heads.Add(stream, streamHead{version: version, hash: hash})
}

// SetSwapPolicy changes how long s's rebuild waits for the live tables'
// lock, how many times and after what pause.
func SetSwapPolicy(s *Store, lockTimeout time.Duration, attempts int, pause time.Duration) {
	s.swap = swapPolicy{lockTimeout: lockTimeout, attempts: attempts, pause: pause}
}

// SetSnapshotEvery changes how far apart p's periodic account snapshots
// are (before the store using p appends).
func SetSnapshotEvery(p *StatusProjection, every int64) { p.every = every }

// HoldLane keeps the lane of stream's appends busy, as a round trip in
// flight would: appends to its streams queue until release, which sends
// them on as one group. Queued reports how many wait.
func HoldLane(s *Store, stream string) (queued func() int, release func()) {
	l := s.laneOf(stream)
	l.mu.Lock()
	l.busy = true
	l.mu.Unlock()
	queued = func() int {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.queue)
	}
	return queued, l.handOn
}

// SameLane reports whether two streams' appends share a lane of s.
func SameLane(s *Store, a, b string) bool { return s.laneOf(a) == s.laneOf(b) }
