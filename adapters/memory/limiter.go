package memory

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/safeclose/billing/ports"
)

// LoginLimiter counts login attempts in memory, for one process (tests).
// It is safe for concurrent use.
type LoginLimiter struct {
	mu       sync.Mutex
	attempts map[string][]time.Time // per key, the attempts counted
	expires  map[string]time.Time   // per key, when its newest attempt leaves the window
}

var _ ports.LoginLimiter = (*LoginLimiter)(nil)

// NewLoginLimiter returns a limiter that has counted nothing.
func NewLoginLimiter() *LoginLimiter {
	return &LoginLimiter{attempts: map[string][]time.Time{}, expires: map[string]time.Time{}}
}

// Reserve implements [ports.LoginLimiter].
func (l *LoginLimiter) Reserve(_ context.Context, keys []ports.LimitKey, window time.Duration, now time.Time) (ports.Reservation, bool, error) {
	now = now.UTC().Truncate(time.Microsecond)
	cutoff := now.Add(-window)
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		live := 0
		for _, a := range l.attempts[k.Key] {
			if a.After(cutoff) {
				live++
			}
		}
		if live >= k.Limit {
			return ports.Reservation{}, false, nil
		}
	}
	r := ports.Reservation{At: now}
	for _, k := range keys {
		kept := slices.DeleteFunc(l.attempts[k.Key], func(a time.Time) bool { return !a.After(cutoff) })
		l.attempts[k.Key] = append(kept, now)
		if exp := now.Add(window); exp.After(l.expires[k.Key]) {
			l.expires[k.Key] = exp
		}
		r.Keys = append(r.Keys, k.Key)
	}
	l.prune(now, r.Keys)
	return r, true, nil
}

// prune forgets up to 10 keys whose attempts have all left their window
// (other than keep), as the Postgres adapter does.
func (l *LoginLimiter) prune(now time.Time, keep []string) {
	n := 0
	for k, exp := range l.expires {
		if n == 10 {
			return
		}
		if !exp.After(now) && !slices.Contains(keep, k) {
			delete(l.expires, k)
			delete(l.attempts, k)
			n++
		}
	}
}

// Refund implements [ports.LoginLimiter].
func (l *LoginLimiter) Refund(_ context.Context, r ports.Reservation) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range r.Keys {
		as := l.attempts[k]
		if i := slices.IndexFunc(as, r.At.Equal); i >= 0 {
			l.attempts[k] = slices.Delete(as, i, i+1)
		}
	}
	return nil
}
