package metrics

import (
	"fmt"
	"net/http"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	"github.com/serverlessplane/operator/pkg/naming"
)

// FromConfig builds the source the operator configuration names. reader lists the gateway pods
// for source Gateway (a live reader); nil is allowed for the other sources.
func FromConfig(c *configv1.OperatorConfig, reader client.Reader) (Source, error) {
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
	case configv1.MetricsGateway:
		if reader == nil {
			return nil, fmt.Errorf("metrics.source Gateway needs a reader of the gateway pods")
		}
		pods := GatewayEndpoints(reader, c.OperatorNamespace, naming.GatewayService, 2*time.Second, time.Now)
		return NewGateway(NewScrapeClient(timeout), c.Metrics.GatewayPort, pods), nil
	case configv1.MetricsPrometheus:
		q := c.Metrics.Queries
		return NewPrometheus(&http.Client{Timeout: timeout}, c.Metrics.PrometheusURL, q.RunningQueries, q.QueuedQueries, q.QueueWaitSeconds, q.InFlightRequests)
	}
	return nil, fmt.Errorf("metrics.source %q is not Gateway, Scrape, Prometheus or None", c.Metrics.Source)
}
