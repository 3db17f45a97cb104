package stripe

import (
	"context"
	"errors"
	"fmt"

	stripego "github.com/stripe/stripe-go/v76"

	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// PreviewPriceChange implements [ports.PaymentProvider] with Stripe's
// upcoming invoice (API version 2023-10-16: GET /v1/invoices/upcoming)
// for the subscription with its item on the tier's price at the proration
// date.
func (c *Client) PreviewPriceChange(ctx context.Context, ch ports.PriceChange) (ports.InvoicePreview, error) {
	item, price, err := c.itemAndPrice(ctx, ch)
	if err != nil {
		return ports.InvoicePreview{}, err
	}
	p := &stripego.InvoiceUpcomingParams{
		Subscription:              stripego.String(ch.SubscriptionID),
		SubscriptionItems:         []*stripego.SubscriptionItemsParams{{ID: stripego.String(item), Price: stripego.String(price)}},
		SubscriptionProrationDate: stripego.Int64(ch.ProrationDate.Unix()),
	}
	p.Context = ctx
	inv, err := c.api.Invoices.Upcoming(p)
	if err != nil {
		return ports.InvoicePreview{}, changeError("preview the invoice", err)
	}
	out := ports.InvoicePreview{AmountDue: inv.AmountDue, Currency: string(inv.Currency)}
	if inv.Lines != nil {
		for _, l := range inv.Lines.Data {
			out.Lines = append(out.Lines, ports.InvoiceLine{Description: l.Description, Amount: l.Amount})
		}
	}
	return out, nil
}

// ChangePrice implements [ports.PaymentProvider]: POST
// /v1/subscriptions/{id} with the item's new price and
// proration_behavior create_prorations.
func (c *Client) ChangePrice(ctx context.Context, ch ports.PriceChange) (ports.Subscription, error) {
	item, price, err := c.itemAndPrice(ctx, ch)
	if err != nil {
		return ports.Subscription{}, err
	}
	p := &stripego.SubscriptionParams{
		Items:             []*stripego.SubscriptionItemsParams{{ID: stripego.String(item), Price: stripego.String(price)}},
		ProrationBehavior: stripego.String("create_prorations"),
	}
	if !ch.ProrationDate.IsZero() {
		p.ProrationDate = stripego.Int64(ch.ProrationDate.Unix())
	}
	p.Context = ctx
	p.IdempotencyKey = stripego.String(ch.IdempotencyKey)
	s, err := c.api.Subscriptions.Update(ch.SubscriptionID, p)
	if err != nil {
		return ports.Subscription{}, changeError("change the subscription's price", err)
	}
	return c.subscription(s), nil
}

// SetCancelAtPeriodEnd implements [ports.PaymentProvider].
func (c *Client) SetCancelAtPeriodEnd(ctx context.Context, id string, cancel bool, key string) (ports.Subscription, error) {
	p := &stripego.SubscriptionParams{CancelAtPeriodEnd: stripego.Bool(cancel)}
	p.Context = ctx
	p.IdempotencyKey = stripego.String(key)
	s, err := c.api.Subscriptions.Update(id, p)
	if err != nil {
		return ports.Subscription{}, mapError("set cancel_at_period_end", err)
	}
	return c.subscription(s), nil
}

// itemAndPrice returns the subscription's item (a subscription of ours has
// one): the one the change names, else read from Stripe; and the tier's
// price.
func (c *Client) itemAndPrice(ctx context.Context, ch ports.PriceChange) (item, price string, err error) {
	price = c.prices[billing.Tier(ch.Tier)]
	if price == "" {
		return "", "", fmt.Errorf("no price configured for %s", ch.Tier)
	}
	if ch.ItemID != "" {
		return ch.ItemID, price, nil
	}
	p := &stripego.SubscriptionParams{}
	p.Context = ctx
	s, err := c.api.Subscriptions.Get(ch.SubscriptionID, p)
	if err != nil {
		return "", "", mapError("retrieve subscription", err)
	}
	if s.Items == nil || len(s.Items.Data) == 0 || s.Items.Data[0].ID == "" {
		return "", "", fmt.Errorf("retrieve subscription %s: %w: no item", ch.SubscriptionID, ports.ErrProviderUnavailable)
	}
	return s.Items.Data[0].ID, price, nil
}

// changeError is mapError, except that Stripe's refusal of the proration
// date is the caller's to correct.
func changeError(op string, err error) error {
	var se *stripego.Error
	if errors.As(err, &se) && se.Type == stripego.ErrorTypeInvalidRequest &&
		(se.Param == "proration_date" || se.Param == "subscription_proration_date") {
		return fmt.Errorf("%s: %w: %s", op, ports.ErrProrationDateRefused, se.Msg)
	}
	return mapError(op, err)
}
