package metrics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Limits on what a workload pod's metrics page may cost the operator. The page is the tenant's:
// its image decides what it answers.
const (
	// maxPage bounds the bytes read from one page; a larger page is an error, not a truncation.
	maxPage = 1 << 20
	// maxSeries bounds the samples of one page.
	maxSeries = 10000
	// defaultConcurrency bounds the scrapes in flight at once, over every workload.
	defaultConcurrency = 16
)

// Scrape reads the gauges each workload pod exports on its metrics port. A pod's answer never
// reaches status as text: errors name the pod and what was wrong, not what it said.
type Scrape struct {
	// Client must not follow redirects (NewScrapeClient): a pod could point the operator at
	// any address it reaches.
	Client *http.Client
	// WarehousePort and ModelPort are the metrics ports of warehouse engines and model servers.
	WarehousePort, ModelPort int32
	// Metric names.
	Running, Queued, QueueWait, InFlightName string
	// Concurrency bounds the scrapes in flight at once. Default 16.
	Concurrency int

	once sync.Once
	sem  chan struct{}
}

// NewScrapeClient is the HTTP client of Scrape: it never follows a redirect.
func NewScrapeClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
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
	s.once.Do(func() {
		n := s.Concurrency
		if n <= 0 {
			n = defaultConcurrency
		}
		s.sem = make(chan struct{}, n)
	})
	out := make([]map[string]*dto.MetricFamily, len(pods))
	errs := make([]error, len(pods))
	var wg sync.WaitGroup
	for i, p := range pods {
		wg.Go(func() {
			select {
			case s.sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			defer func() { <-s.sem }()
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
		// The status code only: the reason phrase is the pod's text.
		return nil, fmt.Errorf("scraping pod %s: HTTP status %d", p.Name, resp.StatusCode)
	}
	page, err := io.ReadAll(io.LimitReader(resp.Body, maxPage+1))
	if err != nil {
		return nil, fmt.Errorf("scraping pod %s: %w", p.Name, err)
	}
	if len(page) > maxPage {
		return nil, fmt.Errorf("the metrics page of pod %s is larger than %d bytes", p.Name, maxPage)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	if families, err = parser.TextToMetricFamilies(bytes.NewReader(page)); err != nil {
		// Not the parser's message: it quotes the page.
		return nil, fmt.Errorf("the metrics page of pod %s is not in the Prometheus text format", p.Name)
	}
	series := 0
	for name, f := range families {
		series += len(f.GetMetric())
		if series > maxSeries {
			return nil, fmt.Errorf("the metrics page of pod %s has more than %d samples", p.Name, maxSeries)
		}
		if name != s.Running && name != s.Queued && name != s.QueueWait && name != s.InFlightName {
			continue
		}
		for _, m := range f.GetMetric() {
			if v := value(m); math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				return nil, fmt.Errorf("pod %s reports %s = %g: load must be a finite number, at least 0", p.Name, name, v)
			}
		}
	}
	return families, nil
}

// value is a gauge's, an untyped metric's or a counter's value.
func value(m *dto.Metric) float64 {
	switch {
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetUntyped() != nil:
		return m.GetUntyped().GetValue()
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	}
	return 0
}

// gauge sums the samples of a gauge (or untyped) metric; 0 when it is absent.
func gauge(families map[string]*dto.MetricFamily, name string) float64 {
	total := 0.0
	for _, m := range families[name].GetMetric() {
		total += value(m)
	}
	return total
}

// Enabled is true: the source reads load.
func (s *Scrape) Enabled() bool { return true }
