package httpapi

import (
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/safeclose/billing/adapters/httpapi/httperr"
	"github.com/safeclose/billing/application"
	"github.com/safeclose/billing/ports"
)

// EventJSON is a ledger event as the history API and export show it: a
// stable public format (ARCHITECTURE.md, "Ledger format").
type EventJSON struct {
	Position      int64           `json:"position"`
	Version       int64           `json:"version"`
	Type          string          `json:"type"`
	OccurredAt    string          `json:"occurredAt"`
	RecordedAt    string          `json:"recordedAt"`
	StripeEventID *string         `json:"stripeEventId"`
	Actor         string          `json:"actor"`
	Data          json.RawMessage `json:"data"`
	Hash          string          `json:"hash"`
}

// ToEventJSON renders a stored event.
func ToEventJSON(e ports.StoredEvent) EventJSON {
	out := EventJSON{Position: e.Position, Version: e.Version, Type: e.Type,
		OccurredAt: e.OccurredAt.UTC().Format(time.RFC3339Nano), RecordedAt: e.RecordedAt.UTC().Format(time.RFC3339Nano),
		Actor: e.Metadata.Actor, Data: e.Data, Hash: hex.EncodeToString(e.Hash)}
	if e.Metadata.StripeEventID != "" {
		id := e.Metadata.StripeEventID
		out.StripeEventID = &id
	}
	return out
}

// CSVHeader is the header row of the CSV history.
var CSVHeader = []string{"position", "version", "type", "occurredAt", "recordedAt", "stripeEventId", "actor", "hash", "data"}

// CSVRecord renders a stored event as a CSV row.
func CSVRecord(e ports.StoredEvent) []string {
	j := ToEventJSON(e)
	return []string{strconv.FormatInt(j.Position, 10), strconv.FormatInt(j.Version, 10), j.Type, j.OccurredAt, j.RecordedAt,
		e.Metadata.StripeEventID, j.Actor, j.Hash, string(j.Data)}
}

func (a *API) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	hq := ports.HistoryQuery{OrgID: q.Get("orgId"), Limit: application.DefaultPageSize}
	if hq.OrgID == "" {
		a.fail(w, r, httperr.New(http.StatusBadRequest, "invalid_request", "Query parameter %q is required.", "orgId"))
		return
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > application.MaxPageSize {
			a.fail(w, r, httperr.New(http.StatusBadRequest, "invalid_request", "Query parameter %q must be 1 to %d.", "limit", application.MaxPageSize))
			return
		}
		hq.Limit = n
	}
	if v := q.Get("after"); v != "" {
		n, err := application.DecodeCursor(v)
		if err != nil {
			a.fail(w, r, httperr.New(http.StatusBadRequest, "invalid_request", "Query parameter %q is not a cursor from this API.", "after"))
			return
		}
		hq.AfterVersion = n
	}
	for _, t := range q["type"] {
		for _, one := range strings.Split(t, ",") {
			if one = strings.TrimSpace(one); one != "" {
				hq.Types = append(hq.Types, one)
			}
		}
	}
	for name, dst := range map[string]*time.Time{"from": &hq.From, "to": &hq.To} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				a.fail(w, r, httperr.New(http.StatusBadRequest, "invalid_request", "Query parameter %q must be an RFC 3339 time.", name))
				return
			}
			*dst = t
		}
	}
	page, err := a.App.History(r.Context(), currentUser(r.Context()).ID, hq)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "text/csv") {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if page.NextCursor != "" {
			w.Header().Set("X-Next-Cursor", page.NextCursor)
		}
		cw := csv.NewWriter(w)
		_ = cw.Write(CSVHeader)
		for _, e := range page.Events {
			_ = cw.Write(CSVRecord(e))
		}
		cw.Flush()
		return
	}
	out := make([]EventJSON, len(page.Events))
	for i, e := range page.Events {
		out[i] = ToEventJSON(e)
	}
	var next *string
	if page.NextCursor != "" {
		next = &page.NextCursor
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": out, "nextCursor": next})
}
