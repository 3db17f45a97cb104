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
	// One buffer: the canonical data and metadata, then the body.
	buf := make([]byte, 0, 2*(len(r.Data)+len(r.Metadata))+256)
	buf, err := appendCanonicalOrSlow(buf, r.Data)
	if err != nil {
		return nil, fmt.Errorf("canonical data: %w", err)
	}
	dataEnd := len(buf)
	buf, err = appendCanonicalOrSlow(buf, r.Metadata)
	if err != nil {
		return nil, fmt.Errorf("canonical metadata: %w", err)
	}
	metaEnd := len(buf)
	buf = appendBody(buf, r, buf[:dataEnd], buf[dataEnd:metaEnd])
	h := sha256.New()
	h.Write(prev)
	h.Write(buf[metaEnd:])
	return h.Sum(nil), nil
}

// Canonical rewrites a JSON document with sorted object keys, no spacing
// and numbers exactly as written: as encoding/json writes the document
// decoded into maps (with UseNumber).
func Canonical(doc []byte) ([]byte, error) {
	return appendCanonicalOrSlow(nil, doc)
}

func appendCanonicalOrSlow(dst, doc []byte) ([]byte, error) {
	if out, ok := appendCanonical(dst, doc); ok {
		return out, nil
	}
	c, err := slowCanonical(doc)
	if err != nil {
		return nil, err
	}
	return append(dst, c...), nil
}

// slowCanonical is the definition of the canonical form: what
// encoding/json writes for the document's first value decoded into maps,
// numbers as written.
func slowCanonical(doc []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}
