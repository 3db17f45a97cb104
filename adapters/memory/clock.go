package memory

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/safeclose/billing/ports"
)

// Clock is a settable clock for tests. It is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

var _ ports.Clock = (*Clock)(nil)

// NewClock returns a clock stopped at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t.UTC()} }

// Now implements [ports.Clock]; every call moves the clock one microsecond on,
// so that successive records are ordered.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Microsecond)
	return c.now
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t.UTC()
}

func marshalMeta(m ports.Metadata) ([]byte, error) { return json.Marshal(m) }
