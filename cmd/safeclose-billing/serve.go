package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"
	"github.com/uptrace/bun"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/gorilla/mux"

	"github.com/safeclose/billing/adapters/httpapi"
	"github.com/safeclose/billing/adapters/metrics"
	"github.com/safeclose/billing/adapters/postgres"
	"github.com/safeclose/billing/adapters/stripe"
	"github.com/safeclose/billing/adapters/web"
	"github.com/safeclose/billing/application"
	"github.com/safeclose/billing/migrations"
	"github.com/safeclose/billing/ports"
)

// shutdownGrace is how long in-flight requests get after SIGTERM; the
// contract gives the whole program 10 s.
const shutdownGrace = 8 * time.Second

// startDeadline bounds serve's start, its migrations included: an instance
// that cannot start says why and exits rather than hang.
const startDeadline = 60 * time.Second

// migrationLockWait is how long serve waits for another session's
// migration lock (another instance migrating, or `migrate up`). Past it,
// serve exits 1 saying so: a migration that long is applied by `migrate
// up`, which waits as long as it takes, before instances start.
const migrationLockWait = 30 * time.Second

func serveCommand(e env) *cobra.Command {
	var noMigrate bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the HTTP service (applies pending migrations first unless --no-migrate)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(e.lookup, needs{database: true, stripe: true, webhook: true})
			if err != nil {
				return err
			}
			// A webhook allocates some 100 KB and keeps none of it: collect
			// half as often as Go's default, within a bound that stays far
			// below what one instance is given (unless the operator chose).
			if _, set := e.lookup("GOGC"); !set {
				debug.SetGCPercent(200)
			}
			if _, set := e.lookup("GOMEMLIMIT"); !set {
				debug.SetMemoryLimit(512 << 20)
			}
			app := fx.New(
				coreModule(cfg, e.stdout, servePool()),
				fx.StopTimeout(shutdownGrace+time.Second),
				fx.Provide(newRouter),
				fx.Invoke(func(lc fx.Lifecycle, log *zap.Logger) {
					if noMigrate {
						return
					}
					lc.Append(fx.StartHook(func(ctx context.Context) error {
						return migrateAtStart(ctx, cfg, log)
					}))
				}),
				// Appended before the HTTP server's hook, so run after it on
				// stop: no request starts work the drain would miss.
				fx.Invoke(drainOnStop),
				fx.Invoke(startHTTP),
				fx.Invoke(startCheckpoints),
				fx.Invoke(startSessionSweep),
				fx.Invoke(startOutbound),
			)
			if err := app.Err(); err != nil {
				return unwrapConfig(err)
			}
			startCtx, cancel := context.WithTimeout(cmd.Context(), startDeadline)
			defer cancel()
			if err := app.Start(startCtx); err != nil {
				return err
			}
			<-app.Wait()
			stopCtx, cancelStop := context.WithTimeout(context.Background(), shutdownGrace+time.Second)
			defer cancelStop()
			return app.Stop(stopCtx)
		},
	}
	cmd.Flags().BoolVar(&noMigrate, "no-migrate", false, "do not apply pending migrations at start")
	return cmd
}

// migrateAtStart applies pending migrations on a pool of its own, without
// the requests' statement_timeout: a migration is bounded by serve's start
// deadline instead, and the wait for the migration lock by
// migrationLockWait.
func migrateAtStart(ctx context.Context, cfg Config, log *zap.Logger) error {
	db, err := postgres.Open(cfg.DatabaseURL, operatorPool())
	if err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	defer db.Close()
	applied, err := migrations.Up(ctx, db, migrationLockWait)
	switch {
	case errors.Is(err, migrations.ErrLockBusy):
		return fmt.Errorf("apply migrations: %w: another instance or `migrate up` is migrating; apply long migrations with `safeclose-billing migrate up` before starting serve, or start with --no-migrate", err)
	case err != nil && ctx.Err() != nil:
		return fmt.Errorf("apply migrations: not done within serve's start deadline of %s (the one under way was rolled back; apply them with `safeclose-billing migrate up`, which has no limit): %w", startDeadline, err)
	case err != nil:
		return fmt.Errorf("apply migrations: %w", err)
	}
	log.Info("migrations applied", zap.Int("count", len(applied)))
	return nil
}

func newRouter(cfg Config, db *bun.DB, log *zap.Logger, svc *application.Service, id *application.Identity, client *stripe.Client, m *metrics.Metrics, clock ports.Clock, rec *postgres.Reconciliation, inbox *postgres.Inbox) http.Handler {
	m.ObserveReconcileDrift(lastDrift(rec))
	m.ObserveParked(scraped(inbox.ParkedCount))
	hooks := stripe.NewWebhooks(cfg.StripeWebhookSecret, client, clock.Now)
	hooks.OnRefetch = func(version, typ string) {
		m.WebhookRefetch.WithLabelValues(version, typ).Inc()
		log.Warn("webhook of another API version: object re-fetched in 2023-10-16", zap.String("apiVersion", version), zap.String("type", typ))
	}
	hooks.Seen = inbox.Seen
	return httpapi.NewRouter(httpapi.Deps{Log: log, DB: db, Metrics: m, TrustedProxies: cfg.TrustedProxies, BaseURL: cfg.AppBaseURL,
		Routes: []func(*mux.Router){
			(&httpapi.API{Log: log, Identity: id, App: svc, CookieName: cfg.SessionCookieName, BaseURL: cfg.AppBaseURL}).Routes,
			(&web.Pages{Log: log, Identity: id, App: svc, CookieName: cfg.SessionCookieName}).Routes,
		},
		SignedRoutes: []func(*mux.Router){httpapi.WebhookRoutes(log, hooks, svc, m, clock)},
	})
}

// drainOnStop waits, on stop, for the work the use cases left to run after
// answering (expiring superseded checkout sessions), within what remains
// of the stop's time.
func drainOnStop(lc fx.Lifecycle, svc *application.Service) {
	lc.Append(fx.StopHook(svc.Drain))
}

// startHTTP listens when the app starts (so a taken port fails the start)
// and serves in a goroutine; on stop it stops accepting and lets in-flight
// requests finish.
func startHTTP(lc fx.Lifecycle, cfg Config, h http.Handler, log *zap.Logger) {
	srv := &http.Server{
		Addr:              cfg.HTTPAddr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          zap.NewStdLog(log),
	}
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			ln, err := net.Listen("tcp", srv.Addr)
			if err != nil {
				return err
			}
			log.Info("listening", zap.String("addr", ln.Addr().String()), zap.String("url", cfg.AppBaseURL))
			go func() {
				if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					log.Error("http server stopped", zap.Error(err))
				}
			}()
			return nil
		},
		OnStop: func(ctx context.Context) error {
			log.Info("shutting down: finishing in-flight requests")
			ctx, cancel := context.WithTimeout(ctx, shutdownGrace)
			defer cancel()
			return srv.Shutdown(ctx)
		},
	})
}
