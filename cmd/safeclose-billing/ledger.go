package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/safeclose/billing/application"
	"github.com/safeclose/billing/ports"
)

func ledgerCommand(e env) *cobra.Command {
	cmd := &cobra.Command{Use: "ledger", Short: "Check the ledger"}
	var org string
	verify := &cobra.Command{
		Use:   "verify [--org ID]",
		Short: "Recompute every stream's hash chain and versions; exit 1 naming the first bad event",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(e.lookup, needs{database: true})
			if err != nil {
				return err
			}
			var scan ports.LedgerScanner
			return withApp(cmd.Context(), cfg, e, func() error {
				rep, err := application.VerifyLedger(cmd.Context(), scan, org)
				if err != nil {
					return err
				}
				if rep.Break != nil {
					fmt.Fprintf(cmd.OutOrStdout(), "ledger broken: org %s, event %d", rep.Break.StreamID, rep.Break.Version)
					if rep.Break.Position != 0 {
						fmt.Fprintf(cmd.OutOrStdout(), " (position %d)", rep.Break.Position)
					}
					fmt.Fprintf(cmd.OutOrStdout(), ": %s\n", rep.Break.Reason)
					return exitError{1}
				}
				if org != "" && rep.Streams == 0 {
					fmt.Fprintf(cmd.OutOrStdout(), "ledger intact: org %s has no events\n", org)
					return nil
				}
				fmt.Fprintf(cmd.OutOrStdout(), "ledger intact: %d events in %d streams\n", rep.Events, rep.Streams)
				return nil
			}, &scan)
		},
	}
	verify.Flags().StringVar(&org, "org", "", "verify only this organization's stream")
	cmd.AddCommand(verify)
	return cmd
}
