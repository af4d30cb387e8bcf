package loadsim

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	"github.com/serverlessplane/operator/pkg/metrics"
)

// The simulator answers the operator's own Prometheus source, with its default query templates.
func TestServesTheOperatorsQueries(t *testing.T) {
	s, err := Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cfg := configv1.Default()
	cfg.Metrics.Source, cfg.Metrics.PrometheusURL = configv1.MetricsPrometheus, s.URL()
	src, err := metrics.FromConfig(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	req, _ := http.NewRequest(http.MethodPut, s.URL()+"/load/warehouse/analytics/bi", strings.NewReader(`{"running": 4, "queued": 30, "queueWaitSeconds": 12}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PUT: %v %v", resp, err)
	}
	load, err := src.Warehouse(ctx, metrics.Target{Namespace: "analytics", Name: "bi"})
	if err != nil {
		t.Fatal(err)
	}
	if r, q := load.Total(); r != 4 || q != 30 || load.QueueWait != 12*time.Second {
		t.Fatalf("load = %g running, %g queued, wait %s; want 4, 30, 12s", r, q, load.QueueWait)
	}
	other, err := src.Warehouse(ctx, metrics.Target{Namespace: "analytics", Name: "other"})
	if err != nil {
		t.Fatal(err)
	}
	if r, q := other.Total(); r != 0 || q != 0 {
		t.Fatalf("an unknown warehouse has load %g, %g", r, q)
	}

	s.SetEntity("ml", "churn", "champion", EntityLoad{InFlight: 7})
	got, err := src.InFlight(ctx, metrics.Target{Namespace: "ml", Name: "churn", Entity: "champion"})
	if err != nil || got != 7 {
		t.Fatalf("in flight = %g, %v; want 7", got, err)
	}
}
