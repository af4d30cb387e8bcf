package gateway

import (
	"strings"

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

	statements        *prometheus.CounterVec
	statementDuration *prometheus.HistogramVec
}

// Metric names.
const (
	MetricRequests    = "serverlessplane_gateway_requests_total"
	MetricDuration    = "serverlessplane_gateway_request_duration_seconds"
	MetricInFlight    = "serverlessplane_gateway_inflight_requests"
	MetricHeld        = "serverlessplane_gateway_held_requests"
	MetricRateLimited = "serverlessplane_gateway_rate_limited_total"

	MetricStatementsRunning  = "serverlessplane_gateway_statements_running"
	MetricStatementsQueued   = "serverlessplane_gateway_statements_queued"
	MetricStatementQueueWait = "serverlessplane_gateway_statement_queue_wait_seconds"
	MetricStatements         = "serverlessplane_gateway_statements_total"
	MetricStatementDuration  = "serverlessplane_gateway_statement_duration_seconds"
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
		statements: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricStatements,
			Help: "Statements finished, by final state."}, []string{"workspace", "warehouse", "state"}),
		statementDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: MetricStatementDuration,
			Help:    "Time from a statement's submission to its final state, queueing included.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800}}, []string{"workspace", "warehouse"}),
	}
	m.Registry.MustRegister(m.requests, m.duration, m.inFlight, m.held, m.rateLimited, m.statements, m.statementDuration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

var (
	descRunning = prometheus.NewDesc(MetricStatementsRunning, "Statements this gateway sent to a warehouse cluster and not yet finished.",
		[]string{"workspace", "warehouse", "cluster"}, nil)
	descQueued = prometheus.NewDesc(MetricStatementsQueued, "Statements waiting in this gateway's queue of a warehouse.",
		[]string{"workspace", "warehouse"}, nil)
	descQueueWait = prometheus.NewDesc(MetricStatementQueueWait, "How long the oldest queued statement of a warehouse has waited.",
		[]string{"workspace", "warehouse"}, nil)
)

// sqlCollector reads the warehouses' queues at each scrape, so that a warehouse's series go
// when its statements do.
type sqlCollector struct{ s *Server }

func (c *sqlCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descRunning
	ch <- descQueued
	ch <- descQueueWait
}

func (c *sqlCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.s.o.Clock.Now()
	for _, key := range c.s.sql.queues.Keys() {
		ns, wh, _ := strings.Cut(key, "/")
		st := c.s.sql.queues.Stats(key, now)
		ch <- prometheus.MustNewConstMetric(descQueued, prometheus.GaugeValue, float64(st.Queued), ns, wh)
		ch <- prometheus.MustNewConstMetric(descQueueWait, prometheus.GaugeValue, st.OldestWait.Seconds(), ns, wh)
		for cluster, n := range st.Running {
			ch <- prometheus.MustNewConstMetric(descRunning, prometheus.GaugeValue, float64(n), ns, wh, cluster)
		}
	}
}
