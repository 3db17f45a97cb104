// Command safeclose-billing is the Safeclose Billing service and its
// operator commands (docs/API.md, "Commands"). This package only
// wires: fx assembles the adapters, cobra parses the command line.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

func main() {
	os.Exit(run(os.Args[1:], env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, lookup: os.LookupEnv}))
}

// env is the program's outside world, swapped in tests.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	lookup         func(string) (string, bool)
}

// exitError ends the program with a status other than 1, having said why.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// usageError is a bad command line: exit status 2.
type usageError struct{ error }

func run(args []string, e env) int {
	root := rootCommand(e)
	root.SetArgs(args)
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	err := root.Execute()
	var (
		ce *ConfigError
		ee exitError
		ue usageError
	)
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ce):
		fmt.Fprintln(e.stderr, "safeclose-billing: "+ce.Error())
		return 2
	case errors.As(err, &ue), strings.HasPrefix(err.Error(), "required flag"), strings.HasPrefix(err.Error(), "unknown command"):
		fmt.Fprintln(e.stderr, "safeclose-billing: "+err.Error())
		return 2
	default:
		fmt.Fprintln(e.stderr, "safeclose-billing: "+err.Error())
		return 1
	}
}

func rootCommand(e env) *cobra.Command {
	root := &cobra.Command{
		Use:           "safeclose-billing",
		Short:         "Safeclose Billing: Stripe subscriptions with an event-sourced, tamper-evident ledger",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		serveCommand(e),
		migrateCommand(e),
		projectionsCommand(e),
		ledgerCommand(e),
		devCommand(e),
		usersCommand(e),
		orgsCommand(e),
		sessionsCommand(e),
		eventsCommand(e),
		reconcileCommand(e),
		plansCommand(e),
		maintenanceCommand(e),
		outboundCommand(e),
	)
	return root
}

// exactArgs is cobra.ExactArgs answering with a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}
