package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/safeclose/billing/application"
)

// identityCommand runs fn with the application's identity and service.
func identityCommand(e env, use, short string, setup func(*cobra.Command), fn func(cmd *cobra.Command, id *application.Identity, svc *application.Service) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(e.lookup, needs{database: true})
			if err != nil {
				return err
			}
			var (
				id  *application.Identity
				svc *application.Service
			)
			return withApp(cmd.Context(), cfg, e, func() error {
				err := fn(cmd, id, svc)
				var in *application.InputError
				if errors.As(err, &in) { // e.g. an unknown owner: the command failed (exit 1)
					return fmt.Errorf("%s %s", in.Field, in.Message)
				}
				return err
			}, &id, &svc)
		},
	}
	setup(cmd)
	return cmd
}

func mustFlag(cmd *cobra.Command, names ...string) {
	for _, n := range names {
		_ = cmd.MarkFlagRequired(n)
	}
}

func usersCommand(e env) *cobra.Command {
	cmd := &cobra.Command{Use: "users", Short: "Manage users"}
	var email string
	cmd.AddCommand(identityCommand(e, "create --email E", "Create a user; the password is read from stdin (one line)",
		func(c *cobra.Command) {
			c.Flags().StringVar(&email, "email", "", "the user's email")
			mustFlag(c, "email")
		},
		func(c *cobra.Command, id *application.Identity, _ *application.Service) error {
			password, err := readPassword(c.InOrStdin())
			if err != nil {
				return err
			}
			u, err := id.CreateUser(c.Context(), email, password)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.OutOrStdout(), u.ID)
			return nil
		}))
	return cmd
}

// readPassword reads one line; the trailing newline (and a CR before it)
// is not part of the password.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", usageError{errors.New("no password on stdin")}
	}
	return line, nil
}

func orgsCommand(e env) *cobra.Command {
	cmd := &cobra.Command{Use: "orgs", Short: "Manage organizations"}
	var name, owner string
	cmd.AddCommand(identityCommand(e, "create --name N --owner E", "Create an organization; prints its id",
		func(c *cobra.Command) {
			c.Flags().StringVar(&name, "name", "", "organization name")
			c.Flags().StringVar(&owner, "owner", "", "email of the owning user")
			mustFlag(c, "name", "owner")
		},
		func(c *cobra.Command, _ *application.Identity, svc *application.Service) error {
			org, err := svc.CreateOrg(c.Context(), application.Actor{}, name, owner)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.OutOrStdout(), org)
			return nil
		}))
	var org, email, perm string
	cmd.AddCommand(identityCommand(e, "grant --org ID --email E --permission billing|audit", "Grant a permission, adding the member if needed",
		func(c *cobra.Command) {
			c.Flags().StringVar(&org, "org", "", "organization id")
			c.Flags().StringVar(&email, "email", "", "the user's email")
			c.Flags().StringVar(&perm, "permission", "", "billing or audit")
			mustFlag(c, "org", "email", "permission")
		},
		func(c *cobra.Command, _ *application.Identity, svc *application.Service) error {
			if perm != "billing" && perm != "audit" {
				return usageError{errors.New("--permission must be billing or audit")}
			}
			if err := svc.GrantPermission(c.Context(), org, email, perm); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "granted %s to %s in %s\n", perm, email, org)
			return nil
		}))
	return cmd
}

func sessionsCommand(e env) *cobra.Command {
	cmd := &cobra.Command{Use: "sessions", Short: "Manage sessions"}
	var email string
	cmd.AddCommand(identityCommand(e, "create --email E", "Print a new session token for the user, for scripts and curl",
		func(c *cobra.Command) {
			c.Flags().StringVar(&email, "email", "", "the user's email")
			mustFlag(c, "email")
		},
		func(c *cobra.Command, id *application.Identity, _ *application.Service) error {
			token, err := id.SessionForEmail(c.Context(), email)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.OutOrStdout(), token)
			return nil
		}))
	return cmd
}
