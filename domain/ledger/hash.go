// Package ledger defines how ledger events are chained: the SHA-256 hash
// each event carries over its content and the hash of the event before it
// in the same stream. Every event store computes it the same way, and
// `ledger verify` recomputes it from what the database holds.
package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"time"
)

// Record is the content of one ledger event that its hash covers.
type Record struct {
	StreamID      string
	Version       int64
	Type          string
	SchemaVersion int
	Data          []byte // JSON
	Metadata      []byte // JSON
	OccurredAt    time.Time
	RecordedAt    time.Time
}

// Precision is the time resolution the ledger keeps (Postgres timestamptz).
const Precision = time.Microsecond

// Hash returns SHA-256(prev ‖ canonical(r)). prev is nil for a stream's
// first event. Data and Metadata are canonicalized first, so the hash does
// not depend on key order or spacing (Postgres jsonb rewrites both).
func Hash(prev []byte, r Record) ([]byte, error) {
	data, err := Canonical(r.Data)
	if err != nil {
		return nil, fmt.Errorf("canonical data: %w", err)
	}
	meta, err := Canonical(r.Metadata)
	if err != nil {
		return nil, fmt.Errorf("canonical metadata: %w", err)
	}
	body, err := json.Marshal(struct {
		Stream        string          `json:"stream"`
		Version       int64           `json:"version"`
		Type          string          `json:"type"`
		SchemaVersion int             `json:"schemaVersion"`
		OccurredAt    string          `json:"occurredAt"`
		RecordedAt    string          `json:"recordedAt"`
		Data          json.RawMessage `json:"data"`
		Metadata      json.RawMessage `json:"metadata"`
	}{r.StreamID, r.Version, r.Type, r.SchemaVersion, stamp(r.OccurredAt), stamp(r.RecordedAt), data, meta})
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	h.Write(prev)
	h.Write(body)
	return h.Sum(nil), nil
}

func stamp(t time.Time) string { return t.UTC().Truncate(Precision).Format(time.RFC3339Nano) }

// Canonical rewrites a JSON document with sorted object keys, no spacing
// and numbers exactly as written.
func Canonical(doc []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}
