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
