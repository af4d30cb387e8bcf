package metrics

import (
	"fmt"
	"net/http"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
)

// FromConfig builds the source the operator configuration names.
func FromConfig(c *configv1.OperatorConfig) (Source, error) {
	timeout := c.Metrics.ScrapeTimeout.Duration
	switch c.Metrics.Source {
	case configv1.MetricsNone:
		return None{}, nil
	case configv1.MetricsScrape:
		n := c.Metrics.Names
		return &Scrape{
			Client: NewScrapeClient(timeout), WarehousePort: c.Warehouses.MetricsPort, ModelPort: c.ModelServing.MetricsPort,
			Running: n.RunningQueries, Queued: n.QueuedQueries, QueueWait: n.QueueWaitSeconds, InFlightName: n.InFlightRequests,
		}, nil
	case configv1.MetricsPrometheus:
		q := c.Metrics.Queries
		return NewPrometheus(&http.Client{Timeout: timeout}, c.Metrics.PrometheusURL, q.RunningQueries, q.QueuedQueries, q.QueueWaitSeconds, q.InFlightRequests)
	}
	return nil, fmt.Errorf("metrics.source %q is not Scrape, Prometheus or None", c.Metrics.Source)
}
