// Package metricstest is a scripted metrics source for tests: set the load of a workload, or
// make its reads fail. Only tests import it, so it stays out of the operator's binary.
package metricstest

import (
	"context"
	"fmt"
	"sync"

	"github.com/serverlessplane/operator/pkg/metrics"
)

// Fake is a scripted source for tests: set the load of a workload, or make reads fail.
type Fake struct {
	mu         sync.Mutex
	warehouses map[string]metrics.WarehouseLoad
	entities   map[string]float64
	failures   map[string]error
}

// NewFake returns a Fake with no load anywhere.
func NewFake() *Fake {
	return &Fake{
		warehouses: map[string]metrics.WarehouseLoad{}, entities: map[string]float64{},
		failures: map[string]error{},
	}
}

func key(t metrics.Target) string { return t.Namespace + "/" + t.Name + "/" + t.Entity }

// SetWarehouse sets a warehouse's load, per cluster id.
func (f *Fake) SetWarehouse(namespace, name string, load metrics.WarehouseLoad) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.warehouses[key(metrics.Target{Namespace: namespace, Name: name})] = load
}

// SetInFlight sets a served entity's requests in flight.
func (f *Fake) SetInFlight(namespace, endpoint, entity string, inFlight float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entities[key(metrics.Target{Namespace: namespace, Name: endpoint, Entity: entity})] = inFlight
}

// Fail makes reads of a workload fail with err; nil makes them succeed again.
func (f *Fake) Fail(namespace, name, entity string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := key(metrics.Target{Namespace: namespace, Name: name, Entity: entity})
	if err == nil {
		delete(f.failures, k)
		return
	}
	f.failures[k] = err
}

// Warehouse returns the scripted load, which defaults to none.
func (f *Fake) Warehouse(_ context.Context, t metrics.Target) (metrics.WarehouseLoad, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := key(t)
	if err := f.failures[k]; err != nil {
		return metrics.WarehouseLoad{}, err
	}
	load, ok := f.warehouses[k]
	if !ok {
		return metrics.WarehouseLoad{Clusters: map[string]metrics.QueryLoad{}}, nil
	}
	out := metrics.WarehouseLoad{Clusters: map[string]metrics.QueryLoad{}, QueueWait: load.QueueWait}
	for c, l := range load.Clusters {
		out.Clusters[c] = l
	}
	return out, nil
}

// InFlight returns the scripted requests in flight, which default to none.
func (f *Fake) InFlight(_ context.Context, t metrics.Target) (float64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := key(t)
	if err := f.failures[k]; err != nil {
		return 0, fmt.Errorf("fake: %w", err)
	}
	return f.entities[k], nil
}

// Fake is a metrics.Source.
var _ metrics.Source = (*Fake)(nil)

// Enabled is true: the source reads load.
func (f *Fake) Enabled() bool { return true }
