package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/uptrace/bun"

	"github.com/safeclose/billing/migrations"
)

func migrateCommand(e env) *cobra.Command {
	return &cobra.Command{
		Use:       "migrate up|down|status",
		Short:     "Apply, roll back or list the schema migrations",
		Args:      exactArgs(1),
		ValidArgs: []string{"up", "down", "status"},
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] != "up" && args[0] != "down" && args[0] != "status" {
				return usageError{fmt.Errorf("migrate: unknown action %q (want up, down or status)", args[0])}
			}
			cfg, err := loadConfig(e.lookup, needs{database: true})
			if err != nil {
				return err
			}
			var db *bun.DB
			return withApp(cmd.Context(), cfg, e, func() error {
				ctx, out := cmd.Context(), cmd.OutOrStdout()
				switch args[0] {
				case "up":
					applied, err := migrations.Up(ctx, db, 0) // an operator waits for another migration as long as it takes
					if err != nil {
						return err
					}
					if len(applied) == 0 {
						fmt.Fprintln(out, "no pending migrations")
					}
					for _, m := range applied {
						fmt.Fprintln(out, "applied", m.Name+"_"+m.Comment)
					}
				case "down":
					undone, err := migrations.Down(ctx, db)
					if err != nil {
						return err
					}
					if len(undone) == 0 {
						fmt.Fprintln(out, "nothing to roll back")
					}
					for _, m := range undone {
						fmt.Fprintln(out, "rolled back", m.Name+"_"+m.Comment)
					}
				case "status":
					ms, err := migrations.Status(ctx, db)
					if err != nil {
						return err
					}
					for _, m := range ms {
						state := "pending"
						if m.IsApplied() {
							state = "applied"
						}
						fmt.Fprintf(out, "%-8s %s\n", state, strings.TrimSpace(m.Name+" "+m.Comment))
					}
				}
				return nil
			}, &db)
		},
	}
}
