package postgres

import (
	"testing"
	"time"
)

func TestTextParam(t *testing.T) {
	at := time.Date(2026, 11, 24, 12, 0, 0, 123456000, time.FixedZone("x", 3600))
	var nilTime *time.Time
	for _, tc := range []struct {
		in   any
		want string
		null bool
	}{
		{"a'b", "a'b", false},
		{int64(-7), "-7", false},
		{true, "t", false},
		{at, "2026-11-24 11:00:00.123456Z", false},
		{nilTime, "", true},
		{[]byte{0xde, 0xad}, `\xdead`, false},
		{jsonText(`{"a":1}`), `{"a":1}`, false},
		{[]string{"billing", `a"b`, `c\d`, ""}, `{"billing","a\"b","c\\d",""}`, false},
		{[]string(nil), "{}", false},
		{nil, "", true},
	} {
		got, err := textParam(tc.in)
		if err != nil || string(got) != tc.want || (got == nil) != tc.null {
			t.Errorf("%#v: %q (nil %v), %v; want %q", tc.in, got, got == nil, err, tc.want)
		}
	}
	if _, err := textParam(3.5); err == nil {
		t.Error("a float was encoded")
	}
}
