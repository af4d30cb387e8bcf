package gateway

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the gateway's request metrics, per workspace, endpoint and served entity: what the
// dashboard charts and what the autoscaler can read.
type Metrics struct {
	Registry    *prometheus.Registry
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	inFlight    *prometheus.GaugeVec
	held        *prometheus.GaugeVec
	rateLimited *prometheus.CounterVec
}

// Metric names.
const (
	MetricRequests    = "serverlessplane_gateway_requests_total"
	MetricDuration    = "serverlessplane_gateway_request_duration_seconds"
	MetricInFlight    = "serverlessplane_gateway_inflight_requests"
	MetricHeld        = "serverlessplane_gateway_held_requests"
	MetricRateLimited = "serverlessplane_gateway_rate_limited_total"
)

var entityLabels = []string{"workspace", "endpoint", "entity"}

// NewMetrics registers the gateway's metrics, and the Go and process collectors, in a registry
// of their own.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricRequests,
			Help: "Scoring requests answered, by HTTP status code."}, append(entityLabels, "code")),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: MetricDuration,
			Help:    "Time from receiving a scoring request to its response, held time included.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}}, entityLabels),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: MetricInFlight,
			Help: "Scoring requests forwarded to a model pod and not yet answered."}, entityLabels),
		held: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: MetricHeld,
			Help: "Scoring requests held because their served entity has no ready pod."}, entityLabels),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricRateLimited,
			Help: "Scoring requests refused by a rate limit, by its key (Endpoint or User)."}, []string{"workspace", "endpoint", "key"}),
	}
	m.Registry.MustRegister(m.requests, m.duration, m.inFlight, m.held, m.rateLimited,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
