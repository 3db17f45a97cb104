package memory_test

import (
	"testing"
	"time"

	"github.com/safeclose/billing/adapters/memory"
	"github.com/safeclose/billing/ports"
	"github.com/safeclose/billing/ports/porttest"
)

func TestStoreContract(t *testing.T) {
	porttest.RunEventStore(t, func(t *testing.T) porttest.Ledger {
		s := memory.NewStore(memory.NewClock(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)))
		return porttest.Ledger{Store: s, Scanner: s, Status: s}
	})
}

func TestLoginLimiterContract(t *testing.T) {
	porttest.RunLoginLimiter(t, func(*testing.T) ports.LoginLimiter { return memory.NewLoginLimiter() })
}
