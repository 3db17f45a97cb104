package ledger

import (
	"bytes"
	"testing"
	"time"
)

func TestHashIgnoresJSONLayoutButNotContent(t *testing.T) {
	at := time.Date(2026, 11, 24, 17, 0, 0, 123456789, time.UTC)
	base := Record{StreamID: "org_1", Version: 1, Type: "PlanActivated", SchemaVersion: 1,
		Data: []byte(`{"a":1,"b":"x"}`), Metadata: []byte(`{}`), OccurredAt: at, RecordedAt: at}
	want, err := Hash(nil, base)
	if err != nil {
		t.Fatal(err)
	}
	same := base
	same.Data = []byte(`{"b": "x", "a": 1}`)
	same.OccurredAt = at.Truncate(time.Microsecond).In(time.FixedZone("X", 3600))
	if got, _ := Hash(nil, same); !bytes.Equal(got, want) {
		t.Error("hash changed with key order, spacing or time zone")
	}
	for name, r := range map[string]Record{
		"data":    {StreamID: "org_1", Version: 1, Type: "PlanActivated", SchemaVersion: 1, Data: []byte(`{"a":2,"b":"x"}`), Metadata: []byte(`{}`), OccurredAt: at, RecordedAt: at},
		"version": {StreamID: "org_1", Version: 2, Type: "PlanActivated", SchemaVersion: 1, Data: base.Data, Metadata: []byte(`{}`), OccurredAt: at, RecordedAt: at},
		"stream":  {StreamID: "org_2", Version: 1, Type: "PlanActivated", SchemaVersion: 1, Data: base.Data, Metadata: []byte(`{}`), OccurredAt: at, RecordedAt: at},
		"time":    {StreamID: "org_1", Version: 1, Type: "PlanActivated", SchemaVersion: 1, Data: base.Data, Metadata: []byte(`{}`), OccurredAt: at.Add(time.Second), RecordedAt: at},
	} {
		if got, _ := Hash(nil, r); bytes.Equal(got, want) {
			t.Errorf("hash did not change with %s", name)
		}
	}
	if got, _ := Hash(want, base); bytes.Equal(got, want) {
		t.Error("hash does not depend on the previous hash")
	}
	if _, err := Hash(nil, Record{Data: []byte(`{`), Metadata: []byte(`{}`)}); err == nil {
		t.Error("malformed JSON hashed without error")
	}
}
