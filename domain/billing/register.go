package billing

import (
	"strconv"
	"time"
)

// register holds one part of the account's state together with the Stripe
// time of the fact that set it. It is a last-writer-wins register by Stripe
// time, which makes the fold independent of delivery order: a fact older
// than the one held is ignored. Within one second, a fact that ends the
// subscription outranks one that does not (Stripe sends the deletion last).
// Two different values of the same time and rank cannot be ordered from the
// facts alone; the register then keeps the greater value (so every order
// folds to the same state) and marks itself conflicted until a newer fact
// arrives.
type register[T comparable] struct {
	Value    T         `json:"v"`
	At       time.Time `json:"at"`
	Rank     int       `json:"rank,omitempty"`
	Conflict bool      `json:"conflict,omitempty"`
}

func (r *register[T]) offer(v T, at time.Time, rank int, key func(T) string) {
	switch {
	case r.At.IsZero() || at.After(r.At) || (at.Equal(r.At) && rank > r.Rank):
		r.Value, r.At, r.Rank, r.Conflict = v, at, rank, false
	case at.Equal(r.At) && rank == r.Rank && v != r.Value:
		r.Conflict = true
		if key(v) > key(r.Value) {
			r.Value = v
		}
	}
}

func stringKey[T ~string](v T) string { return string(v) }

func boolKey(v bool) string { return strconv.FormatBool(v) }

func timeKey(v time.Time) string { return strconv.FormatInt(v.UnixNano(), 10) }
