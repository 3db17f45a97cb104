// Package stripe adapts Stripe through stripe-go v76 (API version
// 2023-10-16): webhook verification and mapping, subscriptions, Checkout
// and the Customer Portal.
package stripe

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	stripego "github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"

	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// Prices maps each paid tier to its Stripe price id.
type Prices map[billing.Tier]string

// TierOf returns the tier sold at price, or "" for a price not ours.
func (p Prices) TierOf(price string) billing.Tier {
	for t, id := range p {
		if id == price {
			return t
		}
	}
	return ""
}

// Config configures the Stripe client.
type Config struct {
	SecretKey string
	APIBase   string        // "" for Stripe's own
	Timeout   time.Duration // per request; 0 for 10 s
	Prices    Prices
}

// Client calls the Stripe API. It is safe for concurrent use.
type Client struct {
	api    *client.API
	prices Prices
}

var _ ports.SubscriptionSource = (*Client)(nil)

// NewClient returns a client. Requests are bounded by cfg.Timeout and are
// not retried by stripe-go (callers decide), so a caller never waits for
// stripe-go's 80 s default.
func NewClient(cfg Config) *Client {
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	bc := &stripego.BackendConfig{
		HTTPClient:        &http.Client{Timeout: timeout},
		MaxNetworkRetries: stripego.Int64(0),
		LeveledLogger:     &stripego.LeveledLogger{Level: stripego.LevelNull},
		EnableTelemetry:   stripego.Bool(false),
	}
	if cfg.APIBase != "" {
		bc.URL = stripego.String(cfg.APIBase)
	}
	backend := stripego.GetBackendWithConfig(stripego.APIBackend, bc)
	api := &client.API{}
	api.Init(cfg.SecretKey, &stripego.Backends{API: backend, Connect: backend, Uploads: backend})
	return &Client{api: api, prices: cfg.Prices}
}

// Subscription implements [ports.SubscriptionSource].
func (c *Client) Subscription(ctx context.Context, id string) (ports.Subscription, error) {
	params := &stripego.SubscriptionParams{}
	params.Context = ctx
	s, err := c.api.Subscriptions.Get(id, params)
	if err != nil {
		return ports.Subscription{}, mapError("retrieve subscription", err)
	}
	return c.subscription(s), nil
}

// CustomerSubscriptions implements [ports.SubscriptionSource]. Stripe
// filters by customer; only subscriptions whose customer is the one asked
// for are kept, whatever the server answers.
func (c *Client) CustomerSubscriptions(ctx context.Context, customerID string) ([]ports.Subscription, error) {
	params := &stripego.SubscriptionListParams{Customer: stripego.String(customerID), Status: stripego.String("all")}
	params.Context = ctx
	var out []ports.Subscription
	it := c.api.Subscriptions.List(params)
	for it.Next() {
		if sub := c.subscription(it.Subscription()); sub.CustomerID == customerID {
			out = append(out, sub)
		}
	}
	if err := it.Err(); err != nil {
		return nil, mapError("list subscriptions", err)
	}
	return out, nil
}

func (c *Client) subscription(s *stripego.Subscription) ports.Subscription {
	out := ports.Subscription{ID: s.ID, Status: string(s.Status), CancelAtPeriodEnd: s.CancelAtPeriodEnd}
	if s.Customer != nil {
		out.CustomerID = s.Customer.ID
	}
	if s.CurrentPeriodEnd != 0 {
		out.CurrentPeriodEnd = time.Unix(s.CurrentPeriodEnd, 0).UTC()
	}
	if s.TrialEnd != 0 {
		out.TrialEnd = time.Unix(s.TrialEnd, 0).UTC()
	}
	out.PriceID = priceOf(s)
	out.Tier = string(c.prices.TierOf(out.PriceID))
	if s.Items != nil && len(s.Items.Data) > 0 && s.Items.Data[0] != nil {
		out.ItemID = s.Items.Data[0].ID
	}
	return out
}

func priceOf(s *stripego.Subscription) string {
	if s.Items == nil {
		return ""
	}
	for _, it := range s.Items.Data {
		if it.Price != nil && it.Price.ID != "" {
			return it.Price.ID
		}
	}
	return ""
}

// mapError turns stripe-go errors into the ports' sentinels: a 404 is
// ErrNotFound; anything else (network failure, timeout, 4xx, 5xx) is
// ErrProviderUnavailable, with Stripe's code and message kept for the log.
// The message never holds the API key.
func mapError(op string, err error) error {
	var se *stripego.Error
	if errors.As(err, &se) {
		if se.HTTPStatusCode == http.StatusNotFound {
			return fmt.Errorf("%s: %w", op, ports.ErrNotFound)
		}
		return fmt.Errorf("%s: %w: stripe answered %d %s: %s", op, ports.ErrProviderUnavailable, se.HTTPStatusCode, se.Code, se.Msg)
	}
	return fmt.Errorf("%s: %w: %v", op, ports.ErrProviderUnavailable, err)
}
