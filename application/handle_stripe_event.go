package application

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/safeclose/billing/domain/billing"
	"github.com/safeclose/billing/ports"
)

// StripeEvent is a verified Stripe event as the Stripe adapter maps it.
type StripeEvent struct {
	ID         string
	Type       string
	APIVersion string
	Created    time.Time
	Payload    json.RawMessage
	// Fact is the billing fact the event reports; nil for events we do
	// not handle, which are kept in the inbox and change nothing.
	Fact *StripeFact
}

// StripeFact is a billing fact and what ties it to an organization.
type StripeFact struct {
	Change         billing.Change
	OrgHint        string // orgId from metadata or client_reference_id
	CustomerID     string
	SubscriptionID string
}

// HandleStripeEvent keeps a verified event in the inbox and applies its
// fact to the organization it belongs to, exactly once however often it
// is delivered. It returns the outcome (ports.Outcome*). An error means
// nothing may be assumed recorded: the caller answers 5xx so Stripe
// delivers again.
func (s *Service) HandleStripeEvent(ctx context.Context, ev StripeEvent) (string, error) {
	entry := ports.InboxEntry{ID: ev.ID, Type: ev.Type, APIVersion: ev.APIVersion, Created: ev.Created, Payload: ev.Payload}
	if f := ev.Fact; f != nil {
		if r, ok := f.Change.(billing.SubscriptionRefreshed); ok && r.Tier == "" && r.PriceID != "" {
			s.logger(ctx).Warn("subscription on a price of no tier: the tier is kept; reconcile reports it", zap.String("stripeEventId", ev.ID),
				zap.String("priceId", r.PriceID), zap.String("stripeSubscriptionId", r.SubscriptionID))
		}
		data, err := billing.EncodeChange(f.Change)
		if err != nil {
			return "", err
		}
		entry.FactType, entry.Fact = f.Change.EventType(), data
		entry.OrgHint, entry.CustomerID, entry.SubscriptionID = f.OrgHint, f.CustomerID, f.SubscriptionID
	}
	if entry.FactType != "" {
		outcome, done, err := s.applyDirect(ctx, entry, ev.Fact.Change)
		if done || err != nil {
			return outcome, err
		}
	}
	stored, isNew, err := s.inbox.Receive(ctx, entry)
	if err != nil {
		return "", fmt.Errorf("inbox: %w", err)
	}
	if !isNew {
		switch stored.Outcome {
		case ports.OutcomeApplied, ports.OutcomeDuplicate, ports.OutcomeIgnored, ports.OutcomeRefused:
			return ports.OutcomeDuplicate, nil
		}
		// received (an earlier attempt failed midway) or parked: try again.
	}
	return s.process(ctx, stored)
}

// applyDirect is the common case in one transaction: an event tied to its
// org at once is kept in the inbox together with its ledger event. change
// is the fact e.Fact encodes. It
// returns done false, having recorded nothing, when the event must take the
// slower path (parked, refused).
func (s *Service) applyDirect(ctx context.Context, e ports.InboxEntry, change billing.Change) (string, bool, error) {
	org, refusal, known, err := s.route(ctx, e)
	if err != nil || refusal != "" || org == "" {
		return "", false, err
	}
	res, err := s.record(ctx, e, org, change, true)
	if refused(err) {
		return "", false, nil
	}
	if err != nil {
		return "", true, err
	}
	if res.Duplicate {
		// Recorded by an earlier delivery: count this one.
		if _, _, err := s.inbox.Receive(ctx, e); err != nil {
			return "", true, err
		}
		return ports.OutcomeDuplicate, true, nil
	}
	if ce := s.log.Check(zap.InfoLevel, "stripe event applied"); ce != nil {
		ce.Write(requestIDField(ctx), zap.String("stripeEventId", e.ID), zap.String("stripeEventType", e.Type),
			zap.String("orgId", org), zap.String("eventType", e.FactType), zap.Int("attempts", res.Attempts))
	}
	s.syncIfAmbiguous(ctx, org, res.Account, e.ID)
	if !known {
		// This event linked new Stripe ids: events may be parked for them.
		// (When every id was linked before, any event parked for them was
		// unparked by the event that linked it.)
		s.unpark(ctx, e.CustomerID, e.SubscriptionID)
	}
	return ports.OutcomeApplied, true, nil
}

