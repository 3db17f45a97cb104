package billing

import "fmt"

// Status is the state of an organization's Stripe subscription, or
// [StatusNone] before it has one. The values are Stripe's own.
type Status string

// Subscription statuses.
const (
	StatusNone              Status = "none"
	StatusActive            Status = "active"
	StatusPastDue           Status = "past_due"
	StatusCanceled          Status = "canceled"
	StatusTrialing          Status = "trialing"
	StatusIncomplete        Status = "incomplete"
	StatusIncompleteExpired Status = "incomplete_expired"
	StatusUnpaid            Status = "unpaid"
	StatusPaused            Status = "paused"
)

// allStatuses returns every status (a new slice each time).
func allStatuses() []Status {
	return []Status{StatusNone, StatusActive, StatusPastDue, StatusCanceled, StatusTrialing,
		StatusIncomplete, StatusIncompleteExpired, StatusUnpaid, StatusPaused}
}

// ParseStatus returns the status named exactly s.
func ParseStatus(s string) (Status, error) {
	for _, st := range allStatuses() {
		if string(st) == s {
			return st, nil
		}
	}
	return "", fmt.Errorf("%w: status %q", ErrInvalidFact, s)
}

// Live reports whether a subscription in this status may still charge the
// organization, so that a second checkout would make it pay twice. A
// paused subscription is live: it resumes.
func (s Status) Live() bool {
	switch s {
	case StatusActive, StatusTrialing, StatusPastDue, StatusUnpaid, StatusIncomplete, StatusPaused:
		return true
	}
	return false
}

// Ended reports whether the subscription is over for good: its plan no
// longer applies and the organization is back on FREE.
func (s Status) Ended() bool { return s == StatusCanceled || s == StatusIncompleteExpired }
