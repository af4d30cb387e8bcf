// Package metrics reads the load the autoscaler scales on, behind one interface: scraping the
// workload pods' Prometheus endpoints, querying the Prometheus HTTP API, or a scripted fake for
// tests. A source that cannot read returns an error; callers keep the current count then.
package metrics

import (
	"context"
	"errors"
	"time"
)

// ErrDisabled is returned by the None source: load-based scaling is off.
var ErrDisabled = errors.New("load-based scaling is disabled (metrics.source None)")

// Pod is a workload pod to read.
type Pod struct {
	Name, IP string
	// Cluster is the warehouse cluster the pod belongs to; empty for model servers.
	Cluster string
}

// Target is the workload whose load is read.
type Target struct {
	Namespace string
	// Name is the warehouse or the model endpoint.
	Name string
	// Entity is the served entity, for model endpoints.
	Entity string
	// Pods are the ready pods, for sources that read pods.
	Pods []Pod
}

// QueryLoad is the load of one warehouse cluster.
type QueryLoad struct {
	Running, Queued float64
}

// WarehouseLoad is the load of a warehouse.
type WarehouseLoad struct {
	// Clusters maps cluster ids to their load.
	Clusters map[string]QueryLoad
	// QueueWait is how long the oldest queued query has waited.
	QueueWait time.Duration
}

// Total is the warehouse's running and queued queries.
func (w WarehouseLoad) Total() (running, queued float64) {
	for _, c := range w.Clusters {
		running += c.Running
		queued += c.Queued
	}
	return running, queued
}

// Source reads load.
type Source interface {
	// Warehouse returns the load of a warehouse.
	Warehouse(ctx context.Context, t Target) (WarehouseLoad, error)
	// InFlight returns the requests in flight at a served entity.
	InFlight(ctx context.Context, t Target) (float64, error)
	// Enabled says whether the source reads load at all: without one, counts stay at their
	// minimum and nothing needs the autoscaling tick.
	Enabled() bool
}

// None is the source of metrics.source None.
type None struct{}

// Warehouse always fails with ErrDisabled.
func (None) Warehouse(context.Context, Target) (WarehouseLoad, error) {
	return WarehouseLoad{}, ErrDisabled
}

// InFlight always fails with ErrDisabled.
func (None) InFlight(context.Context, Target) (float64, error) { return 0, ErrDisabled }

// Enabled is false: metrics.source None reads no load.
func (None) Enabled() bool { return false }
