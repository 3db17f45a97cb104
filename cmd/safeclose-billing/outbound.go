package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/safeclose/billing/adapters/metrics"
	"github.com/safeclose/billing/adapters/outbound"
	"github.com/safeclose/billing/adapters/postgres"
)

// outboundPool is the outbound dispatcher's own pool, so that deliveries
// never take the requests' connections. Its commits do not wait for the
// WAL flush: a write lost with a crash of Postgres makes an event be sent
// again, never skipped.
func outboundPool() postgres.Options {
	return postgres.Options{MaxOpenConns: 8, StatementTimeout: 30 * time.Second, Settings: map[string]string{"synchronous_commit": "off"}}
}

// startOutbound runs the outbound dispatcher in serve when
// OUTBOUND_WEBHOOK_URLS is set (after the migrations' start hook).
func startOutbound(lc fx.Lifecycle, cfg Config, log *zap.Logger, m *metrics.Metrics, store *postgres.Store) error {
	if len(cfg.OutboundURLs) == 0 {
		return nil
	}
	db, err := postgres.Open(cfg.DatabaseURL, outboundPool())
	if err != nil {
		return &ConfigError{Var: "DATABASE_URL", Problem: err.Error()}
	}
	host, _ := os.Hostname()
	d := outbound.New(postgres.NewOutbound(db), outbound.Options{Endpoints: cfg.OutboundURLs, Secret: cfg.OutboundSecret,
		Owner: host + ":" + strconv.Itoa(os.Getpid()) + ":" + strconv.FormatInt(time.Now().UnixNano(), 36),
		Log:   log, Metrics: m.Outbound(redactedAll(cfg.OutboundURLs))})
	// This instance's appends wake an idle follower at once.
	store.OnAppend(d.Appended)
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			if err := d.Start(ctx); err != nil {
				return err
			}
			log.Info("outbound events: delivering", zap.Strings("endpoints", redactedAll(cfg.OutboundURLs)))
			return nil
		},
		OnStop: func(ctx context.Context) error {
			err := d.Stop(ctx)
			return errors.Join(err, db.Close())
		},
	})
	return nil
}

func redactedAll(urls []string) []string {
	out := make([]string, len(urls))
	for i, u := range urls {
		out[i] = outbound.Redacted(u)
	}
	return out
}

func outboundRedacted(u string) string { return outbound.Redacted(u) }

func outboundCommand(e env) *cobra.Command {
	cmd := &cobra.Command{Use: "outbound", Short: "Outbound events"}
	var (
		org  string
		from int64
	)
	replay := &cobra.Command{
		Use:   "replay --org ID [--from-version N]",
		Short: "Send an org's ledger events again, from version N (default 1), to every outbound endpoint; serve sends them",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(e.lookup, needs{database: true, outbound: true})
			if err != nil {
				return err
			}
			if from < 1 {
				return usageError{errors.New("--from-version must be 1 or more")}
			}
			db, err := postgres.Open(cfg.DatabaseURL, operatorPool())
			if err != nil {
				return &ConfigError{Var: "DATABASE_URL", Problem: err.Error()}
			}
			defer db.Close()
			head, err := postgres.NewOutbound(db).Replay(cmd.Context(), cfg.OutboundURLs, org, from)
			switch {
			case err != nil:
				return err
			case head == 0:
				return fmt.Errorf("no organization %s (it has no events)", org)
			case head < from:
				fmt.Fprintf(cmd.OutOrStdout(), "nothing to replay: %s is at version %d\n", org, head)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "queued %s versions %d to %d for %d endpoints: a running serve sends them in version order\n",
				org, from, head, len(cfg.OutboundURLs))
			return nil
		},
	}
	replay.Flags().StringVar(&org, "org", "", "the organization (required)")
	replay.Flags().Int64Var(&from, "from-version", 1, "the first version to send")
	_ = replay.MarkFlagRequired("org")
	cmd.AddCommand(replay)
	return cmd
}
