package memory_test

import (
	"testing"
	"time"

	"github.com/safeclose/billing/adapters/memory"
	"github.com/safeclose/billing/ports/porttest"
)

// newPorts returns the ports of one empty memory store.
func newPorts(*testing.T) porttest.Ports {
	s := memory.NewStore(memory.NewClock(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)))
	return porttest.Ports{Store: s, Inbox: s.Inbox(), Links: s.Links(), Orgs: s.Orgs(), Users: s.Users(), Memberships: s.Users(),
		History: s.History()}
}

func TestInboxContract(t *testing.T) { porttest.RunInbox(t, newPorts) }

func TestStripeLinksContract(t *testing.T) { porttest.RunStripeLinks(t, newPorts) }

func TestUsersContract(t *testing.T) { porttest.RunUsers(t, newPorts) }

func TestHistoryContract(t *testing.T) { porttest.RunHistory(t, newPorts) }
