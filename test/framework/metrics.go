package framework

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// CounterSum sums a counter of the manager's metrics registry over the series whose label has
// the value.
func CounterSum(name, label, value string) (float64, error) {
	families, err := metrics.Registry.(prometheus.Gatherer).Gather()
	if err != nil {
		return 0, err
	}
	total := 0.0
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					total += m.GetCounter().GetValue()
				}
			}
		}
	}
	return total, nil
}
