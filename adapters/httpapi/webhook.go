package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"go.uber.org/zap"

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

// WebhookRoutes adds POST /api/billing/webhook. It needs no session: the
// Stripe signature is checked before anything in the body is used.
func WebhookRoutes(log *zap.Logger, parser WebhookParser, app *application.Service, m *metrics.Metrics, clock ports.Clock) func(*mux.Router) {
	return func(r *mux.Router) {
		r.Handle("/api/billing/webhook", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			payload, err := io.ReadAll(http.MaxBytesReader(w, req.Body, MaxBodyBytes))
			if err != nil {
				writeError(w, req, log, bodyError(err))
				return
			}
			ctx, cancel := context.WithTimeout(req.Context(), webhookTimeout)
			defer cancel()
			ev, err := parser.Parse(ctx, payload, req.Header.Get("Stripe-Signature"))
			switch {
			case errors.Is(err, ports.ErrBadSignature):
				log.Info("webhook refused: bad signature", zap.String("requestId", RequestID(req.Context())), zap.Error(err))
				writeError(w, req, log, errorf(http.StatusBadRequest, "invalid_signature", "The Stripe-Signature header does not verify."))
				return
			case errors.Is(err, ports.ErrMalformedEvent):
				writeError(w, req, log, errorf(http.StatusBadRequest, "invalid_request", "The payload is not a Stripe event we can read."))
				return
			case errors.Is(err, ports.ErrProviderUnavailable):
				log.Warn("webhook: could not re-fetch the event's object", zap.Error(err))
				writeError(w, req, log, errorf(http.StatusServiceUnavailable, "stripe_unavailable", "Stripe could not be reached; deliver again later."))
				return
			case err != nil:
				writeError(w, req, log, err)
				return
			}
			outcome, err := app.HandleStripeEvent(ctx, ev)
			if err != nil {
				log.Error("webhook not recorded", zap.String("requestId", RequestID(req.Context())),
					zap.String("stripeEventId", ev.ID), zap.Error(err))
				writeError(w, req, log, errorf(http.StatusServiceUnavailable, "unavailable", "The event could not be recorded; deliver it again."))
				return
			}
			if m != nil {
				m.WebhookOutcomes.WithLabelValues(ev.Type, outcome).Inc()
				if outcome == ports.OutcomeApplied {
					m.WebhookLag.Observe(clock.Now().Sub(ev.Created).Seconds())
				}
			}
			writeJSON(w, http.StatusOK, map[string]any{"received": true, "outcome": outcome})
		})).Methods(http.MethodPost)
	}
}

func bodyError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return errorf(http.StatusRequestEntityTooLarge, "body_too_large", "The request body is larger than 1 MiB.")
	}
	return errorf(http.StatusBadRequest, "invalid_request", "The request body could not be read.")
}
