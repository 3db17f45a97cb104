// Package signature signs and verifies Safeclose Billing's outbound
// events (docs/API.md, "Outbound events") with Stripe's scheme: the
// Safeclose-Signature header is "t={unix seconds},v1={hex HMAC-SHA256 of
// "{t}.{body}" keyed with the secret}". A receiver written in Go imports
// this package alone (standard library only) and calls [Verify]; Stripe's
// own webhook verification code accepts the same header.
package signature

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// The headers of an outbound event.
const (
	// Header carries the signature.
	Header = "Safeclose-Signature"
	// EventIDHeader carries "{orgId}:{version}", the id a receiver
	// deduplicates by.
	EventIDHeader = "Safeclose-Event-Id"
)

// DefaultTolerance is how old (or how far ahead) a signature's timestamp
// may be by default: 5 minutes, as Stripe's libraries.
const DefaultTolerance = 5 * time.Minute

// Errors of [Verify].
var (
	ErrMalformed = errors.New("signature header is malformed")
	ErrTooOld    = errors.New("signature timestamp is outside the tolerance")
	ErrMismatch  = errors.New("no signature matches the body")
)

// Sign returns the Safeclose-Signature header value of body, signed with
// secret (the whole OUTBOUND_WEBHOOK_SECRET, "whsec_" included) at t.
func Sign(body []byte, secret string, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(body, secret, ts))
}

// Verify checks header (the Safeclose-Signature value) against body and
// secret: one of its v1 signatures must be the HMAC-SHA256 of
// "{t}.{body}", and t must be within tolerance of now (0:
// [DefaultTolerance]). It returns nil, [ErrMalformed], [ErrTooOld] or
// [ErrMismatch]. Pass the body exactly as received, before any parsing.
func Verify(body []byte, header, secret string, tolerance time.Duration, now time.Time) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var (
		ts   string
		sigs [][]byte
	)
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			if s, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, s)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrMalformed
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrTooOld
	}
	want := mac(body, secret, ts)
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return ErrMismatch
}

func mac(body []byte, secret, ts string) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}
