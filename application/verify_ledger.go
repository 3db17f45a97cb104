package application

import (
	"context"
	"errors"
	"sort"

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
	var rep VerifyReport
	err := scan.Snapshot(ctx, func(snap ports.LedgerScanner) error {
		var err error
		rep, err = verifySnapshot(ctx, snap, orgID)
		return err
	})
	return rep, err
}

func verifySnapshot(ctx context.Context, scan ports.LedgerScanner, orgID string) (VerifyReport, error) {
	var (
		rep  VerifyReport
		v    ledger.Verifier
		seen = map[string]bool{}
	)
	heads, err := scan.Heads(ctx, orgID)
	if err != nil {
		return rep, err
	}
	current := ""
	endStream := func() error {
		if current == "" {
			return nil
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
		return v.Next(ledger.Record{StreamID: e.StreamID, Version: e.Version, Type: e.Type, SchemaVersion: e.SchemaVersion,
			Data: e.Data, Metadata: e.MetadataJSON, OccurredAt: e.OccurredAt, RecordedAt: e.RecordedAt}, e.Position, e.Hash)
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
	var be *ledger.BreakError
	if errors.As(err, &be) {
		rep.Break = be
		return rep, nil
	}
	return rep, err
}
