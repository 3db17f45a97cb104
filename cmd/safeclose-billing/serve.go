package main

import (
	"context"
	"errors"
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
				coreModule(cfg, e.stdout),
				fx.StopTimeout(shutdownGrace+time.Second),
				fx.Provide(newRouter),
				fx.Invoke(func(lc fx.Lifecycle, db *bun.DB, log *zap.Logger) {
					if noMigrate {
						return
					}
					lc.Append(fx.StartHook(func(ctx context.Context) error {
						applied, err := migrations.Up(ctx, db)
						if err != nil {
							return err
						}
						log.Info("migrations applied", zap.Int("count", len(applied)))
						return nil
					}))
				}),
				fx.Invoke(startHTTP),
			)
			if err := app.Err(); err != nil {
				return unwrapConfig(err)
			}
			startCtx, cancel := context.WithTimeout(cmd.Context(), 60*time.Second)
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

func newRouter(cfg Config, db *bun.DB, log *zap.Logger, svc *application.Service, id *application.Identity, client *stripe.Client, m *metrics.Metrics, clock ports.Clock, rec *postgres.Reconciliation, inbox *postgres.Inbox) http.Handler {
	m.ObserveReconcileDrift(lastDrift(rec))
	m.ObserveParked(scraped(inbox.ParkedCount))
	hooks := stripe.NewWebhooks(cfg.StripeWebhookSecret, client, clock.Now)
	hooks.OnRefetch = func(version, typ string) {
		m.WebhookRefetch.WithLabelValues(version, typ).Inc()
		log.Warn("webhook of another API version: object re-fetched in 2023-10-16", zap.String("apiVersion", version), zap.String("type", typ))
	}
	hooks.Seen = inbox.Seen
	return httpapi.NewRouter(httpapi.Deps{Log: log, DB: db, Metrics: m, TrustedProxies: cfg.TrustedProxies, Routes: []func(*mux.Router){
		httpapi.WebhookRoutes(log, hooks, svc, m, clock),
		(&httpapi.API{Log: log, Identity: id, App: svc, CookieName: cfg.SessionCookieName, BaseURL: cfg.AppBaseURL}).Routes,
		(&web.Pages{Log: log, Identity: id, App: svc, CookieName: cfg.SessionCookieName}).Routes,
	}})
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