func (s *Service) process(ctx context.Context, e ports.InboxEntry) (string, error) {
	log := s.logger(ctx).With(zap.String("stripeEventId", e.ID), zap.String("stripeEventType", e.Type))
	if e.FactType == "" {
		return ports.OutcomeIgnored, s.inbox.Settle(ctx, e.ID, ports.OutcomeIgnored, "", "event type not handled")
	}
	change, err := billing.DecodeChange(e.FactType, billing.SchemaVersion, e.Fact)
	if err != nil {
		return "", err
	}
	org, refusal, _, err := s.route(ctx, e)
	if err != nil {
		return "", err
	}
	if refusal != "" {
		log.Warn("stripe event refused", zap.String("orgId", org), zap.String("reason", refusal))
		return ports.OutcomeRefused, s.inbox.Settle(ctx, e.ID, ports.OutcomeRefused, org, refusal)
	}
	if org == "" && e.CustomerID == "" && e.SubscriptionID == "" {
		// Nothing could ever tie it to an org (a checkout.session.expired
		// of a session opened elsewhere, without client_reference_id or
		// customer): parking it would keep it for ever.
		return ports.OutcomeIgnored, s.inbox.Settle(ctx, e.ID, ports.OutcomeIgnored, "", "names no organization, customer or subscription")
	}
	if org == "" {
		if err := s.inbox.Settle(ctx, e.ID, ports.OutcomeParked, "", "no organization linked yet"); err != nil {
			return "", err
		}
		// The link may have committed while this event was parking; the
		// linking event unparks only what it sees parked, so look again.
		if org, refusal, _, err = s.route(ctx, e); err != nil || refusal != "" || org == "" {
			log.Info("stripe event parked until its organization is known")
			return ports.OutcomeParked, err
		}
	}
	log = log.With(zap.String("orgId", org))
	res, err := s.record(ctx, e, org, change, false)
	if refused(err) {
		log.Warn("stripe event refused", zap.Error(err))
		return ports.OutcomeRefused, s.inbox.Settle(ctx, e.ID, ports.OutcomeRefused, org, err.Error())
	}
	if err != nil {
		return "", err
	}
	// In the ledger either way: a duplicate append means a concurrent
	// delivery of the same event got there first.
	if err := s.inbox.Settle(ctx, e.ID, ports.OutcomeApplied, org, ""); err != nil {
		return "", err
	}
	outcome := ports.OutcomeApplied
	if res.Duplicate {
		outcome = ports.OutcomeDuplicate
	}
	if !res.Duplicate {
		// A duplicate costs no Stripe call: the delivery that recorded
		// the fact settled any ambiguity it made.
		log.Info("stripe event applied", zap.String("eventType", e.FactType), zap.Int("attempts", res.Attempts))
		s.syncIfAmbiguous(ctx, org, res.Account, e.ID)
	}
	s.unpark(ctx, e.CustomerID, e.SubscriptionID)
	return outcome, nil
}

// record appends the event's fact to org's ledger, keyed by the Stripe
// event id; with keep, the store also keeps the event in the inbox in the
// same transaction.
func (s *Service) record(ctx context.Context, e ports.InboxEntry, org string, change billing.Change, keep bool) (ports.Updated, error) {
	u := ports.Update{StreamID: org, Metadata: ports.Metadata{Actor: "stripe", StripeEventID: e.ID}, IdempotencyKey: e.ID,
		Decide: func(acc *billing.Account) ([]billing.Event, error) {
			ev, err := acc.RecordStripeFact(change, e.Created)
			return []billing.Event{ev}, err
		}}
	if keep {
		return s.store.RecordStripeEvent(ctx, e, u)
	}
	return s.store.Update(ctx, u)
}

func refused(err error) bool {
	return errors.Is(err, billing.ErrCustomerMismatch) || errors.Is(err, billing.ErrInvalidFact) || errors.Is(err, billing.ErrInvalidTier)
}

