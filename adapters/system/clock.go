// Package system adapts the operating system: the wall clock.
package system

import (
	"time"

	"github.com/safeclose/billing/domain/ledger"
	"github.com/safeclose/billing/ports"
)

// Clock is the wall clock, in UTC at the ledger's precision.
type Clock struct{}

var _ ports.Clock = Clock{}

// Now implements [ports.Clock].
func (Clock) Now() time.Time { return time.Now().UTC().Truncate(ledger.Precision) }
