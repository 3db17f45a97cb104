package main

import (
	"context"
	"database/sql"
	"io"
	"testing"

	"github.com/uptrace/bun"
	"go.uber.org/fx"

	"github.com/safeclose/billing/adapters/postgres/pgtest"
)

// settings reads statement_timeout and lock_timeout on a session of db.
func settings(t *testing.T, db *bun.DB) (statement, lock string) {
	t.Helper()
	ctx := context.Background()
	if err := db.QueryRowContext(ctx, "SELECT current_setting('statement_timeout'), current_setting('lock_timeout')").Scan(&statement, &lock); err != nil {
		t.Fatal(err)
	}
	return statement, lock
}

// The one-shot commands (withApp: verify, rebuild, export, reconcile,
// migrate…) run without statement_timeout, on the primary and the read
// database; serve keeps its 30 s for requests.
func TestPoolsOfServeAndOfOperatorCommands(t *testing.T) {
	db := pgtest.New(t)
	// A database default must not cut an operator command short either.
	super, err := sql.Open("pgx", db.SuperURL)
	if err != nil {
		t.Fatal(err)
	}
	defer super.Close()
	if _, err := super.Exec("DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET statement_timeout = %L', current_database(), '1s'); END $$"); err != nil {
		t.Fatal(err)
	}
	cfg := Config{DatabaseURL: db.URL, DatabaseReadURL: db.URL + "&application_name=read", LogLevel: "error"}
	var pools struct {
		fx.In
		Primary *bun.DB
		Read    *bun.DB `name:"read"`
	}
	err = withApp(context.Background(), cfg, env{stderr: io.Discard}, func() error {
		for name, p := range map[string]*bun.DB{"primary": pools.Primary, "read": pools.Read} {
			if st, lock := settings(t, p); st != "0" || lock != "0" {
				t.Errorf("one-shot command's %s pool: statement_timeout %s, lock_timeout %s; want 0 and 0", name, st, lock)
			}
		}
		return nil
	}, &pools)
	if err != nil {
		t.Fatal(err)
	}
	app := fx.New(coreModule(cfg, io.Discard, servePool()), fx.Populate(&pools))
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]*bun.DB{"primary": pools.Primary, "read": pools.Read} {
		if st, _ := settings(t, p); st != "30s" {
			t.Errorf("serve's %s pool: statement_timeout %s, want 30s", name, st)
		}
	}
	pools.Primary.Close()
	pools.Read.Close()
}
