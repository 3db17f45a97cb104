package ledger

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestCanonicalJCS(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		// RFC 8785's own examples (3.2.2 and 3.2.3).
		{`{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],"string":"\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/","literals":[null,true,false]}`,
			`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`},
		{`{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis"}`,
			`{"\r":"Carriage Return","1":"One","` + "\u0080" + `":"Control","ö":"Latin Small Letter O With Diaeresis","€":"Euro Sign","😀":"Emoji: Grinning Face","דּ":"Hebrew Letter Dalet With Dagesh"}`},
		{` { "b" : 2, "a" : [ 1 , -0 , 10 ] } `, `{"a":[1,0,10],"b":2}`},
		{`"<&>"`, `"<&>"`},
	} {
		got, err := CanonicalJCS([]byte(tc.in))
		if err != nil || string(got) != tc.want {
			t.Errorf("JCS(%s) = %s, %v\nwant %s", tc.in, got, err, tc.want)
		}
	}
	if _, err := CanonicalJCS([]byte(`{} {}`)); err == nil {
		t.Error("two documents were accepted")
	}
}

func heads(n int) []Head {
	out := make([]Head, n)
	for i := range out {
		out[n-1-i] = Head{OrgID: fmt.Sprintf("org_%03d", i), Version: int64(i + 1), Hash: strings.Repeat(fmt.Sprintf("%02x", i), 32)}
	}
	return out
}

func TestCheckpointSignsAndProvesEveryStream(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	otherPub, otherKey, _ := ed25519.GenerateKey(nil)
	for _, n := range []int{0, 1, 2, 3, 5, 8, 13} {
		cp, err := NewCheckpoint(heads(n), 42, time.Date(2026, 11, 30, 12, 0, 0, 5, time.UTC), key)
		if err != nil {
			t.Fatal(err)
		}
		doc, _ := json.Marshal(cp)
		back, err := ParseCheckpoint(doc, pub)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if back.TakenAt != "2026-11-30T12:00:00Z" || back.Position != 42 || len(back.Streams) != n {
			t.Errorf("n=%d: %+v", n, back)
		}
		if _, err := ParseCheckpoint(doc, otherPub); !errors.Is(err, ErrBadSignature) {
			t.Errorf("n=%d: another key's public key: %v", n, err)
		}
		for i := range n {
			org := fmt.Sprintf("org_%03d", i)
			p, err := back.Prove(org)
			if err != nil {
				t.Fatal(err)
			}
			if err := back.VerifyProof(p); err != nil {
				t.Errorf("n=%d %s: %v", n, org, err)
			}
			forged := p
			forged.Stream.Version++
			if err := back.VerifyProof(forged); !errors.Is(err, ErrBadProof) {
				t.Errorf("n=%d %s: a proof of another version verified: %v", n, org, err)
			}
			if n > 1 {
				moved := p
				moved.Index = (p.Index + 1) % n
				if err := back.VerifyProof(moved); err == nil {
					t.Errorf("n=%d %s: a proof at another index verified", n, org)
				}
			}
		}
		if _, err := back.Prove("org_none"); err == nil {
			t.Error("a proof of an org not in the checkpoint")
		}
		// A checkpoint edited after signing, or signed by another key.
		if n > 0 {
			edited := strings.Replace(string(doc), `"version":1,`, `"version":2,`, 1)
			if _, err := ParseCheckpoint([]byte(edited), pub); err == nil {
				t.Errorf("n=%d: an edited checkpoint was accepted", n)
			}
		}
		forged, _ := NewCheckpoint(heads(n), 42, time.Now(), otherKey)
		fdoc, _ := json.Marshal(forged)
		if _, err := ParseCheckpoint(fdoc, pub); !errors.Is(err, ErrBadSignature) {
			t.Errorf("n=%d: a checkpoint signed with another key: %v", n, err)
		}
	}
}

func TestMerkleRootIsRFC9162s(t *testing.T) {
	// Three leaves: root = H(1 ‖ H(1 ‖ l0 ‖ l1) ‖ l2).
	hs := heads(3)
	cp, _ := NewCheckpoint(hs, 0, time.Now(), ed25519.NewKeyFromSeed(make([]byte, 32)))
	l := make([][]byte, 3)
	for i, h := range cp.Streams {
		l[i], _ = leafHash(h)
	}
	if want := hex.EncodeToString(nodeHash(nodeHash(l[0], l[1]), l[2])); cp.MerkleRoot != want {
		t.Errorf("root %s, want %s", cp.MerkleRoot, want)
	}
}
