// Package migrations holds the SQL schema, applied with bun's migrator.
package migrations

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"sort"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/migrate"
)

//go:embed *.sql
var files embed.FS

// lockKey is the advisory lock that serializes migrations across instances.
const lockKey = 0x5afec105e

// New returns the migrator for db.
func New(db *bun.DB) (*migrate.Migrator, error) {
	ms := migrate.NewMigrations()
	if err := ms.Discover(files); err != nil {
		return nil, fmt.Errorf("discover migrations: %w", err)
	}
	return migrate.NewMigrator(db, ms, migrate.WithMarkAppliedOnSuccess(true)), nil
}

// Up applies every pending migration under a Postgres advisory lock, so
// several instances starting at once apply each migration once. It returns
// the names applied.
func Up(ctx context.Context, db *bun.DB) (migrate.MigrationSlice, error) {
	var applied migrate.MigrationSlice
	err := withLock(ctx, db, func(m *migrate.Migrator) error {
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
	err := withLock(ctx, db, func(m *migrate.Migrator) error {
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
	err := withLock(ctx, db, func(m *migrate.Migrator) error {
		var err error
		out, err = m.MigrationsWithStatus(ctx)
		return err
	})
	return out, err
}

func withLock(ctx context.Context, db *bun.DB, fn func(*migrate.Migrator) error) error {
	m, err := New(db)
	if err != nil {
		return err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(?)", lockKey); err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(?)", lockKey) //nolint:errcheck // released with the session anyway
	if err := m.Init(ctx); err != nil {
		return fmt.Errorf("init migrations: %w", err)
	}
	return fn(m)
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
