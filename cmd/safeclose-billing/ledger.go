package main

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/safeclose/billing/application"
	"github.com/safeclose/billing/domain/ledger"
	"github.com/safeclose/billing/ports"
)

func ledgerCommand(e env) *cobra.Command {
	cmd := &cobra.Command{Use: "ledger", Short: "Check the ledger, and sign checkpoints of it"}
	cmd.AddCommand(ledgerVerifyCommand(e), ledgerCheckpointCommand(e))
	return cmd
}

func ledgerVerifyCommand(e env) *cobra.Command {
	var org, checkpointFile, proofFile string
	verify := &cobra.Command{
		Use:   "verify [--org ID] [--checkpoint FILE [--proof FILE]]",
		Short: "Recompute every stream's hash chain and versions (and hold them to a signed checkpoint); exit 1 naming the first bad event",
		Long: "Recompute every stream's hash chain and versions; exit 1 naming the first bad event.\n\n" +
			"With --checkpoint FILE, the checkpoint's signature is checked against LEDGER_PUBLIC_KEY first, then every\n" +
			"stream's chain must reach the checkpoint's hash at the checkpoint's version: an event changed, removed or\n" +
			"reordered before it is caught even if every later hash was recomputed.\n\n" +
			"With --proof FILE (from `ledger checkpoint --prove`), only the proof is checked against the checkpoint:\n" +
			"no database is needed.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			if proofFile != "" {
				if checkpointFile == "" {
					return usageError{errors.New("--proof needs --checkpoint FILE")}
				}
				cfg, err := loadConfig(e.lookup, needs{public: true})
				if err != nil {
					return err
				}
				return verifyProof(out, cfg, checkpointFile, proofFile)
			}
			cfg, err := loadConfig(e.lookup, needs{database: true, public: checkpointFile != ""})
			if err != nil {
				return err
			}
			var cp *ledger.Checkpoint
			if checkpointFile != "" {
				c, err := readCheckpoint(out, cfg, checkpointFile)
				if err != nil {
					return err
				}
				cp = &c
			}
			var scan ports.LedgerScanner
			return withApp(cmd.Context(), cfg, e, func() error {
				rep, err := application.VerifyLedgerAgainst(cmd.Context(), scan, org, cp)
				if err != nil {
					return err
				}
				if rep.Break != nil {
					fmt.Fprintf(out, "ledger broken: org %s, event %d", rep.Break.StreamID, rep.Break.Version)
					if rep.Break.Position != 0 {
						fmt.Fprintf(out, " (position %d)", rep.Break.Position)
					}
					fmt.Fprintf(out, ": %s\n", rep.Break.Reason)
					return exitError{1}
				}
				against := ""
				if cp != nil {
					against = fmt.Sprintf(", and up to the checkpoint of %s (position %d)", cp.TakenAt, cp.Position)
				}
				if org != "" && rep.Streams == 0 {
					fmt.Fprintf(out, "ledger intact: org %s has no events%s\n", org, against)
					return nil
				}
				fmt.Fprintf(out, "ledger intact: %d events in %d streams%s\n", rep.Events, rep.Streams, against)
				return nil
			}, &scan)
		},
	}
	verify.Flags().StringVar(&org, "org", "", "verify only this organization's stream")
	verify.Flags().StringVar(&checkpointFile, "checkpoint", "", "a checkpoint from `ledger checkpoint` to hold the ledger to")
	verify.Flags().StringVar(&proofFile, "proof", "", "check an inclusion proof from `ledger checkpoint --prove` against --checkpoint")
	return verify
}

