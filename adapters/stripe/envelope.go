package stripe

import (
	"bytes"
	"encoding/json"
	"strconv"

	gojson "github.com/goccy/go-json"
)

// readEnvelope reads an event's envelope from a payload validJSON
// accepted, as gojson.Unmarshal(payload, &env) reads it. The common
// payload (plain keys and strings, an integer created, data an object) is
// read by scanEnvelope in one pass that copies nothing: data.object is a
// slice of payload. Anything else goes to gojson (FuzzEnvelopeMatchesGoJSON
// holds the two readings equal).
func readEnvelope(payload []byte) (envelope, error) {
	if env, ok := scanEnvelope(payload); ok {
		return env, nil
	}
	var env envelope
	err := gojson.Unmarshal(payload, &env)
	return env, err
}

// scanEnvelope reads the envelope's fields from valid JSON, or reports
// false for a payload it leaves to gojson: not an object; a key that
// matches a field other than exactly (gojson matches keys without regard
// to case) or twice; a field's value of another shape than the common one.
func scanEnvelope(payload []byte) (env envelope, ok bool) {
	v := jsonValidator{b: payload}
	var seen [6]bool
	ok = v.members(0, func(key []byte) bool {
		i := envelopeField(key)
		if i < 0 {
			return i == -1 && v.value(1)
		}
		if seen[i] {
			return false
		}
		seen[i] = true
		if i == 4 { // created
			start := v.i
			if !v.number() {
				return false
			}
			n, err := strconv.ParseInt(string(payload[start:v.i]), 10, 64)
			env.Created = n
			return err == nil
		}
		if i == 5 { // data
			return v.dataObject(&env.Data.Object)
		}
		s, plain := v.plainString()
		if !plain {
			return false
		}
		switch i {
		case 0:
			env.ID = s
		case 1:
			env.Object = s
		case 2:
			env.Type = s
		case 3:
			env.APIVersion = s
		}
		return true
	})
	return env, ok
}

// envelopeKeys are the envelope's JSON keys, in scanEnvelope's order.
func envelopeField(key []byte) int {
	for i, k := range [...]string{"id", "object", "type", "api_version", "created", "data"} {
		if string(key) == k {
			return i
		}
		if bytes.EqualFold(key, []byte(k)) {
			return -2 // gojson would read it into the field: leave it to gojson
		}
	}
	return -1
}

// dataObject reads the data member's value: an object whose "object"
// member's value (not null) becomes obj, as it is in the payload.
func (v *jsonValidator) dataObject(obj *json.RawMessage) bool {
	found := false
	return v.members(1, func(key []byte) bool {
		if string(key) != "object" {
			return !bytes.EqualFold(key, []byte("object")) && v.value(2)
		}
		if found || v.literal("null") {
			return false
		}
		found = true
		start := v.i
		if !v.value(2) {
			return false
		}
		*obj = v.b[start:v.i]
		return true
	}) && found
}

// members reads an object at v.i (after whitespace), calling member with
// each key whose string is plain (see plainString), with v.i at its value;
// member reads the value. It reports false, having stopped, when the value
// is not an object, a key is not plain, or member says false.
func (v *jsonValidator) members(depth int, member func(key []byte) bool) bool {
	v.space()
	if v.i >= len(v.b) || v.b[v.i] != '{' || depth >= maxJSONDepth {
		return false
	}
	v.i++
	v.space()
	if v.i < len(v.b) && v.b[v.i] == '}' {
		v.i++
		return true
	}
	for {
		if v.i >= len(v.b) || v.b[v.i] != '"' {
			return false
		}
		start := v.i + 1
		if _, plain := v.plainString(); !plain {
			return false
		}
		key := v.b[start : v.i-1]
		v.space()
		if v.i >= len(v.b) || v.b[v.i] != ':' {
			return false
		}
		v.i++
		v.space()
		if !member(key) {
			return false
		}
		v.space()
		if v.i >= len(v.b) {
			return false
		}
		switch v.b[v.i] {
		case ',':
			v.i++
			v.space()
		case '}':
			v.i++
			return true
		default:
			return false
		}
	}
}

// plainString reads a string of printable ASCII without escapes at v.i,
// and returns its content.
func (v *jsonValidator) plainString() (string, bool) {
	if v.i >= len(v.b) || v.b[v.i] != '"' {
		return "", false
	}
	for i := v.i + 1; i < len(v.b); i++ {
		switch c := v.b[i]; {
		case c == '"':
			s := string(v.b[v.i+1 : i])
			v.i = i + 1
			return s, true
		case c < 0x20 || c >= 0x7f || c == '\\':
			return "", false
		}
	}
	return "", false
}
