// Package postgres implements the ledger, its read models and the
// application's other stores on PostgreSQL, through bun and pgx.
package postgres

import (
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
)

// Options tune the connection pool.
type Options struct {
	MaxOpenConns int
	// StatementTimeout bounds every statement of the pool's sessions. 0
	// sets none (statement_timeout = 0), overriding any default of the
	// server, database or role: a pool for requests bounds them, a pool
	// for one-shot operator commands (a rebuild, a verify, an export of a
	// large ledger) must not be cut short.
	StatementTimeout time.Duration
	// Settings are more run-time parameters of the pool's sessions (for
	// example synchronous_commit).
	Settings map[string]string
}

// Open connects to the database at url. bun formats every query with its
// arguments escaped, so pgx sends them with the simple protocol (no
// per-query prepared statements). The returned DB is safe for concurrent use.
func Open(url string, opt Options) (*bun.DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", errors.New(redactParseError(err)))
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	cfg.RuntimeParams["statement_timeout"] = fmt.Sprint(max(opt.StatementTimeout, 0).Milliseconds())
	for k, v := range opt.Settings {
		cfg.RuntimeParams[k] = v
	}
	sqldb := stdlib.OpenDB(*cfg)
	if opt.MaxOpenConns > 0 {
		sqldb.SetMaxOpenConns(opt.MaxOpenConns)
		sqldb.SetMaxIdleConns(opt.MaxOpenConns)
	}
	sqldb.SetConnMaxIdleTime(5 * time.Minute)
	return bun.NewDB(sqldb, pgdialect.New()), nil
}

// Wrap returns a bun.DB over an already open *sql.DB (tests).
func Wrap(sqldb *sql.DB) *bun.DB { return bun.NewDB(sqldb, pgdialect.New()) }

// redactParseError keeps pgx's message but never the URL, which may hold a password.
func redactParseError(err error) string {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		return pe.Unwrap().Error()
	}
	return "malformed connection string"
}

// uniqueViolation reports whether err is Postgres error 23505 on the named constraint.
func uniqueViolation(err error, constraint string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == constraint
}

// lockNotAvailable reports whether err is Postgres error 55P03: a lock not
// granted within lock_timeout.
func lockNotAvailable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "55P03"
}

// prepared is args for a statement written with $n placeholders and run
// on the *sql.DB under a bun.DB (bun's own methods would format it): pgx
// prepares it once per connection and keeps it in the connection's
// statement cache, where the pool's default, the simple protocol, plans
// every query anew. For the reads of every request: the session's
// lookup, a writable CTE, costs 0.44 ms to plan and 0.06 ms prepared.
func prepared(args ...any) []any {
	return append([]any{pgx.QueryExecModeCacheStatement}, args...)
}
