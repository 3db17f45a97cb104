package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/safeclose/billing/application"
	"github.com/safeclose/billing/domain/ledger"
	"github.com/safeclose/billing/ports"
)

// startCheckpoints takes a signed checkpoint every CHECKPOINT_INTERVAL
// into CHECKPOINT_DIR while serve runs (nothing when it is off). A failed
// one is logged and the next tick tries again.
func startCheckpoints(lc fx.Lifecycle, cfg Config, scan ports.LedgerScanner, log *zap.Logger) {
	if cfg.CheckpointEvery == 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			go func() {
				defer close(done)
				tick := time.NewTicker(cfg.CheckpointEvery)
				defer tick.Stop()
				for {
					select {
					case <-ctx.Done():
						return
					case <-tick.C:
						path, cp, err := writeCheckpoint(ctx, cfg, scan, time.Now())
						if err != nil {
							log.Error("checkpoint failed", zap.Error(err))
							continue
						}
						log.Info("checkpoint written", zap.String("path", path), zap.Int64("position", cp.Position), zap.Int("streams", len(cp.Streams)))
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

// writeCheckpoint takes a checkpoint and writes it into CHECKPOINT_DIR as
// checkpoint-<takenAt>-<position>.json, whole or not at all (a temporary
// file renamed).
func writeCheckpoint(ctx context.Context, cfg Config, scan ports.LedgerScanner, now time.Time) (string, ledger.Checkpoint, error) {
	cp, err := application.TakeCheckpoint(ctx, scan, cfg.SigningKey, now)
	if err != nil {
		return "", cp, err
	}
	doc, err := json.MarshalIndent(cp, "", "  ")
	if err != nil {
		return "", cp, err
	}
	name := fmt.Sprintf("checkpoint-%s-%d.json", strings.NewReplacer("-", "", ":", "").Replace(cp.TakenAt), cp.Position)
	path := filepath.Join(cfg.CheckpointDir, name)
	tmp, err := os.CreateTemp(cfg.CheckpointDir, ".checkpoint-*")
	if err != nil {
		return "", cp, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(doc, '\n')); err != nil {
		tmp.Close()
		return "", cp, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", cp, err
	}
	if err := tmp.Close(); err != nil {
		return "", cp, err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return "", cp, err
	}
	return path, cp, os.Rename(tmp.Name(), path)
}
