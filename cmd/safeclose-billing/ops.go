package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/fx"

	"github.com/safeclose/billing/adapters/postgres"
	"github.com/safeclose/billing/application"
	"github.com/safeclose/billing/ports"
)

func eventsCommand(e env) *cobra.Command {
	cmd := &cobra.Command{Use: "events", Short: "Read the ledger"}
	var org, format string
	export := &cobra.Command{
		Use:   "export --org ID [--format jsonl|csv]",
		Short: "Write an org's full billing history to stdout, streaming",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != application.ExportJSONL && format != application.ExportCSV {
				return usageError{errors.New("--format must be jsonl or csv")}
			}
			cfg, err := loadConfig(e.lookup, needs{database: true})
			if err != nil {
				return err
			}
			var in struct {
				fx.In
				Orgs ports.OrgDirectory
				Scan ports.LedgerScanner `name:"read"`
			}
			return withApp(cmd.Context(), cfg, e, func() error {
				return application.ExportLedger(cmd.Context(), in.Orgs, in.Scan, org, format, cmd.OutOrStdout())
			}, &in)
		},
	}
	export.Flags().StringVar(&org, "org", "", "organization id")
	export.Flags().StringVar(&format, "format", application.ExportJSONL, "jsonl or csv")
	_ = export.MarkFlagRequired("org")
	cmd.AddCommand(export)
	return cmd
}

func reconcileCommand(e env) *cobra.Command {
	var (
		org   string
		apply bool
	)
	cmd := &cobra.Command{
		Use:   "reconcile [--org ID] [--apply]",
		Short: "Compare each linked org's ledger with its live Stripe subscription; --apply records corrections",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(e.lookup, needs{database: true, stripe: true})
			if err != nil {
				return err
			}
			var (
				svc *application.Service
				rec *postgres.Reconciliation
			)
			return withApp(cmd.Context(), cfg, e, func() error {
				out := cmd.OutOrStdout()
				run, err := svc.Reconcile(cmd.Context(), rec, org, apply, func(d application.Drift) {
					fmt.Fprintln(out, d.String())
				})
				if err != nil {
					return err
				}
				action := "dry run: nothing recorded (use --apply)"
				if apply {
					action = fmt.Sprintf("%d corrected", run.Corrected)
				}
				fmt.Fprintf(out, "%d drifted orgs of %d linked (%s)\n", run.Drifted, run.Orgs, action)
				if run.Failed > 0 {
					fmt.Fprintf(cmd.ErrOrStderr(), "safeclose-billing: reconcile: %d orgs could not be checked or corrected (see the log)\n", run.Failed)
					return exitError{1}
				}
				return nil
			}, &svc, &rec)
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "only this organization")
	cmd.Flags().BoolVar(&apply, "apply", false, "record corrective events (default: dry run)")
	return cmd
}

// scraped turns a count read from the database into a gauge reading,
// bounded to a second; an error reads as 0.
func scraped(read func(ctx context.Context) (int, error)) func() float64 {
	return func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		n, err := read(ctx)
		if err != nil {
			return 0
		}
		return float64(n)
	}
}

// lastDrift reads the last reconciliation's drift count for /metrics.
func lastDrift(rec ports.Reconciliation) func() float64 {
	return scraped(func(ctx context.Context) (int, error) {
		run, err := rec.LastRun(ctx)
		return run.Drifted, err
	})
}
