package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/uptrace/bun"
	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/safeclose/billing/adapters/metrics"
	"github.com/safeclose/billing/adapters/postgres"
	"github.com/safeclose/billing/adapters/stripe"
	"github.com/safeclose/billing/adapters/system"
	"github.com/safeclose/billing/application"
	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// logOutput is where the JSON logs go: stdout for serve, stderr for the
// one-shot commands whose stdout is their result.
type logOutput struct{ io.Writer }

func newLogger(cfg Config, out logOutput) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(cfg.LogLevel)
	if err != nil {
		return nil, err
	}
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey, enc.EncodeTime = "ts", zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.Lock(zapcore.AddSync(out)), level)
	return zap.New(core), nil
}

// databases are the primary and the (optional) read replica.
type databases struct {
	fx.Out
	Primary *bun.DB
	Read    *bun.DB `name:"read"`
}

// servePool is the pools' setting for serve: a request's statements are
// bounded, so a stuck query cannot hold a connection for ever.
func servePool() postgres.Options {
	return postgres.Options{MaxOpenConns: 32, StatementTimeout: 30 * time.Second}
}

// operatorPool is the pools' setting for the one-shot operator commands
// and serve's migrations: no statement_timeout, since a rebuild, a verify,
// an export or a reconcile of a large ledger, or a migration, may take
// long.
func operatorPool() postgres.Options {
	return postgres.Options{MaxOpenConns: 32}
}

func newDatabases(cfg Config, opt postgres.Options, lc fx.Lifecycle) (databases, error) {
	primary, err := postgres.Open(cfg.DatabaseURL, opt)
	if err != nil {
		return databases{}, &ConfigError{Var: "DATABASE_URL", Problem: err.Error()}
	}
	read := primary
	if cfg.DatabaseReadURL != cfg.DatabaseURL {
		if read, err = postgres.Open(cfg.DatabaseReadURL, opt); err != nil {
			return databases{}, &ConfigError{Var: "DATABASE_READ_URL", Problem: err.Error()}
		}
	}
	lc.Append(fx.StopHook(func() error {
		if read != primary {
			read.Close()
		}
		return primary.Close()
	}))
	return databases{Primary: primary, Read: read}, nil
}

// asProjection registers a read model with the event store (the
// "projections" value group): adding a read model is one more of these.
func asProjection(f any) any {
	return fx.Annotate(f, fx.As(new(postgres.Projection)), fx.ResultTags(`group:"projections"`))
}

// newStore sorts the projections by table, so that every process locks
// their tables in the same order.
func newStore(db *bun.DB, clock ports.Clock, m *metrics.Metrics, projections []postgres.Projection) *postgres.Store {
	sort.Slice(projections, func(i, j int) bool { return projections[i].Table() < projections[j].Table() })
	s := postgres.NewStore(db, clock, projections)
	s.OnConflict(m.AppendConflicts.Inc)
	return s
}

// newReadScanner reads the ledger on the read database (a replica, when
// DATABASE_READ_URL names one) for the export.
func newReadScanner(read *bun.DB) ports.LedgerScanner {
	return postgres.NewLedgerReader(read)
}

