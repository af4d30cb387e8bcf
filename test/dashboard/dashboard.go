// Package dashboard reads the queries of the project's Grafana dashboard
// (config/grafana/serverlessplane-dashboard.json), which the telemetry unit test checks against
// the metrics the processes register and the real-node tier evaluates on a real Prometheus.
package dashboard

import (
	"encoding/json"
	"fmt"
	"os"
)

// Query is one target of a panel.
type Query struct {
	Panel, Expr string
}

// Queries reads every panel target's expression of the dashboard file at path, in panel order.
func Queries(path string) ([]Query, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []Query
	for _, p := range dash.Panels {
		for _, t := range p.Targets {
			out = append(out, Query{Panel: p.Title, Expr: t.Expr})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s has no panel queries", path)
	}
	return out, nil
}
