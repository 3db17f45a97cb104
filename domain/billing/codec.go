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

// DecodeChange reads a stored payload of the given type and schema version.
func DecodeChange(eventType string, schemaVersion int, data []byte) (Change, error) {
	if schemaVersion != SchemaVersion {
		return nil, fmt.Errorf("%w: %s schema version %d", ErrUnknownEventType, eventType, schemaVersion)
	}
	switch eventType {
	case TypeOrgCreated:
		return decode[OrgCreated](data)
	case TypeMemberAdded:
		return decode[MemberAdded](data)
	case TypeMemberPermissionsChanged:
		return decode[MemberPermissionsChanged](data)
	case TypeMemberRemoved:
		return decode[MemberRemoved](data)
	case TypeCheckoutStarted:
		return decode[CheckoutStarted](data)
	case TypePortalOpened:
		return decode[PortalOpened](data)
	case TypePlanActivated:
		return decode[PlanActivated](data)
	case TypeSubscriptionRefreshed:
		return decode[SubscriptionRefreshed](data)
	case TypeSubscriptionCanceled:
		return decode[SubscriptionCanceled](data)
	case TypePaymentSucceeded:
		return decode[PaymentSucceeded](data)
	case TypePaymentFailed:
		return decode[PaymentFailed](data)
	case TypeSubscriptionSynced:
		return decode[SubscriptionSynced](data)
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownEventType, eventType)
}

func decode[T Change](data []byte) (Change, error) {
	var c T
	if err := json.Unmarshal(data, &c); err != nil {
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
