package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// Prometheus queries the Prometheus HTTP API (/api/v1/query) with the operator configuration's
// PromQL templates, rendered over the Target.
type Prometheus struct {
	Client *http.Client
	// URL is the base URL of the API, such as http://prometheus.monitoring:9090.
	URL string
	// Templates of the queries. Running and Queued return one series per cluster (label
	// "cluster"); QueueWait and InFlight return one series.
	Running, Queued, QueueWait, InFlightQuery *template.Template
}

// NewPrometheus parses the query templates.
func NewPrometheus(client *http.Client, baseURL, running, queued, queueWait, inFlight string) (*Prometheus, error) {
	p := &Prometheus{Client: client, URL: strings.TrimSuffix(baseURL, "/")}
	for _, q := range []struct {
		dst  **template.Template
		text string
	}{{&p.Running, running}, {&p.Queued, queued}, {&p.QueueWait, queueWait}, {&p.InFlightQuery, inFlight}} {
		t, err := template.New("query").Option("missingkey=error").Parse(q.text)
		if err != nil {
			return nil, err
		}
		*q.dst = t
	}
	return p, nil
}

// Warehouse runs the running, queued and queue-wait queries.
func (p *Prometheus) Warehouse(ctx context.Context, t Target) (WarehouseLoad, error) {
	load := WarehouseLoad{Clusters: map[string]QueryLoad{}}
	running, err := p.query(ctx, p.Running, t)
	if err != nil {
		return load, err
	}
	queued, err := p.query(ctx, p.Queued, t)
	if err != nil {
		return load, err
	}
	wait, err := p.query(ctx, p.QueueWait, t)
	if err != nil {
		return load, err
	}
	for _, s := range running {
		c := load.Clusters[s.Metric["cluster"]]
		c.Running += s.Value
		load.Clusters[s.Metric["cluster"]] = c
	}
	for _, s := range queued {
		c := load.Clusters[s.Metric["cluster"]]
		c.Queued += s.Value
		load.Clusters[s.Metric["cluster"]] = c
	}
	for _, s := range wait {
		if w := time.Duration(s.Value * float64(time.Second)); w > load.QueueWait {
			load.QueueWait = w
		}
	}
	return load, nil
}

// InFlight runs the in-flight query.
func (p *Prometheus) InFlight(ctx context.Context, t Target) (float64, error) {
	series, err := p.query(ctx, p.InFlightQuery, t)
	if err != nil {
		return 0, err
	}
	total := 0.0
	for _, s := range series {
		total += s.Value
	}
	return total, nil
}

// series is one element of an instant vector.
type series struct {
	Metric map[string]string
	Value  float64
}

// query runs an instant query and returns its vector (an empty vector is no load, not an error).
func (p *Prometheus) query(ctx context.Context, tmpl *template.Template, t Target) ([]series, error) {
	var q bytes.Buffer
	if err := tmpl.Execute(&q, t); err != nil {
		return nil, fmt.Errorf("rendering the query: %w", err)
	}
	u := p.URL + "/api/v1/query?" + url.Values{"query": {q.String()}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("querying Prometheus: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	var r struct {
		Status    string `json:"status"`
		Error     string `json:"error"`
		ErrorType string `json:"errorType"`
		Data      struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("querying Prometheus: %s: %w", resp.Status, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("querying Prometheus (%s): %s: %s", q.String(), r.ErrorType, r.Error)
	}
	if r.Data.ResultType != "vector" {
		return nil, fmt.Errorf("querying Prometheus (%s): got a %s, want a vector", q.String(), r.Data.ResultType)
	}
	out := make([]series, 0, len(r.Data.Result))
	for _, res := range r.Data.Result {
		s, _ := res.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("querying Prometheus (%s): value %q: %w", q.String(), s, err)
		}
		out = append(out, series{Metric: res.Metric, Value: v})
	}
	return out, nil
}

// Enabled is true: the source reads load.
func (p *Prometheus) Enabled() bool { return true }
