package stripe

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

var validJSONSeeds = []string{
	`{"id":"evt_1","object":"event","data":{"object":{"id":"in_1","lines":{"data":[{"amount":4900}]}}}}`,
	` {"a" : [1, -0.5e+3, 0, true, false, null, "x\"\\\/\b\f\n\r\t\u00e9\uD83D"]} `, `{}`, `[]`, `""`, `0`, `-`, `01`, `1.`,
	`1e`, `1e+`, `.5`, `+1`, `tru`, `nul`, `{"a":1,}`, `[1,]`, `[,1]`, `{"a"}`, `{"a":}`, `{1:2}`, `{"a":1}{}`, `{"a":1} x`,
	"\"\x01\"", `"\x"`, `"\u12G4"`, `"\u123"`, "\"\xff\"", "\"\xed\xa0\x80\"", "\"\xc0\xaf\"", "\"é\"", "\xef\xbb\xbf{}",
	"\"\xf4\x90\x80\x80\"", `"`, `"\`, `[`, `{"a":[}`, "\u00a0{}", "{}\x00", `  `, ``, `[1 2]`, `{"a":1 "b":2}`,
	strings.Repeat("[", maxJSONDepth) + strings.Repeat("]", maxJSONDepth),
	strings.Repeat("[", maxJSONDepth+1) + strings.Repeat("]", maxJSONDepth+1),
	strings.Repeat(`{"a":`, maxJSONDepth) + "1" + strings.Repeat("}", maxJSONDepth),
	strings.Repeat(`{"a":`, maxJSONDepth+1) + "1" + strings.Repeat("}", maxJSONDepth+1),
}

func TestValidJSONMatchesEncodingJSON(t *testing.T) {
	docs := validJSONSeeds
	fixtures, _ := filepath.Glob("testdata/*.json")
	more, _ := filepath.Glob("fixtures/*.json")
	for _, f := range append(fixtures, more...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(b))
	}
	for _, d := range docs {
		if got, want := validJSON([]byte(d)), utf8.ValidString(d) && json.Valid([]byte(d)); got != want {
			t.Errorf("validJSON(%.80q) = %v, encoding/json says %v", d, got, want)
		}
	}
}

func FuzzValidJSONMatchesEncodingJSON(f *testing.F) {
	for _, s := range validJSONSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if got, want := validJSON(doc), utf8.Valid(doc) && json.Valid(doc); got != want {
			t.Fatalf("validJSON(%q) = %v, encoding/json says %v", doc, got, want)
		}
	})
}

func BenchmarkValidJSON(b *testing.B) {
	files, _ := filepath.Glob("fixtures/*.json")
	if len(files) == 0 {
		b.Skip("no fixtures")
	}
	doc, err := os.ReadFile(files[0])
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(doc)))
	b.Run("validJSON", func(b *testing.B) {
		for b.Loop() {
			validJSON(doc)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			_ = utf8.Valid(doc) && json.Valid(doc)
		}
	})
}
