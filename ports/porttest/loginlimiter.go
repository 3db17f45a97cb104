package porttest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safeclose/billing/ports"
)

// RunLoginLimiter runs the login limiter contract against the limiters
// newLimiter returns (each one counting nothing yet).
func RunLoginLimiter(t *testing.T, newLimiter func(t *testing.T) ports.LoginLimiter) {
	ctx := context.Background()
	const window = time.Minute
	reserve := func(t *testing.T, l ports.LoginLimiter, at time.Time, keys ...ports.LimitKey) (ports.Reservation, bool) {
		t.Helper()
		r, ok, err := l.Reserve(ctx, keys, window, at)
		if err != nil {
			t.Fatal(err)
		}
		return r, ok
	}
	// taken counts how many of n attempts on keys at a time are let in.
	taken := func(t *testing.T, l ports.LoginLimiter, n int, at time.Time, keys ...ports.LimitKey) int {
		t.Helper()
		in := 0
		for range n {
			if _, ok := reserve(t, l, at, keys...); ok {
				in++
			}
		}
		return in
	}

	t.Run("a key takes its limit within the window, and refused attempts do not count", func(t *testing.T) {
		l := newLimiter(t)
		a := ports.LimitKey{Key: "email:a@example.com", Limit: 3}
		for i := range 3 {
			if _, ok := reserve(t, l, base.Add(time.Duration(i)*time.Second), a); !ok {
				t.Fatalf("attempt %d refused", i+1)
			}
		}
		// Refused all along the window: none of these is counted.
		for s := 3; s < 60; s += 5 {
			if _, ok := reserve(t, l, base.Add(time.Duration(s)*time.Second), a); ok {
				t.Fatalf("attempt at %d s let in past the limit", s)
			}
		}
		// The window slides: at base+60s the first attempt (at base) is out.
		if _, ok := reserve(t, l, base.Add(window-time.Microsecond), a); ok {
			t.Error("let in while the first attempt is still in the window")
		}
		if _, ok := reserve(t, l, base.Add(window), a); !ok {
			t.Error("refused once the first attempt left the window")
		}
		if _, ok := reserve(t, l, base.Add(window), a); ok {
			t.Error("let in a second one when only one left the window")
		}
		if got := taken(t, l, 5, base.Add(window+2*time.Second), a); got != 2 {
			t.Errorf("%d let in when the second and third left the window, want 2", got)
		}
	})

	t.Run("keys are counted apart", func(t *testing.T) {
		l := newLimiter(t)
		a, b := ports.LimitKey{Key: "email:a@example.com", Limit: 2}, ports.LimitKey{Key: "email:b@example.com", Limit: 2}
		if got := taken(t, l, 4, base, a); got != 2 {
			t.Errorf("a: %d let in, want 2", got)
		}
		if got := taken(t, l, 4, base, b); got != 2 {
			t.Errorf("b after a is full: %d let in, want 2", got)
		}
	})

	t.Run("several keys: all or nothing", func(t *testing.T) {
		l := newLimiter(t)
		email, addr := ports.LimitKey{Key: "email:a@example.com", Limit: 1}, ports.LimitKey{Key: "addr:192.0.2.1", Limit: 5}
		if _, ok := reserve(t, l, base, email, addr); !ok {
			t.Fatal("first attempt refused")
		}
		// The email is full: the address must not count these.
		if got := taken(t, l, 3, base, addr, email); got != 0 {
			t.Fatalf("%d let in past the email's limit", got)
		}
		if got := taken(t, l, 10, base, addr); got != 4 {
			t.Errorf("the address let in %d more, want 4: refused attempts were counted", got)
		}
	})

	t.Run("a refund uncounts the attempt on every key", func(t *testing.T) {
		l := newLimiter(t)
		email, addr := ports.LimitKey{Key: "email:a@example.com", Limit: 2}, ports.LimitKey{Key: "addr:192.0.2.1", Limit: 2}
		r, ok := reserve(t, l, base, email, addr)
		if !ok {
			t.Fatal("refused")
		}
		if _, ok := reserve(t, l, base.Add(time.Second), email, addr); !ok {
			t.Fatal("second refused")
		}
		if err := l.Refund(ctx, r); err != nil {
			t.Fatal(err)
		}
		if got := taken(t, l, 3, base.Add(2*time.Second), email); got != 1 {
			t.Errorf("email: %d let in after a refund, want 1", got)
		}
		if got := taken(t, l, 3, base.Add(2*time.Second), addr); got != 1 {
			t.Errorf("address: %d let in after a refund, want 1", got)
		}
		// A refund of an attempt that has left the window does nothing.
		old, ok := reserve(t, l, base.Add(-2*window), ports.LimitKey{Key: "addr:192.0.2.9", Limit: 1})
		if !ok {
			t.Fatal("refused")
		}
		if err := l.Refund(ctx, old); err != nil {
			t.Fatal(err)
		}
		if err := l.Refund(ctx, ports.Reservation{}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("no keys: let in", func(t *testing.T) {
		if _, ok := reserve(t, newLimiter(t), base); !ok {
			t.Error("refused with nothing to count")
		}
	})

	t.Run("20 goroutines racing for one key never get more than its limit", func(t *testing.T) {
		l := newLimiter(t)
		a := ports.LimitKey{Key: "email:race@example.com", Limit: 7}
		var in atomic.Int32
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Half name the keys in the other order: no deadlock.
				keys := []ports.LimitKey{a, {Key: "addr:192.0.2.1", Limit: 100}}
				if i%2 == 1 {
					keys[0], keys[1] = keys[1], keys[0]
				}
				_, ok, err := l.Reserve(ctx, keys, window, base.Add(time.Duration(i)*time.Millisecond))
				if err != nil {
					errs <- err
					return
				}
				if ok {
					in.Add(1)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if in.Load() != 7 {
			t.Errorf("%d let in, want 7", in.Load())
		}
	})

	t.Run("many keys, then one more attempt a window later: each key still counts alone", func(t *testing.T) {
		l := newLimiter(t)
		for i := range 30 {
			if _, ok := reserve(t, l, base, ports.LimitKey{Key: fmt.Sprintf("email:%d@example.com", i), Limit: 1}); !ok {
				t.Fatal("refused")
			}
		}
		later := base.Add(2 * window)
		for i := range 30 {
			if _, ok := reserve(t, l, later, ports.LimitKey{Key: fmt.Sprintf("email:%d@example.com", i), Limit: 1}); !ok {
				t.Fatalf("key %d refused a window later", i)
			}
		}
		if got := taken(t, l, 3, later, ports.LimitKey{Key: "email:29@example.com", Limit: 1}); got != 0 {
			t.Errorf("%d let in past the limit after pruning", got)
		}
	})
}