func ledgerCheckpointCommand(e env) *cobra.Command {
	var (
		prove          bool
		org, fromFile  string
		cmdDescription = "Print a checkpoint of every stream's head, signed with LEDGER_SIGNING_KEY (one JSON document)"
	)
	checkpoint := &cobra.Command{
		Use:   "checkpoint [--prove --org ID [--checkpoint FILE]]",
		Short: cmdDescription,
		Long: cmdDescription + ".\n\n" +
			"Keep it outside the database (see README, \"Checkpoints\"): `ledger verify --checkpoint FILE` then proves\n" +
			"every event up to it unchanged. With --prove --org ID, print instead that org's inclusion proof: against\n" +
			"--checkpoint FILE (checked with LEDGER_PUBLIC_KEY, or the signing key's), or against a checkpoint taken now,\n" +
			"which has the same Merkle root as one printed before as long as no event was appended since.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			if prove != (org != "") {
				return usageError{errors.New("--prove and --org go together")}
			}
			if fromFile != "" && !prove {
				return usageError{errors.New("--checkpoint FILE is for --prove")}
			}
			if fromFile != "" {
				cfg, err := loadConfig(e.lookup, needs{})
				if err != nil {
					return err
				}
				if cfg.PublicKey == nil && cfg.SigningKey != nil {
					cfg.PublicKey = cfg.SigningKey.Public().(ed25519.PublicKey)
				}
				if cfg.PublicKey == nil {
					return &ConfigError{Var: "LEDGER_PUBLIC_KEY", Problem: "is not set (needed to check the checkpoint)"}
				}
				cp, err := readCheckpoint(out, cfg, fromFile)
				if err != nil {
					return err
				}
				return printProof(out, cp, org)
			}
			cfg, err := loadConfig(e.lookup, needs{database: true, signing: true})
			if err != nil {
				return err
			}
			var scan ports.LedgerScanner
			return withApp(cmd.Context(), cfg, e, func() error {
				cp, err := application.TakeCheckpoint(cmd.Context(), scan, cfg.SigningKey, time.Now())
				if err != nil {
					return err
				}
				if prove {
					return printProof(out, cp, org)
				}
				return writeJSON(out, cp)
			}, &scan)
		},
	}
	checkpoint.Flags().BoolVar(&prove, "prove", false, "print the inclusion proof of --org's head instead of the checkpoint")
	checkpoint.Flags().StringVar(&org, "org", "", "the organization to prove (with --prove)")
	checkpoint.Flags().StringVar(&fromFile, "checkpoint", "", "prove against this checkpoint instead of a new one")
	return checkpoint
}

// readCheckpoint reads and checks a checkpoint file; a refused one is
// said on out and exits 1.
func readCheckpoint(out io.Writer, cfg Config, path string) (ledger.Checkpoint, error) {
	doc, err := os.ReadFile(path)
	if err != nil {
		return ledger.Checkpoint{}, usageError{fmt.Errorf("--checkpoint: %w", err)}
	}
	cp, err := ledger.ParseCheckpoint(doc, cfg.PublicKey)
	if err != nil {
		fmt.Fprintf(out, "checkpoint refused: %v\n", err)
		return ledger.Checkpoint{}, exitError{1}
	}
	return cp, nil
}

func verifyProof(out io.Writer, cfg Config, checkpointFile, proofFile string) error {
	cp, err := readCheckpoint(out, cfg, checkpointFile)
	if err != nil {
		return err
	}
	doc, err := os.ReadFile(proofFile)
	if err != nil {
		return usageError{fmt.Errorf("--proof: %w", err)}
	}
	var p ledger.Proof
	if err := json.Unmarshal(doc, &p); err != nil || p.Format != ledger.CheckpointFormat {
		fmt.Fprintf(out, "proof refused: not an inclusion proof of this service\n")
		return exitError{1}
	}
	if p.MerkleRoot != cp.MerkleRoot {
		fmt.Fprintf(out, "proof refused: it is for the Merkle root %s, the checkpoint's is %s\n", p.MerkleRoot, cp.MerkleRoot)
		return exitError{1}
	}
	if err := cp.VerifyProof(p); err != nil {
		fmt.Fprintf(out, "proof refused: org %s: %v\n", p.Stream.OrgID, err)
		return exitError{1}
	}
	fmt.Fprintf(out, "proof valid: org %s at version %d (hash %s) is in the checkpoint of %s\n", p.Stream.OrgID, p.Stream.Version, p.Stream.Hash, cp.TakenAt)
	return nil
}

func printProof(out io.Writer, cp ledger.Checkpoint, org string) error {
	p, err := cp.Prove(org)
	if err != nil {
		fmt.Fprintf(out, "no proof: %v\n", err)
		return exitError{1}
	}
	return writeJSON(out, p)
}

func writeJSON(out io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "%s\n", b)
	return err
}
