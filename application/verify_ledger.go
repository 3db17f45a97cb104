package application

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/safeclose/billing/domain/ledger"
	"github.com/safeclose/billing/ports"
)

// VerifyReport is the result of a ledger verification.
type VerifyReport struct {
	Streams int
	Events  int64
	Break   *ledger.BreakError // nil when the ledger is intact
}

// VerifyLedger recomputes every stream's hash chain and version sequence
// (only orgID's when it is not ""), and checks each stream ends where the
// stream index says. It stops at the first break. The stream index and the
// events are read in one snapshot, so an append committed meanwhile is
// neither seen nor mistaken for tampering.
func VerifyLedger(ctx context.Context, scan ports.LedgerScanner, orgID string) (VerifyReport, error) {
	return VerifyLedgerAgainst(ctx, scan, orgID, nil)
}

// VerifyLedgerAgainst is [VerifyLedger] that also holds every stream to a
// checkpoint (when cp is not nil; its signature checked by
// [ledger.ParseCheckpoint]): the chain recomputed from the stream's first
// event must reach the checkpoint's hash at the checkpoint's version, so
// that an event changed, removed or reordered before it is caught even if
// every later hash was recomputed. A stream of the checkpoint missing from
// the ledger is a break too; streams created after it are checked by their
// chain alone.
func VerifyLedgerAgainst(ctx context.Context, scan ports.LedgerScanner, orgID string, cp *ledger.Checkpoint) (VerifyReport, error) {
	var rep VerifyReport
	err := scan.Snapshot(ctx, func(snap ports.LedgerScanner) error {
		var err error
		rep, err = verifySnapshot(ctx, snap, orgID, cp)
		return err
	})
	return rep, err
}

// TakeCheckpoint signs with key every stream's head and the ledger's last
// position, read in one snapshot, at now.
func TakeCheckpoint(ctx context.Context, scan ports.LedgerScanner, key ed25519.PrivateKey, now time.Time) (ledger.Checkpoint, error) {
	var cp ledger.Checkpoint
	err := scan.Snapshot(ctx, func(snap ports.LedgerScanner) error {
		position, err := snap.LastPosition(ctx)
		if err != nil {
			return err
		}
		heads, err := snap.Heads(ctx, "")
		if err != nil {
			return err
		}
		entries := make([]ledger.Head, 0, len(heads))
		for id, h := range heads {
			entries = append(entries, ledger.Head{OrgID: id, Version: h.Version, Hash: hex.EncodeToString(h.LastHash)})
		}
		cp, err = ledger.NewCheckpoint(entries, position, now, key)
		return err
	})
	return cp, err
}

func verifySnapshot(ctx context.Context, scan ports.LedgerScanner, orgID string, cp *ledger.Checkpoint) (VerifyReport, error) {
	var (
		rep  VerifyReport
		v    ledger.Verifier
		seen = map[string]bool{}
	)
	heads, err := scan.Heads(ctx, orgID)
	if err != nil {
		return rep, err
	}
	current, read := "", int64(0)
	endStream := func() error {
		if current == "" {
			return nil
		}
		if err := beyondCheckpoint(cp, current, read); err != nil {
			return err
		}
		h := heads[current]
		return v.End(current, h.Version, h.LastHash)
	}
	err = scan.ScanStreams(ctx, orgID, func(e ports.StoredEvent) error {
		if e.StreamID != current {
			if err := endStream(); err != nil {
				return err
			}
			current = e.StreamID
			seen[current] = true
			rep.Streams++
		}
		rep.Events++
		read = e.Version
		if err := v.Next(ledger.Record{StreamID: e.StreamID, Version: e.Version, Type: e.Type, SchemaVersion: e.SchemaVersion,
			Data: e.Data, Metadata: e.MetadataJSON, OccurredAt: e.OccurredAt, RecordedAt: e.RecordedAt}, e.Position, e.Hash); err != nil {
			return err
		}
		return matchesCheckpoint(cp, e)
	})
	if err == nil {
		err = endStream()
	}
	if err == nil {
		// A stream the index knows but whose events are all gone.
		ids := make([]string, 0, len(heads))
		for id := range heads {
			if !seen[id] {
				ids = append(ids, id)
			}
		}
		sort.Strings(ids)
		for _, id := range ids {
			if err = v.End(id, heads[id].Version, heads[id].LastHash); err != nil {
				break
			}
		}
	}
	if err == nil && cp != nil {
		// A stream the checkpoint holds and the ledger lost entirely.
		for _, h := range cp.Streams {
			if (orgID == "" || h.OrgID == orgID) && !seen[h.OrgID] {
				err = &ledger.BreakError{StreamID: h.OrgID, Reason: fmt.Sprintf("the checkpoint of %s has version %d; the ledger has no events", cp.TakenAt, h.Version)}
				break
			}
		}
	}
	var be *ledger.BreakError
	if errors.As(err, &be) {
		rep.Break = be
		return rep, nil
	}
	return rep, err
}

// matchesCheckpoint checks the event at the checkpoint's version of its
// stream against the checkpoint's hash (the verifier has checked the
// stored hash against the recomputed one).
func matchesCheckpoint(cp *ledger.Checkpoint, e ports.StoredEvent) error {
	if cp == nil {
		return nil
	}
	h, ok := cp.Head(e.StreamID)
	if !ok || h.Version != e.Version || h.Hash == hex.EncodeToString(e.Hash) {
		return nil
	}
	return &ledger.BreakError{StreamID: e.StreamID, Version: e.Version, Position: e.Position,
		Reason: fmt.Sprintf("the chain does not reach the hash of the checkpoint of %s: events up to version %d were changed, removed or reordered", cp.TakenAt, h.Version)}
}

// beyondCheckpoint checks that a stream read up to version read reaches
// the checkpoint's version.
func beyondCheckpoint(cp *ledger.Checkpoint, stream string, read int64) error {
	if cp == nil {
		return nil
	}
	if h, ok := cp.Head(stream); ok && read < h.Version {
		return &ledger.BreakError{StreamID: stream, Version: read,
			Reason: fmt.Sprintf("the checkpoint of %s has version %d; the ledger ends at %d", cp.TakenAt, h.Version, read)}
	}
	return nil
}
