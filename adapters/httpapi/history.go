package httpapi

import (
	"encoding/csv"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/safeclose/billing/adapters/httpapi/httperr"
	"github.com/safeclose/billing/application"
	"github.com/safeclose/billing/ports"
)

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
		_ = cw.Write(application.LedgerCSVHeader())
		for _, e := range page.Events {
			_ = cw.Write(application.RecordOf(e).CSV())
		}
		cw.Flush()
		return
	}
	out := make([]application.LedgerRecord, len(page.Events))
	for i, e := range page.Events {
		out[i] = application.RecordOf(e)
	}
	var next *string
	if page.NextCursor != "" {
		next = &page.NextCursor
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": out, "nextCursor": next})
}