// coreModule is what every command shares: config, logs, database (pools
// with pool's settings), ledger.
func coreModule(cfg Config, out io.Writer, pool postgres.Options) fx.Option {
	return fx.Options(
		fx.Supply(cfg, logOutput{out}, pool),
		fx.WithLogger(func(log *zap.Logger) fxevent.Logger {
			l := &fxevent.ZapLogger{Logger: log}
			l.UseLogLevel(zapcore.DebugLevel)
			return l
		}),
		fx.Provide(
			newLogger,
			newDatabases,
			fx.Annotate(func() system.Clock { return system.Clock{} }, fx.As(new(ports.Clock))),
			postgres.NewStatusProjection,
			postgres.NewLinksProjection,
			asProjection(func(p *postgres.StatusProjection) *postgres.StatusProjection { return p }),
			asProjection(func(p *postgres.LinksProjection) *postgres.LinksProjection { return p }),
			asProjection(func() postgres.OrgsProjection { return postgres.OrgsProjection{} }),
			asProjection(func() postgres.MembershipsProjection { return postgres.MembershipsProjection{} }),
			postgres.NewUsers,
			func(u *postgres.Users) ports.Users { return u },
			func(u *postgres.Users) ports.Memberships { return u },
			fx.Annotate(postgres.NewLoginLimiter, fx.As(new(ports.LoginLimiter))),
			func(c *stripe.Client) ports.PaymentProvider { return c },
			application.NewIdentity,
			postgres.NewReconciliation,
			fx.Annotate(postgres.NewHistory, fx.ParamTags(`name:"read"`, ``), fx.As(new(ports.History))),
			fx.Annotate(newStore, fx.ParamTags(``, ``, ``, `group:"projections"`)),
			func(s *postgres.Store) ports.EventStore { return s },
			func(s *postgres.Store) ports.LedgerScanner { return s },
			fx.Annotate(newReadScanner, fx.ParamTags(`name:"read"`), fx.ResultTags(`name:"read"`)),
			func(p *postgres.StatusProjection) ports.BillingStatusReader { return p },
			fx.Annotate(postgres.NewMaintenance, fx.As(new(ports.Maintenance))),
			postgres.NewInbox,
			func(in *postgres.Inbox) ports.Inbox { return in },
			fx.Annotate(postgres.NewOrgs, fx.As(new(ports.OrgDirectory))),
			func(l *postgres.LinksProjection) ports.StripeLinks { return l },
			newStripeClient,
			func(c *stripe.Client) ports.SubscriptionSource { return c },
			newPriceCache,
			func(p *stripe.PriceCache) ports.PriceSource { return p },
			metrics.New,
			application.NewService,
			newServiceDeps,
		),
	)
}

// stripeTimeout bounds each Stripe call.
const stripeTimeout = 10 * time.Second

func tierPrices(cfg Config) stripe.Prices {
	return stripe.Prices{billing.TierStarter: cfg.StripePriceStarter, billing.TierPro: cfg.StripePricePro, billing.TierEnterprise: cfg.StripePriceEnt}
}

func newStripeClient(cfg Config) *stripe.Client {
	return stripe.NewClient(stripe.Config{SecretKey: cfg.StripeSecretKey, APIBase: cfg.StripeAPIBase, Timeout: stripeTimeout, Prices: tierPrices(cfg)})
}

// newPriceCache serves the tiers' prices read from Stripe, at most hourly;
// a request waits for Stripe at most 3 s, and only while no price is
// known.
func newPriceCache(cfg Config, c *stripe.Client, log *zap.Logger) *stripe.PriceCache {
	return stripe.NewPriceCache(tierPrices(cfg), c.Price, stripe.CacheOptions{Log: log})
}

type serviceIn struct {
	fx.In
	Store  ports.EventStore
	Status ports.BillingStatusReader
	Clock  ports.Clock
	Log    *zap.Logger
	Inbox  ports.Inbox
	Links  ports.StripeLinks
	Orgs   ports.OrgDirectory
	Subs   ports.SubscriptionSource
	Users  ports.Users
	Member ports.Memberships
	Pay    ports.PaymentProvider
	Hist   ports.History
	Prices ports.PriceSource
	Config Config
}

func newServiceDeps(in serviceIn) application.Deps {
	return application.Deps{Store: in.Store, Status: in.Status, Clock: in.Clock, Log: in.Log,
		Inbox: in.Inbox, Links: in.Links, Orgs: in.Orgs, Subscriptions: in.Subs,
		Users: in.Users, Memberships: in.Member, Payments: in.Pay, History: in.Hist, BaseURL: in.Config.AppBaseURL,
		Plans: in.Config.Plans, Prices: in.Prices, Grace: in.Config.Grace}
}

// withApp builds the one-shot command's object graph (on operator pools),
// fills targets (pointers, as fx.Populate), runs fn and stops the app.
func withApp(ctx context.Context, cfg Config, e env, fn func() error, targets ...any) error {
	app := fx.New(coreModule(cfg, e.stderr, operatorPool()), fx.Populate(targets...))
	if err := app.Err(); err != nil {
		return unwrapConfig(err)
	}
	if err := app.Start(ctx); err != nil {
		return err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = app.Stop(stopCtx)
	}()
	return fn()
}

// unwrapConfig digs a *ConfigError out of fx's wrapped construction error
// so that it is reported as one line with exit status 2.
func unwrapConfig(err error) error {
	var ce *ConfigError
	if errors.As(err, &ce) {
		return ce
	}
	return fmt.Errorf("start: %w", err)
}
