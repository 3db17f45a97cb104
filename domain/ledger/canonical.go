package ledger

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"time"
)

// The hash's canonical form is what encoding/json writes (see [Hash] and
// [Canonical]); computing it through encoding/json costs a decode into
// maps and two encodes per event. The functions below write the same
// bytes directly for the documents the ledger holds in practice, whose
// strings are printable ASCII without escapes or characters encoding/json
// escapes (<, >, &). Anything else (escapes, other characters, duplicate
// keys, malformed or trailing input) is left to encoding/json, so the
// result is always byte for byte encoding/json's; the fuzz test
// FuzzCanonicalMatchesEncodingJSON holds this.

// maxFastDepth bounds the nesting the fast path follows; deeper documents
// take encoding/json's path.
const maxFastDepth = 64

// appendCanonical appends the canonical form of doc to dst. ok is false
// when doc is outside the fast path; dst is then returned unchanged.
func appendCanonical(dst, doc []byte) (out []byte, ok bool) {
	p := canonParser{doc: doc, out: dst}
	p.skipSpace()
	if !p.value(0) {
		return dst, false
	}
	p.skipSpace()
	if p.i != len(doc) {
		return dst, false
	}
	return p.out, true
}

type canonParser struct {
	doc []byte
	i   int
	out []byte
}

