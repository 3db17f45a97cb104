package application

import (
	"context"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/safeclose/billing/ports"
)

// LedgerRecord is a ledger event in the public, versioned format that the
// history API and the export show (docs/API.md, "Ledger"): its
// JSON is an event of the API's pages and a line of the JSONL export, and
// [LedgerRecord.CSV] a row of the CSV ones.
type LedgerRecord struct {
	Position      int64           `json:"position"`
	Version       int64           `json:"version"`
	Type          string          `json:"type"`
	OccurredAt    string          `json:"occurredAt"`
	RecordedAt    string          `json:"recordedAt"`
	StripeEventID *string         `json:"stripeEventId"`
	Actor         string          `json:"actor"`
	Data          json.RawMessage `json:"data"`
	Hash          string          `json:"hash"`
}

// RecordOf renders a stored event in the public format.
func RecordOf(e ports.StoredEvent) LedgerRecord {
	out := LedgerRecord{Position: e.Position, Version: e.Version, Type: e.Type,
		OccurredAt: e.OccurredAt.UTC().Format(time.RFC3339Nano), RecordedAt: e.RecordedAt.UTC().Format(time.RFC3339Nano),
		Actor: e.Metadata.Actor, Data: e.Data, Hash: hex.EncodeToString(e.Hash)}
	if e.Metadata.StripeEventID != "" {
		id := e.Metadata.StripeEventID
		out.StripeEventID = &id
	}
	return out
}

// LedgerCSVHeader returns the header row of the CSV format.
func LedgerCSVHeader() []string {
	return []string{"position", "version", "type", "occurredAt", "recordedAt", "stripeEventId", "actor", "hash", "data"}
}

// CSV returns r as a row of the CSV format, in the order of
// [LedgerCSVHeader]; an event without a Stripe event id has an empty
// stripeEventId.
func (r LedgerRecord) CSV() []string {
	stripeEventID := ""
	if r.StripeEventID != nil {
		stripeEventID = *r.StripeEventID
	}
	return []string{strconv.FormatInt(r.Position, 10), strconv.FormatInt(r.Version, 10), r.Type, r.OccurredAt, r.RecordedAt,
		stripeEventID, r.Actor, r.Hash, string(r.Data)}
}

// The formats of [ExportLedger].
const (
	ExportJSONL = "jsonl" // one JSON record a line
	ExportCSV   = "csv"   // a header row, then one row an event
)

// ExportLedger writes the org's whole ledger to out in format, oldest
// event first, as it reads it from scan (which may read a replica): one
// event at a time, however long the ledger. An unknown org is an error
// before anything is written.
func ExportLedger(ctx context.Context, orgs ports.OrgDirectory, scan ports.LedgerScanner, orgID, format string, out io.Writer) error {
	if format != ExportJSONL && format != ExportCSV {
		return fmt.Errorf("export ledger: unknown format %q", format)
	}
	ok, err := orgs.OrgExists(ctx, orgID)
	if err != nil {
		return fmt.Errorf("export ledger: %w", err)
	}
	if !ok {
		return fmt.Errorf("no organization %s", orgID)
	}
	if format == ExportCSV {
		w := csv.NewWriter(out)
		_ = w.Write(LedgerCSVHeader())
		err = scan.ScanStreams(ctx, orgID, func(e ports.StoredEvent) error { return w.Write(RecordOf(e).CSV()) })
		w.Flush()
		if err == nil {
			err = w.Error()
		}
		return err
	}
	enc := json.NewEncoder(out)
	return scan.ScanStreams(ctx, orgID, func(e ports.StoredEvent) error { return enc.Encode(RecordOf(e)) })
}
