package stripe

import (
	"context"
	"fmt"

	stripego "github.com/stripe/stripe-go/v76"

	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

var _ ports.PaymentProvider = (*Client)(nil)

// CreateCheckoutSession implements [ports.PaymentProvider]: a
// subscription-mode session for the tier's price, tied to the org by
// client_reference_id and by metadata on the session and the subscription.
func (c *Client) CreateCheckoutSession(ctx context.Context, req ports.CheckoutSessionRequest) (ports.HostedSession, error) {
	price, ok := c.prices[billing.Tier(req.Tier)]
	if !ok || price == "" {
		return ports.HostedSession{}, fmt.Errorf("no price configured for %s", req.Tier)
	}
	meta := map[string]string{"orgId": req.OrgID, "planTier": req.Tier}
	p := &stripego.CheckoutSessionParams{
		Mode:              stripego.String(string(stripego.CheckoutSessionModeSubscription)),
		LineItems:         []*stripego.CheckoutSessionLineItemParams{{Price: stripego.String(price), Quantity: stripego.Int64(1)}},
		ClientReferenceID: stripego.String(req.OrgID),
		SuccessURL:        stripego.String(req.SuccessURL),
		CancelURL:         stripego.String(req.CancelURL),
		SubscriptionData:  &stripego.CheckoutSessionSubscriptionDataParams{Metadata: meta},
	}
	p.Metadata = meta
	if req.TrialDays > 0 {
		p.SubscriptionData.TrialPeriodDays = stripego.Int64(int64(req.TrialDays))
	}
	if req.CustomerID != "" {
		p.Customer = stripego.String(req.CustomerID)
	}
	p.Context = ctx
	p.IdempotencyKey = stripego.String(req.IdempotencyKey)
	s, err := c.api.CheckoutSessions.New(p)
	if err != nil {
		return ports.HostedSession{}, mapError("create checkout session", err)
	}
	return ports.HostedSession{ID: s.ID, URL: s.URL}, nil
}

// CreatePortalSession implements [ports.PaymentProvider].
func (c *Client) CreatePortalSession(ctx context.Context, customerID, returnURL string) (ports.HostedSession, error) {
	p := &stripego.BillingPortalSessionParams{Customer: stripego.String(customerID), ReturnURL: stripego.String(returnURL)}
	p.Context = ctx
	s, err := c.api.BillingPortalSessions.New(p)
	if err != nil {
		return ports.HostedSession{}, mapError("create portal session", err)
	}
	return ports.HostedSession{ID: s.ID, URL: s.URL}, nil
}

// ExpireCheckoutSession implements [ports.PaymentProvider].
func (c *Client) ExpireCheckoutSession(ctx context.Context, id string) error {
	p := &stripego.CheckoutSessionExpireParams{}
	p.Context = ctx
	if _, err := c.api.CheckoutSessions.Expire(id, p); err != nil {
		return mapError("expire checkout session", err)
	}
	return nil
}