func (p *canonParser) skipSpace() {
	for p.i < len(p.doc) {
		switch p.doc[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// value parses one value at p.i and appends its canonical form.
func (p *canonParser) value(depth int) bool {
	if p.i >= len(p.doc) || depth > maxFastDepth {
		return false
	}
	switch c := p.doc[p.i]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		s, ok := p.simpleString()
		if ok {
			p.out = append(p.out, s...)
		}
		return ok
	case c == '-' || (c >= '0' && c <= '9'):
		start := p.i
		if !p.number() {
			return false
		}
		p.out = append(p.out, p.doc[start:p.i]...)
		return true
	default:
		for _, lit := range [...]string{"true", "false", "null"} {
			if bytes.HasPrefix(p.doc[p.i:], []byte(lit)) {
				p.i += len(lit)
				p.out = append(p.out, lit...)
				return true
			}
		}
		return false
	}
}

// simpleString reads a string at p.i and returns it quoted, as in the
// document, when every byte is printable ASCII that encoding/json writes
// as it is (no escape, no <, > or &).
func (p *canonParser) simpleString() ([]byte, bool) {
	start := p.i
	for p.i++; p.i < len(p.doc); p.i++ {
		c := p.doc[p.i]
		if c == '"' {
			p.i++
			return p.doc[start:p.i], true
		}
		if !simpleByte(c) {
			return nil, false
		}
	}
	return nil, false
}

func simpleByte(c byte) bool {
	return c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
}

// number reads a JSON number (RFC 8259) at p.i.
func (p *canonParser) number() bool {
	d := p.doc
	if p.i < len(d) && d[p.i] == '-' {
		p.i++
	}
	switch {
	case p.i < len(d) && d[p.i] == '0':
		p.i++
	case p.i < len(d) && d[p.i] >= '1' && d[p.i] <= '9':
		p.digits()
	default:
		return false
	}
	if p.i < len(d) && d[p.i] == '.' {
		p.i++
		if !p.digits() {
			return false
		}
	}
	if p.i < len(d) && (d[p.i] == 'e' || d[p.i] == 'E') {
		p.i++
		if p.i < len(d) && (d[p.i] == '+' || d[p.i] == '-') {
			p.i++
		}
		if !p.digits() {
			return false
		}
	}
	return true
}

func (p *canonParser) digits() bool {
	start := p.i
	for p.i < len(p.doc) && p.doc[p.i] >= '0' && p.doc[p.i] <= '9' {
		p.i++
	}
	return p.i > start
}

func (p *canonParser) array(depth int) bool {
	p.i++ // [
	p.out = append(p.out, '[')
	p.skipSpace()
	if p.i < len(p.doc) && p.doc[p.i] == ']' {
		p.i++
		p.out = append(p.out, ']')
		return true
	}
	for {
		p.skipSpace()
		if !p.value(depth + 1) {
			return false
		}
		p.skipSpace()
		if p.i >= len(p.doc) {
			return false
		}
		switch p.doc[p.i] {
		case ',':
			p.i++
			p.out = append(p.out, ',')
		case ']':
			p.i++
			p.out = append(p.out, ']')
			return true
		default:
			return false
		}
	}
}

// member is one key and its value's canonical form, written at out[from:to].
type member struct {
	key      []byte // quoted
	from, to int
}

// object writes the members sorted by key (encoding/json sorts a map's
// keys as strings; for simple keys, their quoted bytes sort alike).
func (p *canonParser) object(depth int) bool {
	p.i++ // {
	p.skipSpace()
	if p.i < len(p.doc) && p.doc[p.i] == '}' {
		p.i++
		p.out = append(p.out, "{}"...)
		return true
	}
	// The values are written after the object's place in out, then moved
	// into place in key order.
	base := len(p.out)
	var buf [16]member
	members := buf[:0]
	for {
		p.skipSpace()
		if p.i >= len(p.doc) || p.doc[p.i] != '"' {
			return false
		}
		key, ok := p.simpleString()
		if !ok {
			return false
		}
		p.skipSpace()
		if p.i >= len(p.doc) || p.doc[p.i] != ':' {
			return false
		}
		p.i++
		p.skipSpace()
		from := len(p.out)
		if !p.value(depth + 1) {
			return false
		}
		members = append(members, member{key: key, from: from, to: len(p.out)})
		p.skipSpace()
		if p.i >= len(p.doc) {
			return false
		}
		if p.doc[p.i] == '}' {
			p.i++
			break
		}
		if p.doc[p.i] != ',' {
			return false
		}
		p.i++
	}
	slices.SortFunc(members, func(a, b member) int { return bytes.Compare(a.key, b.key) })
	for i := 1; i < len(members); i++ {
		if bytes.Equal(members[i-1].key, members[i].key) {
			return false // duplicate keys: encoding/json keeps the last
		}
	}
	values := p.out[base:]
	size := len(values) + 2*len(members) + 1 // braces, colons and commas
	for _, m := range members {
		size += len(m.key)
	}
	obj := make([]byte, 0, size)
	obj = append(obj, '{')
	for i, m := range members {
		if i > 0 {
			obj = append(obj, ',')
		}
		obj = append(obj, m.key...)
		obj = append(obj, ':')
		obj = append(obj, p.out[m.from:m.to]...)
	}
	obj = append(obj, '}')
	p.out = append(p.out[:base], obj...)
	return true
}

// appendString appends s as encoding/json writes a string.
func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !simpleByte(s[i]) {
			b, _ := json.Marshal(s) // a string always encodes
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// appendStamp appends a time as the hash writes it: RFC 3339 in UTC at the
// ledger's precision, as a JSON string.
func appendStamp(dst []byte, t time.Time) []byte {
	dst = append(dst, '"')
	dst = t.UTC().Truncate(Precision).AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"')
}

// appendBody appends the document the hash covers (see [Hash]): the
// object encoding/json writes for the record, keys in the order below.
func appendBody(dst []byte, r Record, data, meta []byte) []byte {
	dst = append(dst, `{"stream":`...)
	dst = appendString(dst, r.StreamID)
	dst = append(dst, `,"version":`...)
	dst = strconv.AppendInt(dst, r.Version, 10)
	dst = append(dst, `,"type":`...)
	dst = appendString(dst, r.Type)
	dst = append(dst, `,"schemaVersion":`...)
	dst = strconv.AppendInt(dst, int64(r.SchemaVersion), 10)
	dst = append(dst, `,"occurredAt":`...)
	dst = appendStamp(dst, r.OccurredAt)
	dst = append(dst, `,"recordedAt":`...)
	dst = appendStamp(dst, r.RecordedAt)
	dst = append(dst, `,"data":`...)
	dst = append(dst, data...)
	dst = append(dst, `,"metadata":`...)
	dst = append(dst, meta...)
	return append(dst, '}')
}
