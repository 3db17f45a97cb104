package application_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/safeclose/billing/application"
	"github.com/safeclose/billing/ports"
)

// ledgerOf is a ledger scanner and org directory over fixed events.
type ledgerOf []ports.StoredEvent

func (l ledgerOf) OrgExists(_ context.Context, orgID string) (bool, error) {
	return orgID == "org_1", nil
}

func (l ledgerOf) ScanStreams(_ context.Context, streamID string, fn func(ports.StoredEvent) error) error {
	for _, e := range l {
		if e.StreamID == streamID {
			if err := fn(e); err != nil {
				return err
			}
		}
	}
	return nil
}

func (l ledgerOf) Heads(context.Context, string) (map[string]ports.StreamHead, error) {
	return nil, nil
}

func (l ledgerOf) LastPosition(context.Context) (int64, error) { return int64(len(l)), nil }

func (l ledgerOf) Snapshot(_ context.Context, fn func(ports.LedgerScanner) error) error { return fn(l) }

// TestExportLedgerFormats: the export's bytes, JSONL and CSV, are the
// public format's, byte for byte (data as stored in CSV, compacted and
// HTML-escaped by encoding/json in JSONL).
func TestExportLedgerFormats(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 4, 5, 6, 7, 890123000, time.FixedZone("x", 3600))
	ledger := ledgerOf{
		{Position: 1, StreamID: "org_1", Version: 1, Type: "OrgCreated", Data: json.RawMessage(`{"name":"Acme, \"Inc\"\nline","ownerUserId":"usr_1"}`),
			Metadata: ports.Metadata{Actor: "user:usr_1", RequestID: "req_1"}, OccurredAt: at, RecordedAt: at.Add(time.Millisecond), Hash: []byte{0xde, 0xad, 0xbe, 0xef}},
		{Position: 7, StreamID: "org_2", Version: 1, Type: "OrgCreated", Data: json.RawMessage(`{}`)},
		{Position: 42, StreamID: "org_1", Version: 2, Type: "PaymentSucceeded", Data: json.RawMessage(`{ "amount" : 4900, "html": "<a>&</a>" }`),
			Metadata: ports.Metadata{Actor: "stripe", StripeEventID: "evt_1"}, OccurredAt: at.UTC(), RecordedAt: at.Add(time.Second), Hash: []byte{1, 2}},
	}
	for _, tc := range []struct{ format, want string }{
		{application.ExportCSV, "position,version,type,occurredAt,recordedAt,stripeEventId,actor,hash,data\n" +
			"1,1,OrgCreated,2026-03-04T04:06:07.890123Z,2026-03-04T04:06:07.891123Z,,user:usr_1,deadbeef,\"{\"\"name\"\":\"\"Acme, \\\"\"Inc\\\"\"\\nline\"\",\"\"ownerUserId\"\":\"\"usr_1\"\"}\"\n" +
			"42,2,PaymentSucceeded,2026-03-04T04:06:07.890123Z,2026-03-04T04:06:08.890123Z,evt_1,stripe,0102,\"{ \"\"amount\"\" : 4900, \"\"html\"\": \"\"<a>&</a>\"\" }\"\n"},
		{application.ExportJSONL, `{"position":1,"version":1,"type":"OrgCreated","occurredAt":"2026-03-04T04:06:07.890123Z","recordedAt":"2026-03-04T04:06:07.891123Z","stripeEventId":null,"actor":"user:usr_1","data":{"name":"Acme, \"Inc\"\nline","ownerUserId":"usr_1"},"hash":"deadbeef"}` + "\n" +
			`{"position":42,"version":2,"type":"PaymentSucceeded","occurredAt":"2026-03-04T04:06:07.890123Z","recordedAt":"2026-03-04T04:06:08.890123Z","stripeEventId":"evt_1","actor":"stripe","data":{"amount":4900,"html":"\u003ca\u003e\u0026\u003c/a\u003e"},"hash":"0102"}` + "\n"},
	} {
		var out bytes.Buffer
		if err := application.ExportLedger(context.Background(), ledger, ledger, "org_1", tc.format, &out); err != nil {
			t.Fatal(err)
		}
		if out.String() != tc.want {
			t.Errorf("%s:\n%q\nwant\n%q", tc.format, out.String(), tc.want)
		}
	}
	var out bytes.Buffer
	if err := application.ExportLedger(context.Background(), ledger, ledger, "org_nope", application.ExportCSV, &out); err == nil || out.Len() != 0 {
		t.Errorf("unknown org: %v, wrote %q", err, out.String())
	}
}
