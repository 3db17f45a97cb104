// Package metrics holds the service's Prometheus metrics, on a registry of
// its own (no global state).
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the service's instruments. They are safe for concurrent use.
type Metrics struct {
	Registry        *prometheus.Registry
	HTTPDuration    *prometheus.HistogramVec
	WebhookOutcomes *prometheus.CounterVec
	WebhookRefetch  *prometheus.CounterVec
	WebhookLag      prometheus.Histogram
	AppendConflicts prometheus.Counter
}

// New registers the instruments on a new registry.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "safeclose_http_request_duration_seconds",
			Help:    "HTTP request latency by route, method and status.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method", "status"}),
		WebhookOutcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "safeclose_webhook_events_total",
			Help: "Verified Stripe webhook deliveries by event type and outcome (applied, duplicate, ignored, parked, refused).",
		}, []string{"type", "outcome"}),
		WebhookRefetch: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "safeclose_webhook_refetched_total",
			Help: "Stripe events sent in another API version whose object was fetched again in 2023-10-16.",
		}, []string{"api_version", "type"}),
		WebhookLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "safeclose_webhook_apply_lag_seconds",
			Help:    "Time from Stripe's created to the event being applied.",
			Buckets: prometheus.ExponentialBuckets(0.5, 2, 14),
		}),
	}
	m.AppendConflicts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "safeclose_append_conflicts_total",
		Help: "Appends that lost an optimistic-concurrency race and were retried.",
	})
	m.Registry.MustRegister(m.AppendConflicts, m.HTTPDuration, m.WebhookOutcomes, m.WebhookRefetch, m.WebhookLag,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// ObserveReconcileDrift exposes the drifted-org count of the last
// reconciliation run, read by f at each scrape.
func (m *Metrics) ObserveReconcileDrift(f func() float64) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "safeclose_reconcile_drifted_orgs",
		Help: "Organizations whose ledger differed from Stripe in the last reconcile run.",
	}, f))
}

// ObserveParked exposes the number of parked webhook events, read by f at
// each scrape.
func (m *Metrics) ObserveParked(f func() float64) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "safeclose_webhook_parked_events",
		Help: "Verified Stripe events waiting for their organization to be known.",
	}, f))
}
