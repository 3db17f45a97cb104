// Package migrations holds the SQL schema, applied with bun's migrator.
package migrations

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/migrate"
)

//go:embed *.sql
var files embed.FS

// LockKey is the advisory lock (pg_advisory_lock's bigint key) that
// serializes migrations across instances; pg_locks shows who holds it.
const LockKey = 0x5afec105e

// New returns the migrator for db.
func New(db *bun.DB) (*migrate.Migrator, error) {
	ms := migrate.NewMigrations()
	if err := ms.Discover(files); err != nil {
		return nil, fmt.Errorf("discover migrations: %w", err)
	}
	return migrate.NewMigrator(db, ms, migrate.WithMarkAppliedOnSuccess(true)), nil
}

// ErrLockBusy means another session held the migration lock for longer
// than the caller would wait.
var ErrLockBusy = errors.New("held by another session")

// Up applies every pending migration under a Postgres advisory lock, so
// several instances starting at once apply each migration once. It waits
// for the lock at most lockWait (0: as long as it takes, or ctx allows),
// then fails with [ErrLockBusy]. It returns the names applied. The
// migrations' statements run on db's sessions: give it a pool without a
// statement_timeout, and at least two connections (one holds the lock).
func Up(ctx context.Context, db *bun.DB, lockWait time.Duration) (migrate.MigrationSlice, error) {
	var applied migrate.MigrationSlice
	err := withLock(ctx, db, lockWait, func(m *migrate.Migrator) error {
		group, err := m.Migrate(ctx)
		if err != nil {
			return fmt.Errorf("migrate up: %w", err)
		}
		applied = append(applied, group.Migrations...)
		return nil
	})
	return applied, err
}

// Down rolls back the last group of migrations and returns their names.
func Down(ctx context.Context, db *bun.DB) (migrate.MigrationSlice, error) {
	var undone migrate.MigrationSlice
	err := withLock(ctx, db, 0, func(m *migrate.Migrator) error {
		group, err := m.Rollback(ctx)
		if err != nil {
			return fmt.Errorf("migrate down: %w", err)
		}
		undone = append(undone, group.Migrations...)
		return nil
	})
	return undone, err
}

// Status returns every migration with whether it is applied.
func Status(ctx context.Context, db *bun.DB) (migrate.MigrationSlice, error) {
	var out migrate.MigrationSlice
	err := withLock(ctx, db, 0, func(m *migrate.Migrator) error {
		var err error
		out, err = m.MigrationsWithStatus(ctx)
		return err
	})
	return out, err
}

// withLock runs fn holding the migration lock, waited for at most
// lockWait (0: no limit).
func withLock(ctx context.Context, db *bun.DB, lockWait time.Duration, fn func(*migrate.Migrator) error) error {
	m, err := New(db)
	if err != nil {
		return err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	defer conn.Close()
	if err := advisoryLock(ctx, conn, lockWait); err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(?)", LockKey) //nolint:errcheck // released with the session anyway
	if err := m.Init(ctx); err != nil {
		return fmt.Errorf("init migrations: %w", err)
	}
	return fn(m)
}

// advisoryLock takes the migration lock on conn, waiting at most lockWait
// (0: no limit). lock_timeout bounds the wait for an advisory lock as for
// any other lock; it is set for the wait only, and the session returns to
// the pool as it came.
func advisoryLock(ctx context.Context, conn bun.Conn, lockWait time.Duration) error {
	if lockWait <= 0 {
		_, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(?)", LockKey)
		return err
	}
	if _, err := conn.ExecContext(ctx, "SELECT set_config('lock_timeout', ?, false)", fmt.Sprint(lockWait.Milliseconds())); err != nil {
		return err
	}
	_, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(?)", LockKey)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "55P03" { // lock_not_available: lock_timeout expired
		err = fmt.Errorf("%w for over %s", ErrLockBusy, lockWait)
	}
	if _, resetErr := conn.ExecContext(context.WithoutCancel(ctx), "RESET lock_timeout"); err == nil {
		err = resetErr
	}
	return err
}

// Hash identifies the schema the migrations produce (for test template databases).
func Hash() (string, error) {
	names, err := fs.Glob(files, "*.sql")
	if err != nil {
		return "", err
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		b, err := files.ReadFile(n)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\n%d\n", n, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
