package telemetry

import (
	"regexp"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/serverlessplane/operator/internal/gateway"
	"github.com/serverlessplane/operator/test/dashboard"
)

// otherMetrics are the series other processes export: the gateway's request metrics, which the
// dashboard's request panels read, the model proxy's in-flight gauge, which the autoscaler
// reads, and controller-runtime's.
var otherMetrics = map[string]bool{
	gateway.MetricRequests:                      true,
	gateway.MetricDuration + "_bucket":          true,
	gateway.MetricInFlight:                      true,
	gateway.MetricHeld:                          true,
	gateway.MetricStatements:                    true,
	gateway.MetricStatementDuration + "_bucket": true,
	gateway.MetricStatementsRunning:             true,
	gateway.MetricStatementsQueued:              true,
	gateway.MetricStatementQueueWait:            true,
	"serverlessplane_model_inflight_requests":   true,
	// controller-runtime's own, registered when controllers start.
	"controller_runtime_reconcile_total":               true,
	"controller_runtime_reconcile_time_seconds_bucket": true,
}

// Every serverlessplane_* series the Grafana dashboard queries exists: the operator registers it
// or the gateway exports it. A typo in a panel fails here, not on someone's screen.
func TestDashboardQueriesKnownMetrics(t *testing.T) {
	queries, err := dashboard.Queries("../../config/grafana/serverlessplane-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	Counts(WarehouseClusters, 1, 1, 1, "ns", "wh")
	Counts(EntityReplicas, 1, 1, 1, "ns", "ep", "e")
	ObservedLoad.WithLabelValues("k", "ns", "n", "").Set(1)
	Decision("k", "ns", "n", "", 1, 2)
	Quota("r", 1, 2)
	Ready.WithLabelValues("k", "ns", "n", "Ready").Set(1)
	ReconcileErrors.WithLabelValues("c", "Other").Inc()
	families, err := metrics.Registry.(prometheus.Gatherer).Gather()
	if err != nil {
		t.Fatal(err)
	}
	registered := map[string]bool{}
	for _, f := range families {
		registered[f.GetName()] = true
		if f.GetType() == dto.MetricType_HISTOGRAM {
			registered[f.GetName()+"_bucket"] = true
		}
	}
	name := regexp.MustCompile(`\b(serverlessplane_[a-z_]+|controller_runtime_[a-z_]+)`)
	queried := 0
	for _, q := range queries {
		for _, m := range name.FindAllString(q.Expr, -1) {
			queried++
			if !registered[m] && !otherMetrics[m] {
				t.Errorf("panel %q queries %s, which nothing exports", q.Panel, m)
			}
		}
	}
	if queried < 10 {
		t.Fatalf("only %d metric references in the dashboard", queried)
	}
}
