package modelproxy

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Why a request was answered by the proxy instead of the model.
const (
	rejectQueueFull    = "queue_full"
	rejectQueueTimeout = "queue_timeout"
	rejectClientGone   = "client_gone"
	rejectTooLarge     = "too_large"
)

// statusClientClosed is the code counted for a request whose client left before an answer
// (nginx's convention); the client never sees it.
const statusClientClosed = 499

// durationBuckets span quick scoring calls to the request timeout.
var durationBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// metrics are the proxy's series, in a registry of its own.
type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration prometheus.Histogram
	rejected *prometheus.CounterVec
}

func newMetrics(l *limiter) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "serverlessplane_model_requests_total",
			Help: "Scoring requests answered, by HTTP status code (499: the client left first).",
		}, []string{"code"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "serverlessplane_model_request_duration_seconds",
			Help:    "Time from a scoring request's arrival to the end of its response, queueing included.",
			Buckets: durationBuckets,
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "serverlessplane_model_rejected_requests_total",
			Help: "Scoring requests the proxy did not forward to the model, by reason.",
		}, []string{"reason"}),
	}
	for _, reason := range []string{rejectQueueFull, rejectQueueTimeout, rejectClientGone, rejectTooLarge} {
		m.rejected.WithLabelValues(reason)
	}
	m.registry.MustRegister(
		m.requests, m.duration, m.rejected,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			// The operator's autoscaler reads this name.
			Name: "serverlessplane_model_inflight_requests",
			Help: "Scoring requests forwarded to the model or waiting in the queue.",
		}, func() float64 {
			active, queued := l.load()
			return float64(active + queued)
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "serverlessplane_model_queued_requests",
			Help: "Scoring requests waiting for a concurrency slot.",
		}, func() float64 {
			_, queued := l.load()
			return float64(queued)
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "serverlessplane_model_concurrency_limit",
			Help: "Scoring requests forwarded to the model at once, at most (CONTAINER_CONCURRENCY).",
		}, func() float64 { return float64(l.capacity) }),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}
