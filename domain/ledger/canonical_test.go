package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

var canonicalSeeds = []string{
	`{"customerId":"cus_1","subscriptionId":"sub_1","tier":"PRO","amount":4900,"paid":true,"at":"2026-11-24T17:00:00Z"}`,
	`{"b": "x", "a": 1, "c": {"z": [1, 2.5e-3, -0, null, true, false], "y": {}}, "d": []}`,
	`{"actor":"stripe","stripeEventId":"evt_1"}`, `{}`, `[]`, `null`, `1`, `"s"`, ` {"a" : 1 } `,
	`{"a":1,"a":2}`, `{"a":1} {"b":2}`, `{"a":1}x`, `{"a":"<b>&"}`, `{"a":"\u00e9\n\"\\"}`, `{"é":1,"e":2}`,
	`{"a":"\u2028"}`, "{\"a\":\"\xff\"}", `{"a":01}`, `{"a":1.}`, `{"a":-}`, `{"a":1e}`, `{"a":tru}`, `{"a" 1}`,
	`{"a":1,}`, `[1,]`, `[1 2]`, `{`, ``, `   `, `{"b":{"d":1,"c":2},"a":[{"y":1,"x":2}]}`, `{"a":"\/"}`,
	strings.Repeat("[", 100) + strings.Repeat("]", 100), `{"A":1,"a":2,"_":3,"0":4}`, `{"a":1E+5,"b":-12.0e-01}`,
}

// FuzzCanonicalMatchesEncodingJSON: the canonical form is encoding/json's,
// byte for byte, and fails where it fails.
func FuzzCanonicalMatchesEncodingJSON(f *testing.F) {
	for _, s := range canonicalSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		want, wantErr := slowCanonical(doc)
		got, err := Canonical(doc)
		if (err != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
			t.Fatalf("Canonical(%q) = %q, %v; encoding/json: %q, %v", doc, got, err, want, wantErr)
		}
	})
}

func TestCanonicalMatchesEncodingJSON(t *testing.T) {
	for _, s := range canonicalSeeds {
		want, wantErr := slowCanonical([]byte(s))
		got, err := Canonical([]byte(s))
		if (err != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
			t.Errorf("Canonical(%q) = %q, %v; encoding/json: %q, %v", s, got, err, want, wantErr)
		}
	}
}

// referenceHash is Hash as first written, entirely through encoding/json:
// the definition every ledger was chained with.
func referenceHash(prev []byte, r Record) ([]byte, error) {
	data, err := slowCanonical(r.Data)
	if err != nil {
		return nil, err
	}
	meta, err := slowCanonical(r.Metadata)
	if err != nil {
		return nil, err
	}
	stamp := func(t time.Time) string { return t.UTC().Truncate(Precision).Format(time.RFC3339Nano) }
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

func FuzzHashMatchesReference(f *testing.F) {
	for _, s := range canonicalSeeds {
		f.Add("org_1", int64(3), "PlanActivated", 1, []byte(s), []byte(`{"actor":"stripe"}`), int64(1764003600), int64(123456789), []byte("prev"))
	}
	f.Add("org <&> é", int64(-1), "Type\u2028", -7, []byte(`{}`), []byte(`{"a":"<"}`), int64(-62135596800), int64(0), []byte(nil))
	f.Add("o", int64(1), "T", 1, []byte(`{}`), []byte(`{}`), int64(253402300799), int64(999999999), []byte(nil))
	f.Fuzz(func(t *testing.T, stream string, version int64, typ string, schema int, data, meta []byte, sec, nsec int64, prev []byte) {
		r := Record{StreamID: stream, Version: version, Type: typ, SchemaVersion: schema, Data: data, Metadata: meta,
			OccurredAt: time.Unix(sec, nsec).In(time.FixedZone("X", 3600)), RecordedAt: time.Unix(sec/2, nsec)}
		want, wantErr := referenceHash(prev, r)
		got, err := Hash(prev, r)
		if (err != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
			t.Fatalf("Hash(%+v) = %x, %v; reference %x, %v", r, got, err, want, wantErr)
		}
	})
}

func BenchmarkHash(b *testing.B) {
	r := Record{StreamID: "org_l1", Version: 42, Type: "InvoicePaid", SchemaVersion: 1,
		Data:       []byte(`{"customerId":"cus_org_l1","subscriptionId":"sub_org_l1","invoiceId":"in_1","amountPaid":4900,"currency":"usd","paidAt":"2026-11-24T17:00:00Z"}`),
		Metadata:   []byte(`{"actor":"stripe","stripeEventId":"evt_l0_1_2"}`),
		OccurredAt: time.Now(), RecordedAt: time.Now()}
	prev := make([]byte, 32)
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			_, _ = Hash(prev, r)
		}
	})
	b.Run("reference", func(b *testing.B) {
		for b.Loop() {
			_, _ = referenceHash(prev, r)
		}
	})
}
