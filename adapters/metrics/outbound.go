package metrics

import "github.com/prometheus/client_golang/prometheus"

// The outcomes of an outbound delivery attempt.
const (
	OutboundDelivered = "delivered" // a 2xx answer
	OutboundRetry     = "retry"     // any other answer, or none: tried again later
	OutboundFailed    = "failed"    // given up after the retry window (or too large to send)
)

// Outbound are the outbound events' instruments.
type Outbound struct {
	// Oldest is the age in seconds of each endpoint's oldest undelivered
	// event (0 when nothing waits).
	Oldest *prometheus.GaugeVec
	// Deliveries counts attempts by endpoint and outcome.
	Deliveries *prometheus.CounterVec
}

// Outbound registers the outbound instruments, with a series for each
// endpoint from the start. Call it once.
func (m *Metrics) Outbound(endpoints []string) *Outbound {
	o := &Outbound{
		Oldest: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "safeclose_outbound_oldest_undelivered_seconds",
			Help: "Age of the oldest ledger event not yet delivered (nor given up) to the endpoint; 0 when nothing waits.",
		}, []string{"endpoint"}),
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "safeclose_outbound_deliveries_total",
			Help: "Outbound event delivery attempts by endpoint and outcome (delivered, retry, failed).",
		}, []string{"endpoint", "outcome"}),
	}
	for _, e := range endpoints {
		o.Oldest.WithLabelValues(e).Set(0)
		for _, outcome := range []string{OutboundDelivered, OutboundRetry, OutboundFailed} {
			o.Deliveries.WithLabelValues(e, outcome)
		}
	}
	m.Registry.MustRegister(o.Oldest, o.Deliveries)
	return o
}
