package memory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/domain/ledger"
	"github.com/safeclose/billing/ports"
)

// SessionTouchEvery is how often a session's use is written, as in
// Postgres: the idle timeout then counts from up to this much before the
// last use.
const SessionTouchEvery = time.Minute

// Users keeps the store's users and their sessions, and reads the
// memberships of the store's ledger (the members of each created org's
// account who are users). It is safe for concurrent use.
type Users struct{ store *Store }

var (
	_ ports.Users       = Users{}
	_ ports.Memberships = Users{}
)

// Users returns the store's users.
func (s *Store) Users() Users { return Users{store: s} }

// CreateUser implements [ports.Users]. As in Postgres, an email taken
// (compared lower-cased) is ErrConflict; an id taken is another error.
func (u Users) CreateUser(_ context.Context, user ports.User) error {
	s := u.store
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[user.ID]; ok {
		return fmt.Errorf("create user: id %q is taken", user.ID)
	}
	key := strings.ToLower(user.Email)
	if _, ok := s.emails[key]; ok {
		return ports.ErrConflict
	}
	user.PasswordHash = slices.Clone(user.PasswordHash)
	user.CreatedAt = user.CreatedAt.UTC().Truncate(ledger.Precision)
	s.users[user.ID] = user
	s.emails[key] = user.ID
	return nil
}

// UserByEmail implements [ports.Users]; the email asked for is trimmed.
func (u Users) UserByEmail(_ context.Context, email string) (ports.User, error) {
	s := u.store
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.emails[strings.ToLower(strings.TrimSpace(email))]
	if !ok {
		return ports.User{}, ports.ErrNotFound
	}
	return s.user(id)
}

// UserByID implements [ports.Users].
func (u Users) UserByID(_ context.Context, id string) (ports.User, error) {
	s := u.store
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.user(id)
}

// user returns a copy of the user with the id. Called with s.mu held.
func (s *Store) user(id string) (ports.User, error) {
	user, ok := s.users[id]
	if !ok {
		return ports.User{}, ports.ErrNotFound
	}
	user.PasswordHash = slices.Clone(user.PasswordHash)
	return user, nil
}

// CreateSession implements [ports.Users]. As in Postgres, a session of an
// unknown user, or with a token hash taken, is an error.
func (u Users) CreateSession(_ context.Context, sess ports.Session) error {
	s := u.store
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[sess.UserID]; !ok {
		return fmt.Errorf("create session: no user %q", sess.UserID)
	}
	key := string(sess.TokenHash)
	if _, ok := s.sessions[key]; ok {
		return errors.New("create session: token hash taken")
	}
	sess.TokenHash = slices.Clone(sess.TokenHash)
	sess.CreatedAt = sess.CreatedAt.UTC().Truncate(ledger.Precision)
	sess.LastSeenAt = sess.LastSeenAt.UTC().Truncate(ledger.Precision)
	sess.ExpiresAt = sess.ExpiresAt.UTC().Truncate(ledger.Precision)
	s.sessions[key] = sess
	return nil
}

// TouchSession implements [ports.Users], as Postgres does: a session is
// live while it expires after now and was last seen after idleSince; its
// use is written only when the last one recorded is SessionTouchEvery old
// or older; a session that is not live is deleted.
func (u Users) TouchSession(_ context.Context, hash []byte, now, idleSince time.Time) (ports.User, error) {
	now, idleSince = now.Truncate(ledger.Precision), idleSince.Truncate(ledger.Precision)
	s := u.store
	s.mu.Lock()
	defer s.mu.Unlock()
	key := string(hash)
	sess, ok := s.sessions[key]
	if !ok || !sess.ExpiresAt.After(now) || !sess.LastSeenAt.After(idleSince) {
		delete(s.sessions, key)
		return ports.User{}, ports.ErrNotFound
	}
	if !sess.LastSeenAt.After(now.Add(-SessionTouchEvery)) {
		sess.LastSeenAt = now.UTC()
		s.sessions[key] = sess
	}
	return s.user(sess.UserID)
}

// DeleteSession implements [ports.Users].
func (u Users) DeleteSession(_ context.Context, hash []byte) error {
	s := u.store
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, string(hash))
	return nil
}

// Membership implements [ports.Memberships].
func (u Users) Membership(_ context.Context, orgID, userID string) (ports.Membership, error) {
	s := u.store
	s.mu.Lock()
	defer s.mu.Unlock()
	acc, ok := s.accounts[orgID]
	if !ok {
		return ports.Membership{}, ports.ErrNotFound
	}
	m, ok := acc.Member(userID)
	if !ok {
		return ports.Membership{}, ports.ErrNotFound
	}
	ms, ok := s.membership(acc, m)
	if !ok {
		return ports.Membership{}, ports.ErrNotFound
	}
	return ms, nil
}

// OrgsOf implements [ports.Memberships]: by org name, then id.
func (u Users) OrgsOf(_ context.Context, userID string) ([]ports.Membership, error) {
	s := u.store
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []ports.Membership{}
	for _, acc := range s.accounts {
		if m, ok := acc.Member(userID); ok {
			if ms, ok := s.membership(acc, m); ok {
				out = append(out, ms)
			}
		}
	}
	slices.SortFunc(out, func(a, b ports.Membership) int {
		return cmp.Or(cmp.Compare(a.OrgName, b.OrgName), cmp.Compare(a.OrgID, b.OrgID))
	})
	return out, nil
}

// Members implements [ports.Memberships]: by lower-cased email, then user
// id.
func (u Users) Members(_ context.Context, orgID string) ([]ports.Membership, error) {
	s := u.store
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []ports.Membership{}
	if acc, ok := s.accounts[orgID]; ok {
		for _, m := range acc.Members() {
			if ms, ok := s.membership(acc, m); ok {
				out = append(out, ms)
			}
		}
	}
	slices.SortFunc(out, func(a, b ports.Membership) int {
		return cmp.Or(cmp.Compare(strings.ToLower(a.Email), strings.ToLower(b.Email)), cmp.Compare(a.UserID, b.UserID))
	})
	return out, nil
}

// membership returns m's membership of acc's org as the Postgres read
// model joins it: only for a created org and a member who is a user, with
// the org's name and the user's email. Called with s.mu held.
func (s *Store) membership(acc *billing.Account, m billing.Member) (ports.Membership, bool) {
	user, ok := s.users[m.UserID]
	if !ok || acc.CreatedAt().IsZero() {
		return ports.Membership{}, false
	}
	perms := slices.Clone(m.Permissions)
	if perms == nil {
		perms = []string{}
	}
	return ports.Membership{OrgID: acc.OrgID(), OrgName: acc.Name(), UserID: m.UserID, Email: user.Email, Role: m.Role,
		Permissions: perms}, true
}
