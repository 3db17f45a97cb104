package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/safeclose/billing/application"
	"github.com/safeclose/billing/ports"
)

func maintenanceCommand(e env) *cobra.Command {
	cmd := &cobra.Command{Use: "maintenance", Short: "Remove data past its use"}
	var olderThan time.Duration
	prune := &cobra.Command{
		Use:   "prune [--older-than DURATION]",
		Short: "Delete expired sessions, and the payloads of settled Stripe events older than the cutoff (parked events and every event id are kept)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if olderThan < 0 {
				return usageError{errors.New("--older-than must not be negative")}
			}
			cfg, err := loadConfig(e.lookup, needs{database: true})
			if err != nil {
				return err
			}
			var m ports.Maintenance
			return withApp(cmd.Context(), cfg, e, func() error {
				rep, err := application.Prune(cmd.Context(), m, time.Now(), olderThan)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted %d expired sessions\n", rep.Sessions)
				fmt.Fprintf(cmd.OutOrStdout(), "removed the payloads of %d settled Stripe events received before %s (parked events and event ids kept)\n",
					rep.Payloads, rep.Cutoff.Format(time.RFC3339))
				return nil
			}, &m)
		},
	}
	prune.Flags().DurationVar(&olderThan, "older-than", application.DefaultRetention, "remove the payloads of settled Stripe events received longer ago than this")
	cmd.AddCommand(prune)
	return cmd
}

// sessionSweep is how often serve deletes expired sessions.
const sessionSweep = time.Hour

// startSessionSweep deletes expired sessions every hour while serve runs
// (the first sweep at start). A failed sweep is logged; the next tries
// again.
func startSessionSweep(lc fx.Lifecycle, m ports.Maintenance, clock ports.Clock, log *zap.Logger) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	sweep := func() {
		n, err := m.DeleteExpiredSessions(ctx, clock.Now(), 1000)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("expired sessions sweep failed", zap.Error(err))
		case n > 0:
			log.Info("expired sessions deleted", zap.Int64("count", n))
		}
	}
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			go func() {
				defer close(done)
				sweep()
				tick := time.NewTicker(sessionSweep)
				defer tick.Stop()
				for {
					select {
					case <-ctx.Done():
						return
					case <-tick.C:
						sweep()
					}
				}
			}()
			return nil
		},
		OnStop: func(stop context.Context) error {
			cancel()
			select {
			case <-done:
			case <-stop.Done():
			}
			return nil
		},
	})
}
