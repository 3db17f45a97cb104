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
		got, null, err := appendTextParam([]byte("prefix:"), tc.in)
		if err != nil || string(got) != "prefix:"+tc.want || null != tc.null {
			t.Errorf("%#v: %q (null %v), %v; want %q", tc.in, got, null, err, tc.want)
		}
	}
	if _, _, err := appendTextParam(nil, 3.5); err == nil {
		t.Error("a float was encoded")
	}
}