// route finds the event's organization: the one its customer or
// subscription is linked to, or the one it names. A named org that
// contradicts the link, or that does not exist, is a refusal. known tells
// whether every Stripe id the event names was linked already.
func (s *Service) route(ctx context.Context, e ports.InboxEntry) (org, refusal string, known bool, err error) {
	linked := ""
	known = true
	var ids []string
	for _, id := range []string{e.CustomerID, e.SubscriptionID} {
		if id != "" {
			ids = append(ids, id)
		}
	}
	orgs, err := s.links.OrgsOf(ctx, ids...)
	if err != nil {
		return "", "", false, err
	}
	for _, id := range ids {
		o, ok := orgs[id]
		if !ok {
			known = false
			continue
		}
		if linked != "" && o != linked {
			return linked, fmt.Sprintf("customer and subscription are linked to different organizations (%s, %s)", linked, o), known, nil
		}
		linked = o
	}
	if e.OrgHint == "" {
		return linked, "", known, nil
	}
	if linked != "" && linked != e.OrgHint {
		return linked, fmt.Sprintf("event names organization %s but its customer is linked to %s", e.OrgHint, linked), known, nil
	}
	if linked == "" {
		ok, err := s.orgs.OrgExists(ctx, e.OrgHint)
		if err != nil {
			return "", "", false, err
		}
		if !ok {
			return "", fmt.Sprintf("event names organization %s, which does not exist", e.OrgHint), known, nil
		}
	}
	return e.OrgHint, "", known, nil
}

// syncIfAmbiguous records the subscription as the Stripe API reports it
// when two facts with the same Stripe second disagree. A failure is only
// logged: the facts are recorded, and a later event or reconcile settles it.
func (s *Service) syncIfAmbiguous(ctx context.Context, org string, acc *billing.Account, cause string) {
	subID, ok := acc.NeedsSync()
	if !ok {
		return
	}
	if err := s.SyncSubscription(ctx, org, subID, billing.SyncReasonAmbiguousOrder, cause); err != nil {
		s.logger(ctx).Warn("could not settle same-second facts from the Stripe API", zap.String("orgId", org),
			zap.String("stripeEventId", cause), zap.Error(err))
	}
}

// SyncSubscription reads a subscription from the Stripe API and records
// it in the org's ledger.
func (s *Service) SyncSubscription(ctx context.Context, org, subscriptionID, reason, cause string) error {
	sub, err := s.subs.Subscription(ctx, subscriptionID)
	if err != nil {
		return err
	}
	return s.recordSubscription(ctx, org, sub, reason, cause, false)
}

// recordSubscription records a subscription as read from the Stripe API,
// stamped at the later of the clock and one second after the newest fact
// folded (billing.Account.ReadAt), since what the API says now is newer
// than all of them. With current, it becomes the org's current
// subscription.
func (s *Service) recordSubscription(ctx context.Context, org string, sub ports.Subscription, reason, cause string, current bool) error {
	change := billing.SubscriptionSynced{SubscriptionObject: billing.SubscriptionObject{CustomerID: sub.CustomerID, SubscriptionID: sub.ID, Status: billing.Status(sub.Status), Tier: billing.Tier(sub.Tier), PriceID: sub.PriceID, CurrentPeriodEnd: sub.CurrentPeriodEnd.UTC(), CancelAtPeriodEnd: sub.CancelAtPeriodEnd, TrialEnd: sub.TrialEnd.UTC(), ItemID: sub.ItemID}, Reason: reason, Current: current}
	// Reconcile's findings are its own, whatever their reason.
	actor := "system:" + reason
	if reason == billing.SyncReasonExtraSubscription {
		actor = "system:" + billing.SyncReasonReconcile
	}
	meta := ports.Metadata{Actor: actor, CausationID: cause}
	_, err := s.update(ctx, org, meta, func(acc *billing.Account) ([]billing.Event, error) {
		ev, err := acc.RecordStripeFact(change, acc.ReadAt(s.clock.Now()))
		return []billing.Event{ev}, err
	})
	return err
}

// unpark applies the parked events that name a Stripe id just linked.
func (s *Service) unpark(ctx context.Context, ids ...string) {
	var named []string
	for _, id := range ids {
		if id != "" {
			named = append(named, id)
		}
	}
	if len(named) == 0 {
		return
	}
	parked, err := s.inbox.Parked(ctx, named)
	if err != nil {
		s.logger(ctx).Warn("could not look for parked events", zap.Error(err))
		return
	}
	for _, p := range parked {
		if _, err := s.process(ctx, p); err != nil {
			s.logger(ctx).Warn("parked event still not applied", zap.String("stripeEventId", p.ID), zap.Error(err))
		}
	}
}
