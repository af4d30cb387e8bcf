package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Scrape reads the gauges each workload pod exports on its metrics port.
type Scrape struct {
	Client *http.Client
	// WarehousePort and ModelPort are the metrics ports of warehouse engines and model servers.
	WarehousePort, ModelPort int32
	// Metric names.
	Running, Queued, QueueWait, InFlightName string
}

// Warehouse sums running and queued queries per cluster over the warehouse's pods.
func (s *Scrape) Warehouse(ctx context.Context, t Target) (WarehouseLoad, error) {
	families, err := s.scrapeAll(ctx, t.Pods, s.WarehousePort)
	if err != nil {
		return WarehouseLoad{}, err
	}
	load := WarehouseLoad{Clusters: map[string]QueryLoad{}}
	for i, p := range t.Pods {
		c := load.Clusters[p.Cluster]
		c.Running += gauge(families[i], s.Running)
		c.Queued += gauge(families[i], s.Queued)
		load.Clusters[p.Cluster] = c
		if w := time.Duration(gauge(families[i], s.QueueWait) * float64(time.Second)); w > load.QueueWait {
			load.QueueWait = w
		}
	}
	return load, nil
}

// InFlight sums the requests in flight over the entity's pods.
func (s *Scrape) InFlight(ctx context.Context, t Target) (float64, error) {
	families, err := s.scrapeAll(ctx, t.Pods, s.ModelPort)
	if err != nil {
		return 0, err
	}
	total := 0.0
	for _, f := range families {
		total += gauge(f, s.InFlightName)
	}
	return total, nil
}

// scrapeAll reads every pod at once; any failure fails the whole read, since a partial sum
// would under-report load.
func (s *Scrape) scrapeAll(ctx context.Context, pods []Pod, port int32) ([]map[string]*dto.MetricFamily, error) {
	out := make([]map[string]*dto.MetricFamily, len(pods))
	errs := make([]error, len(pods))
	var wg sync.WaitGroup
	for i, p := range pods {
		wg.Go(func() {
			out[i], errs[i] = s.scrape(ctx, p, port)
		})
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

func (s *Scrape) scrape(ctx context.Context, p Pod, port int32) (families map[string]*dto.MetricFamily, err error) {
	// The text parser panics on some malformed input (a body that opens with "{"): a workload
	// image is the tenant's, and what it answers must never take the operator down.
	defer func() {
		if r := recover(); r != nil {
			families, err = nil, fmt.Errorf("parsing the metrics of pod %s: malformed exposition", p.Name)
		}
	}()
	if p.IP == "" {
		return nil, fmt.Errorf("pod %s has no IP yet", p.Name)
	}
	url := "http://" + net.JoinHostPort(p.IP, strconv.Itoa(int(port))) + "/metrics"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scraping pod %s: %w", p.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scraping pod %s: %s", p.Name, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err = parser.TextToMetricFamilies(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("parsing the metrics of pod %s: %w", p.Name, err)
	}
	return families, nil
}

// gauge sums the samples of a gauge (or untyped) metric; 0 when it is absent.
func gauge(families map[string]*dto.MetricFamily, name string) float64 {
	f, ok := families[name]
	if !ok {
		return 0
	}
	total := 0.0
	for _, m := range f.GetMetric() {
		switch {
		case m.GetGauge() != nil:
			total += m.GetGauge().GetValue()
		case m.GetUntyped() != nil:
			total += m.GetUntyped().GetValue()
		case m.GetCounter() != nil:
			total += m.GetCounter().GetValue()
		}
	}
	return total
}
