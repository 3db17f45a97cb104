package ledger

import (
	"bytes"
	"fmt"
)

// BreakError names the first event where a ledger stops being intact.
type BreakError struct {
	StreamID string
	Version  int64
	Position int64 // 0 when the break is in the stream index, not an event
	Reason   string
}

func (e *BreakError) Error() string {
	if e.Position == 0 {
		return fmt.Sprintf("stream %s: %s", e.StreamID, e.Reason)
	}
	return fmt.Sprintf("stream %s, event %d (position %d): %s", e.StreamID, e.Version, e.Position, e.Reason)
}

// Verifier checks a ledger read stream by stream, each in version order:
// versions run 1, 2, 3… without gaps and every hash is the one recomputed
// from the event's content and its predecessor's hash. It is not safe for
// concurrent use.
type Verifier struct {
	stream  string
	version int64
	prev    []byte
}

// Next checks one event. hash is the hash stored with it.
func (v *Verifier) Next(r Record, position int64, hash []byte) error {
	if r.StreamID != v.stream {
		v.stream, v.version, v.prev = r.StreamID, 0, nil
	}
	if r.Version != v.version+1 {
		return &BreakError{r.StreamID, r.Version, position, fmt.Sprintf("version %d follows %d", r.Version, v.version)}
	}
	want, err := Hash(v.prev, r)
	if err != nil {
		return &BreakError{r.StreamID, r.Version, position, "unreadable content: " + err.Error()}
	}
	if !bytes.Equal(want, hash) {
		return &BreakError{r.StreamID, r.Version, position, "hash does not match the content"}
	}
	v.version, v.prev = r.Version, hash
	return nil
}

// End checks that the stream just read ends where the stream index says,
// so that a deleted last event is caught too. It returns nil for a stream
// other than the last one read when version is 0 and nothing was read.
func (v *Verifier) End(stream string, version int64, lastHash []byte) error {
	read, prev := int64(0), []byte(nil)
	if stream == v.stream {
		read, prev = v.version, v.prev
	}
	if read != version || !bytes.Equal(prev, lastHash) {
		return &BreakError{StreamID: stream, Version: read, Reason: fmt.Sprintf("stream index says version %d, events end at %d or with another hash", version, read)}
	}
	return nil
}
