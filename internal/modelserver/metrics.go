package modelserver

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the server's Prometheus series. Labels are bounded: route is one of the
// server's routes or "unmatched", code an HTTP status code.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
	rows     prometheus.Counter
}

// NewMetrics creates the series and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "serverlessplane_model_server_requests_total",
			Help: "HTTP requests answered, by route and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "serverlessplane_model_server_request_duration_seconds",
			Help:    "Time from a request's headers to the end of its response, by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "serverlessplane_model_server_inflight_requests",
			Help: "Scoring requests (POST /invocations) being served.",
		}),
		rows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "serverlessplane_model_server_predicted_rows_total",
			Help: "Rows predicted, over all scoring requests that succeeded.",
		}),
	}
	reg.MustRegister(m.requests, m.duration, m.inFlight, m.rows)
	return m
}

// instrument counts and times the requests of route; scoring requests also count in flight.
func (m *Metrics) instrument(route string, h http.Handler) http.Handler {
	labels := prometheus.Labels{"route": route}
	h = promhttp.InstrumentHandlerCounter(m.requests.MustCurryWith(labels), h)
	h = promhttp.InstrumentHandlerDuration(m.duration.MustCurryWith(labels), h)
	if route == routeInvocations {
		h = promhttp.InstrumentHandlerInFlight(m.inFlight, h)
	}
	return h
}
