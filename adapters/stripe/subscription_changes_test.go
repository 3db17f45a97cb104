package stripe_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/safeclose/billing/adapters/stripe"
	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// Stripe's refusal of a proration date is the caller's to correct; any
// other refusal is Stripe being unavailable to us.
func TestChangePriceMapsARefusedProrationDate(t *testing.T) {
	for _, tc := range []struct {
		param string
		want  error
	}{
		{"proration_date", ports.ErrProrationDateRefused},
		{"items", ports.ErrProviderUnavailable},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			if r.Method == http.MethodGet {
				_, _ = w.Write([]byte(`{"id":"sub_1","object":"subscription","items":{"object":"list","data":[{"id":"si_1","object":"subscription_item"}]}}`))
				return
			}
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":{"type":"invalid_request_error","param":"` + tc.param + `","message":"no"}}`))
		}))
		c := stripe.NewClient(stripe.Config{SecretKey: "sk_test_x", APIBase: srv.URL, Timeout: 2 * time.Second,
			Prices: stripe.Prices{billing.TierPro: "price_pro"}})
		_, err := c.ChangePrice(context.Background(), ports.PriceChange{SubscriptionID: "sub_1", Tier: "PRO", ProrationDate: time.Now(), IdempotencyKey: "k"})
		srv.Close()
		if !errors.Is(err, tc.want) || strings.Contains(err.Error(), "sk_test_x") {
			t.Errorf("param %s: %v, want %v", tc.param, err, tc.want)
		}
	}
}
