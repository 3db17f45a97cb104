package billing

import (
	"encoding/json"
	"fmt"
	"time"
)

// SchemaVersion is the version of every event payload written today. When a
// payload's shape changes, bump it and upcast older payloads in
// [DecodeChange], the one place that reads stored events.
const SchemaVersion = 1

// EncodeChange returns the stored form of a change.
func EncodeChange(c Change) ([]byte, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", c.EventType(), err)
	}
	return b, nil
}

// Unmarshaler decodes JSON into a value, as encoding/json.Unmarshal does.
type Unmarshaler func(data []byte, v any) error

// DecodeChange reads a stored payload of the given type and schema version.
func DecodeChange(eventType string, schemaVersion int, data []byte) (Change, error) {
	return DecodeChangeWith(json.Unmarshal, eventType, schemaVersion, data)
}

// DecodeChangeWith is DecodeChange with another JSON decoder (adapters
// replaying millions of events bring a faster one); the result must be
// what encoding/json gives.
func DecodeChangeWith(unmarshal Unmarshaler, eventType string, schemaVersion int, data []byte) (Change, error) {
	if schemaVersion != SchemaVersion {
		return nil, fmt.Errorf("%w: %s schema version %d", ErrUnknownEventType, eventType, schemaVersion)
	}
	switch eventType {
	case TypeOrgCreated:
		return decode[OrgCreated](unmarshal, data)
	case TypeMemberAdded:
		return decode[MemberAdded](unmarshal, data)
	case TypeMemberPermissionsChanged:
		return decode[MemberPermissionsChanged](unmarshal, data)
	case TypeMemberRemoved:
		return decode[MemberRemoved](unmarshal, data)
	case TypeCheckoutStarted:
		return decode[CheckoutStarted](unmarshal, data)
	case TypePortalOpened:
		return decode[PortalOpened](unmarshal, data)
	case TypePlanActivated:
		return decode[PlanActivated](unmarshal, data)
	case TypeSubscriptionRefreshed:
		return decode[SubscriptionRefreshed](unmarshal, data)
	case TypeSubscriptionCanceled:
		return decode[SubscriptionCanceled](unmarshal, data)
	case TypePaymentSucceeded:
		return decode[PaymentSucceeded](unmarshal, data)
	case TypePaymentFailed:
		return decode[PaymentFailed](unmarshal, data)
	case TypeSubscriptionSynced:
		return decode[SubscriptionSynced](unmarshal, data)
	case TypePlanChangeRequested:
		return decode[PlanChangeRequested](unmarshal, data)
	case TypeCancellationRequested:
		return decode[CancellationRequested](unmarshal, data)
	case TypeCancellationWithdrawn:
		return decode[CancellationWithdrawn](unmarshal, data)
	case TypeTrialWillEnd:
		return decode[TrialWillEnd](unmarshal, data)
	case TypeSubscriptionPaused:
		return decode[SubscriptionPaused](unmarshal, data)
	case TypeSubscriptionResumed:
		return decode[SubscriptionResumed](unmarshal, data)
	case TypePaymentActionRequired:
		return decode[PaymentActionRequired](unmarshal, data)
	case TypeCheckoutExpired:
		return decode[CheckoutExpired](unmarshal, data)
	case TypeAsyncPaymentSucceeded:
		return decode[AsyncPaymentSucceeded](unmarshal, data)
	case TypeAsyncPaymentFailed:
		return decode[AsyncPaymentFailed](unmarshal, data)
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownEventType, eventType)
}

func decode[T Change](unmarshal Unmarshaler, data []byte) (Change, error) {
	var c T
	if err := unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("decode %s: %w", c.EventType(), err)
	}
	return c, nil
}

// DecodeEvent reads a stored event.
func DecodeEvent(eventType string, schemaVersion int, data []byte, occurredAt time.Time) (Event, error) {
	c, err := DecodeChange(eventType, schemaVersion, data)
	if err != nil {
		return Event{}, err
	}
	return Event{Change: c, OccurredAt: occurredAt}, nil
}
