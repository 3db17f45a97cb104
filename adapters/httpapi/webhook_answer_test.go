package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/safeclose/billing/ports"
)

// The webhook's answer is the bytes writeJSON writes for the map it
// stands for.
func TestWebhookAnswerIsWriteJSONs(t *testing.T) {
	for _, outcome := range []string{ports.OutcomeApplied, ports.OutcomeDuplicate, ports.OutcomeIgnored, ports.OutcomeRefused, ports.OutcomeParked, `odd "<&>"`} {
		rec := httptest.NewRecorder()
		writeJSON(rec, http.StatusOK, map[string]any{"received": true, "outcome": outcome})
		got, _ := json.Marshal(webhookAnswer{Outcome: outcome, Received: true})
		if want := rec.Body.Bytes(); !bytes.Equal(append(got, '\n'), want) {
			t.Errorf("%s: %q, writeJSON writes %q", outcome, got, want)
		}
	}
}

func TestReadBodyReadsLikeReadAll(t *testing.T) {
	body := strings.Repeat("x", 3000)
	for _, n := range []int64{-1, 0, 10, 3000, 5000, MaxBodyBytes + 1} {
		got, err := readBody(strings.NewReader(body), n)
		if err != nil || string(got) != body {
			t.Errorf("Content-Length %d: %d bytes, %v", n, len(got), err)
		}
	}
	rec := httptest.NewRecorder()
	_, err := readBody(http.MaxBytesReader(rec, io.NopCloser(strings.NewReader(body)), 100), 3000)
	var tooBig *http.MaxBytesError
	if !errors.As(err, &tooBig) {
		t.Errorf("over the limit: %v", err)
	}
}
