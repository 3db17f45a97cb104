// Package pgtest gives tests a fresh, migrated Postgres database each, cloned
// from a template (peterldowns/pgtestdb), on the cluster named by
// DATABASE_URL, or on one it starts under .data/test-pg when that is unset.
package pgtest

import (
	"context"
	"database/sql"
	"net/url"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"github.com/peterldowns/pgtestdb"
	"github.com/uptrace/bun"

	"github.com/safeclose/billing/adapters/localstack"
	"github.com/safeclose/billing/adapters/postgres"
	"github.com/safeclose/billing/migrations"
)

// ServerURL returns the superuser URL of the test cluster, starting one if
// DATABASE_URL is unset.
func ServerURL(t testing.TB) string {
	t.Helper()
	u, err := localstack.URL("DATABASE_URL", "pg-start", "test-pg")
	if err != nil {
		t.Fatalf("start test postgres (is postgresql installed? `make test` installs it): %v", err)
	}
	return u
}

// DB is a test database.
type DB struct {
	*bun.DB
	// URL connects as the application's (unprivileged) role.
	URL string
	// SuperURL connects to the same database as the cluster's superuser.
	SuperURL string
}

// New returns a fresh database with every migration applied, dropped when
// the test ends.
func New(t testing.TB) *DB {
	t.Helper()
	server, err := url.Parse(ServerURL(t))
	if err != nil {
		t.Fatalf("DATABASE_URL: %v", err)
	}
	pw, _ := server.User.Password()
	conf := pgtestdb.Config{
		DriverName:                "pgx",
		Host:                      server.Hostname(),
		Port:                      server.Port(),
		User:                      server.User.Username(),
		Password:                  pw,
		Database:                  strings.TrimPrefix(server.Path, "/"),
		Options:                   "sslmode=disable",
		ForceTerminateConnections: true,
	}
	c := pgtestdb.Custom(t, conf, migrator{})
	db, err := postgres.Open(c.URL(), postgres.Options{MaxOpenConns: 40})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	super := *server
	super.Path = "/" + c.Database
	return &DB{DB: db, URL: c.URL(), SuperURL: super.String()}
}

type migrator struct{}

func (migrator) Hash() (string, error) { return migrations.Hash() }

func (migrator) Migrate(ctx context.Context, db *sql.DB, _ pgtestdb.Config) error {
	_, err := migrations.Up(ctx, postgres.Wrap(db), 0)
	return err
}
