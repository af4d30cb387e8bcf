package metrics

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	discoveryv1 "k8s.io/api/discovery/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The series the control-plane gateway exports (internal/gateway), which the Gateway source
// reads.
const (
	GatewayStatementsRunning  = "serverlessplane_gateway_statements_running"
	GatewayStatementsQueued   = "serverlessplane_gateway_statements_queued"
	GatewayStatementQueueWait = "serverlessplane_gateway_statement_queue_wait_seconds"
	GatewayInFlight           = "serverlessplane_gateway_inflight_requests"
	GatewayHeld               = "serverlessplane_gateway_held_requests"
)

// Gateway reads load where it is first seen: at the control-plane gateways. A warehouse's load
// is the statements each gateway runs per cluster plus those it queues, and the longest wait
// of any gateway's queue; a served entity's is the requests the gateways have in flight plus
// those they hold. Every gateway keeps its own queues, so the sum over them is the load. It
// sees a warehouse or an entity at zero as well: nothing there has to be running to report.
type Gateway struct {
	// Scrape reads each gateway pod's metrics port; its names are the gateway's series.
	Scrape *Scrape
	// Port is the gateways' metrics port.
	Port int32
	// Pods lists the ready gateway pods (GatewayEndpoints).
	Pods func(ctx context.Context) ([]Pod, error)
}

// NewGateway reads the gateway pods that pods lists, on port, with client (NewScrapeClient).
func NewGateway(c *http.Client, port int32, pods func(context.Context) ([]Pod, error)) *Gateway {
	return &Gateway{Port: port, Pods: pods, Scrape: &Scrape{Client: c,
		Running: GatewayStatementsRunning, Queued: GatewayStatementsQueued, QueueWait: GatewayStatementQueueWait, InFlightName: GatewayInFlight}}
}

func (g *Gateway) read(ctx context.Context) ([]map[string]*dto.MetricFamily, error) {
	pods, err := g.Pods(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing the gateway pods: %w", err)
	}
	if len(pods) == 0 {
		return nil, fmt.Errorf("no gateway pod is ready to report load")
	}
	return g.Scrape.scrapeAll(ctx, pods, g.Port)
}

// Warehouse sums the gateways' statements for the warehouse.
func (g *Gateway) Warehouse(ctx context.Context, t Target) (WarehouseLoad, error) {
	pages, err := g.read(ctx)
	if err != nil {
		return WarehouseLoad{}, err
	}
	load := WarehouseLoad{Clusters: map[string]QueryLoad{}}
	want := map[string]string{"workspace": t.Namespace, "warehouse": t.Name}
	for _, page := range pages {
		for _, m := range matching(page, GatewayStatementsRunning, want) {
			c := label(m, "cluster")
			l := load.Clusters[c]
			l.Running += value(m)
			load.Clusters[c] = l
		}
		for _, m := range matching(page, GatewayStatementsQueued, want) {
			// Queued statements belong to no cluster yet.
			l := load.Clusters[""]
			l.Queued += value(m)
			load.Clusters[""] = l
		}
		for _, m := range matching(page, GatewayStatementQueueWait, want) {
			if w := time.Duration(value(m) * float64(time.Second)); w > load.QueueWait {
				load.QueueWait = w
			}
		}
	}
	return load, nil
}

// InFlight sums the gateways' requests in flight and held for the entity.
func (g *Gateway) InFlight(ctx context.Context, t Target) (float64, error) {
	pages, err := g.read(ctx)
	if err != nil {
		return 0, err
	}
	want := map[string]string{"workspace": t.Namespace, "endpoint": t.Name, "entity": t.Entity}
	total := 0.0
	for _, page := range pages {
		for _, name := range []string{GatewayInFlight, GatewayHeld} {
			for _, m := range matching(page, name, want) {
				total += value(m)
			}
		}
	}
	return total, nil
}

// matching are the samples of a family whose labels have the wanted values.
func matching(page map[string]*dto.MetricFamily, name string, want map[string]string) []*dto.Metric {
	var out []*dto.Metric
	for _, m := range page[name].GetMetric() {
		ok := true
		for k, v := range want {
			if label(m, k) != v {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, m)
		}
	}
	return out
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// GatewayEndpoints lists the ready endpoints of the gateway Service, as Kubernetes derives them
// from its selector, through reader (a live reader: the operator does not cache slices it did not
// write), reusing a list for ttl. Only the Service's endpoints are gateways: a pod that merely
// wears the gateway's labels is not one.
func GatewayEndpoints(reader client.Reader, namespace, service string, ttl time.Duration, now func() time.Time) func(context.Context) ([]Pod, error) {
	var mu sync.Mutex
	var cached []Pod
	var at time.Time
	return func(ctx context.Context) ([]Pod, error) {
		mu.Lock()
		defer mu.Unlock()
		if cached != nil && now().Sub(at) < ttl {
			return cached, nil
		}
		var list discoveryv1.EndpointSliceList
		if err := reader.List(ctx, &list, client.InNamespace(namespace), client.MatchingLabels{
			discoveryv1.LabelServiceName: service, discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io",
		}); err != nil {
			return nil, err
		}
		pods := []Pod{}
		for _, sl := range list.Items {
			for _, e := range sl.Endpoints {
				if (e.Conditions.Ready != nil && !*e.Conditions.Ready) || len(e.Addresses) == 0 {
					continue
				}
				name := e.Addresses[0]
				if e.TargetRef != nil {
					name = e.TargetRef.Name
				}
				pods = append(pods, Pod{Name: name, IP: e.Addresses[0]})
			}
		}
		cached, at = pods, now()
		return pods, nil
	}
}

// Enabled is true: the source reads load.
func (g *Gateway) Enabled() bool { return true }
