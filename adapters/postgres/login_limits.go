package postgres

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/safeclose/billing/ports"
)

// LoginLimiter counts login attempts in the login_limits table, so that
// every instance over the database shares the counts. It is safe for
// concurrent use.
type LoginLimiter struct {
	db *bun.DB
}

var _ ports.LoginLimiter = (*LoginLimiter)(nil)

// NewLoginLimiter returns the limiter over db.
func NewLoginLimiter(db *bun.DB) *LoginLimiter { return &LoginLimiter{db: db} }

// PruneBatch is how many dead rows (every attempt out of its window) each
// counted attempt deletes: more than the two rows an attempt can create,
// so the table never holds much more than the live keys.
const PruneBatch = 10

// reserveSQL counts an attempt against every key and returns how many keys
// took it. ON CONFLICT DO UPDATE locks each key's row and evaluates its
// WHERE on the row's latest version, so concurrent attempts are counted
// one after the other and a key that is full takes none. Keys go in
// sorted, so concurrent reservations lock their rows in the same order.
const reserveSQL = `WITH input (key, lim) AS (
		SELECT * FROM unnest(?::bytea[], ?::int[])),
	counted AS (
		INSERT INTO login_limits AS l (key, attempts, expires_at)
		SELECT key, ARRAY[?::timestamptz], ?::timestamptz FROM input ORDER BY key
		ON CONFLICT (key) DO UPDATE
		SET attempts = ARRAY(SELECT a FROM unnest(l.attempts) a WHERE a > ?::timestamptz) || EXCLUDED.attempts,
			expires_at = greatest(l.expires_at, EXCLUDED.expires_at)
		WHERE (SELECT count(*) FROM unnest(l.attempts) a WHERE a > ?::timestamptz) < (SELECT lim FROM input WHERE input.key = l.key)
		RETURNING 1)
	SELECT count(*) FROM counted`

// pruneSQL deletes a few dead rows, skipping those another reservation
// holds.
const pruneSQL = `DELETE FROM login_limits WHERE key IN (
	SELECT key FROM login_limits WHERE expires_at <= ? ORDER BY expires_at LIMIT ? FOR UPDATE SKIP LOCKED)`

// errRefused rolls back a reservation that a full key refused.
var errRefused = errors.New("login attempt refused")

// Reserve implements [ports.LoginLimiter]: one statement counts the
// attempt against every key, in a transaction that is rolled back when
// any key refused it, so a refused attempt leaves every count as it was.
func (l *LoginLimiter) Reserve(ctx context.Context, keys []ports.LimitKey, window time.Duration, now time.Time) (ports.Reservation, bool, error) {
	now = now.UTC().Truncate(time.Microsecond)
	r := ports.Reservation{At: now}
	if len(keys) == 0 {
		return r, true, nil
	}
	hashed := make([][]byte, len(keys))
	limits := make([]int, len(keys))
	for i, k := range keys {
		hashed[i], limits[i] = limitKey(k.Key), k.Limit
		r.Keys = append(r.Keys, k.Key)
	}
	err := l.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var n int
		err := tx.QueryRowContext(ctx, reserveSQL, pgdialect.Array(hashed), pgdialect.Array(limits),
			now, now.Add(window), now.Add(-window), now.Add(-window)).Scan(&n)
		if err != nil {
			return fmt.Errorf("count login attempt: %w", err)
		}
		if n < len(keys) {
			return errRefused
		}
		if _, err := tx.ExecContext(ctx, pruneSQL, now, PruneBatch); err != nil {
			return fmt.Errorf("prune login limits: %w", err)
		}
		return nil
	})
	if errors.Is(err, errRefused) {
		return ports.Reservation{}, false, nil
	}
	if err != nil {
		return ports.Reservation{}, false, err
	}
	return r, true, nil
}

// Refund implements [ports.LoginLimiter]: it removes one occurrence of the
// attempt's time from each key's row, locking the rows in key order as
// Reserve does.
func (l *LoginLimiter) Refund(ctx context.Context, r ports.Reservation) error {
	if len(r.Keys) == 0 {
		return nil
	}
	hashed := make([][]byte, len(r.Keys))
	for i, k := range r.Keys {
		hashed[i] = limitKey(k)
	}
	at := r.At.UTC().Truncate(time.Microsecond)
	_, err := l.db.ExecContext(ctx, `WITH held AS (
			SELECT key FROM login_limits WHERE key = ANY(?::bytea[]) AND ?::timestamptz = ANY(attempts) ORDER BY key FOR UPDATE)
		UPDATE login_limits l
		SET attempts = attempts[:array_position(attempts, ?::timestamptz) - 1] || attempts[array_position(attempts, ?::timestamptz) + 1:]
		FROM held WHERE l.key = held.key AND ?::timestamptz = ANY(l.attempts)`,
		pgdialect.Array(hashed), at, at, at, at)
	if err != nil {
		return fmt.Errorf("refund login attempt: %w", err)
	}
	return nil
}

// limitKey is what the table keeps of a key: its SHA-256, so that it holds
// neither emails nor addresses, and every key has the same small size.
func limitKey(k string) []byte {
	h := sha256.Sum256([]byte(k))
	return h[:]
}
