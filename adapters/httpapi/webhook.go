package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"go.uber.org/zap"

	"github.com/safeclose/billing/adapters/httpapi/httperr"
	"github.com/safeclose/billing/adapters/metrics"
	"github.com/safeclose/billing/application"
	"github.com/safeclose/billing/ports"
)

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 1 << 20

// webhookTimeout bounds the handling of one delivery, well inside the
// time Stripe waits for an answer.
const webhookTimeout = 10 * time.Second

// WebhookParser verifies and maps a Stripe delivery.
type WebhookParser interface {
	Parse(ctx context.Context, payload []byte, signature string) (application.StripeEvent, error)
}

// WebhookRoutes adds POST /api/billing/webhook, for [Deps.SignedRoutes]:
// it needs no session, since the Stripe signature is checked before
// anything in the body is used.
func WebhookRoutes(log *zap.Logger, parser WebhookParser, app *application.Service, m *metrics.Metrics, clock ports.Clock) func(*mux.Router) {
	return func(r *mux.Router) {
		r.Handle("/api/billing/webhook", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			payload, err := readBody(http.MaxBytesReader(w, req.Body, MaxBodyBytes), req.ContentLength)
			if err != nil {
				httperr.Write(w, req, log, bodyError(err))
				return
			}
			ctx, cancel := context.WithTimeout(req.Context(), webhookTimeout)
			defer cancel()
			ev, err := parser.Parse(ctx, payload, req.Header.Get("Stripe-Signature"))
			if err != nil {
				if errors.Is(err, ports.ErrBadSignature) {
					// Not an error of ours, but a sign of a misconfigured
					// secret or of someone probing the endpoint.
					log.Info("webhook refused: bad signature", zap.String("requestId", httperr.RequestID(req.Context())), zap.Error(err))
				}
				httperr.Write(w, req, log, refused(err))
				return
			}
			outcome, err := app.HandleStripeEvent(ctx, ev)
			if err != nil {
				httperr.Write(w, req, log.With(zap.String("stripeEventId", ev.ID)),
					httperr.Wrap(err, http.StatusServiceUnavailable, "unavailable", "The event could not be recorded; deliver it again."))
				return
			}
			if m != nil {
				m.WebhookOutcomes.WithLabelValues(ev.Type, outcome).Inc()
				if outcome == ports.OutcomeApplied {
					m.WebhookLag.Observe(clock.Now().Sub(ev.Created).Seconds())
				}
			}
			// As writeJSON would write {"received": true, "outcome": ...},
			// without a map to sort and an encoder per delivery.
			body, _ := json.Marshal(webhookAnswer{Outcome: outcome, Received: true})
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(append(body, '\n'))
		})).Methods(http.MethodPost)
	}
}

// webhookAnswer is the body of a delivery's 200, its keys in the order
// encoding/json writes a map's.
type webhookAnswer struct {
	Outcome  string `json:"outcome"`
	Received bool   `json:"received"`
}

// readBody reads the whole body into a buffer sized by the request's
// Content-Length (when it states one within MaxBodyBytes), as io.ReadAll
// would read it, without growing a buffer from 512 bytes.
func readBody(r io.Reader, contentLength int64) ([]byte, error) {
	size := int64(0)
	if contentLength > 0 && contentLength <= MaxBodyBytes {
		size = contentLength
	}
	b := bytes.NewBuffer(make([]byte, 0, size+bytes.MinRead))
	_, err := b.ReadFrom(r)
	return b.Bytes(), err
}

// refused is the answer to a delivery the parser refused. A signature
// that does not verify and an event it cannot read are answered as
// [httperr.Of] answers them (400). Stripe's API out of reach while the
// event's object is fetched again is a 503, so that Stripe delivers the
// event again later; anything else is ours (500).
func refused(err error) error {
	switch {
	case errors.Is(err, ports.ErrBadSignature), errors.Is(err, ports.ErrMalformedEvent):
		return err
	case errors.Is(err, ports.ErrProviderUnavailable):
		return httperr.Wrap(err, http.StatusServiceUnavailable, "stripe_unavailable", "Stripe could not be reached; deliver again later.")
	}
	return httperr.Internal(err)
}
