// Package telemetry defines the operator's own Prometheus metrics, served on the manager's
// metrics endpoint next to controller-runtime's: what each warehouse and served entity runs and
// wants, what the autoscaler sees and decides, the regional quota, and reconcile errors.
package telemetry

import (
	"context"
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

var (
	// WarehouseClusters is each warehouse's clusters by state: current, ready, desired.
	WarehouseClusters = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "serverlessplane_warehouse_clusters",
		Help: "Clusters of a serverless warehouse, by state (current, ready, desired).",
	}, []string{"namespace", "warehouse", "state"})

	// EntityReplicas is each served entity's replicas by state: current, ready, desired.
	EntityReplicas = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "serverlessplane_served_entity_replicas",
		Help: "Model server replicas of a served entity, by state (current, ready, desired).",
	}, []string{"namespace", "endpoint", "served_entity", "state"})

	// ObservedLoad is the load the autoscaler last read: running plus queued queries for a
	// warehouse, requests in flight for a served entity.
	ObservedLoad = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "serverlessplane_autoscaler_observed_load",
		Help: "Load the autoscaler last observed: running+queued queries (warehouses) or in-flight requests (served entities).",
	}, []string{"kind", "namespace", "name", "served_entity"})

	// Decisions counts the autoscaler's changes of the desired count, by direction.
	Decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "serverlessplane_autoscaler_decisions_total",
		Help: "Changes of the desired count decided by the autoscaler, by direction (up, down).",
	}, []string{"kind", "namespace", "name", "served_entity", "direction"})

	// QuotaDBU is the regional serverless quota: used, free and the limit, in DBU/h.
	QuotaDBU = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "serverlessplane_regional_quota_dbu",
		Help: "Regional serverless quota in DBU/h, by state (used, free, limit).",
	}, []string{"region", "state"})

	// Ready is 1 when an object's Ready condition is True, else 0.
	Ready = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "serverlessplane_ready",
		Help: "1 when the object's Ready condition is True, else 0, with the condition's reason.",
	}, []string{"kind", "namespace", "name", "reason"})

	// ReconcileErrors counts failed passes by controller and API error reason.
	ReconcileErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "serverlessplane_reconcile_errors_total",
		Help: "Reconcile passes that failed, by controller and reason (the API status reason, or Other).",
	}, []string{"controller", "reason"})
)

func init() {
	metrics.Registry.MustRegister(WarehouseClusters, EntityReplicas, ObservedLoad, Decisions, QuotaDBU, Ready, ReconcileErrors)
}

// Counts sets current, ready and desired on a gauge vector with the given leading labels.
func Counts(g *prometheus.GaugeVec, current, ready, desired int32, labels ...string) {
	for state, v := range map[string]int32{"current": current, "ready": ready, "desired": desired} {
		g.WithLabelValues(append(labels, state)...).Set(float64(v))
	}
}

// Decision counts a change of a desired count.
func Decision(kind, namespace, name, entity string, before, after int32) {
	switch {
	case after > before:
		Decisions.WithLabelValues(kind, namespace, name, entity, "up").Inc()
	case after < before:
		Decisions.WithLabelValues(kind, namespace, name, entity, "down").Inc()
	}
}

// readyReasons remembers the reason each object's Ready series carries, so that a pass replaces
// only that one series when the reason changes rather than searching every series.
var readyReasons = struct {
	sync.Mutex
	m map[string]string
}{m: map[string]string{}}

// SetReady records an object's Ready condition, replacing the series of its previous reason.
func SetReady(kind, namespace, name string, conds []metav1.Condition) {
	for _, c := range conds {
		if c.Type != "Ready" {
			continue
		}
		key := kind + "/" + namespace + "/" + name
		readyReasons.Lock()
		if old, ok := readyReasons.m[key]; ok && old != c.Reason {
			Ready.DeleteLabelValues(kind, namespace, name, old)
		}
		readyReasons.m[key] = c.Reason
		readyReasons.Unlock()
		v := 0.0
		if c.Status == metav1.ConditionTrue {
			v = 1
		}
		Ready.WithLabelValues(kind, namespace, name, c.Reason).Set(v)
	}
}

// Forget deletes every series of an object that is gone.
func Forget(kind, namespace, name string) {
	readyReasons.Lock()
	delete(readyReasons.m, kind+"/"+namespace+"/"+name)
	readyReasons.Unlock()
	Ready.DeletePartialMatch(prometheus.Labels{"kind": kind, "namespace": namespace, "name": name})
	ObservedLoad.DeletePartialMatch(prometheus.Labels{"kind": kind, "namespace": namespace, "name": name})
	Decisions.DeletePartialMatch(prometheus.Labels{"kind": kind, "namespace": namespace, "name": name})
	switch kind {
	case "ServerlessWarehouse":
		WarehouseClusters.DeletePartialMatch(prometheus.Labels{"namespace": namespace, "warehouse": name})
	case "ModelEndpoint":
		EntityReplicas.DeletePartialMatch(prometheus.Labels{"namespace": namespace, "endpoint": name})
	}
}

// ForgetEntity deletes the series of a served entity removed from its endpoint.
func ForgetEntity(namespace, endpoint, entity string) {
	for _, state := range []string{"current", "ready", "desired"} {
		EntityReplicas.DeleteLabelValues(namespace, endpoint, entity, state)
	}
	ObservedLoad.DeleteLabelValues("ModelEndpoint", namespace, endpoint, entity)
}

// Quota records a region's quota figures.
func Quota(region string, used, limit int64) {
	QuotaDBU.WithLabelValues(region, "used").Set(float64(used))
	QuotaDBU.WithLabelValues(region, "free").Set(float64(max(limit-used, 0)))
	QuotaDBU.WithLabelValues(region, "limit").Set(float64(limit))
}

// CountErrors wraps a reconciler so that its errors are counted by reason.
func CountErrors(controller string, r reconcile.Reconciler) reconcile.Reconciler {
	return reconcile.Func(func(ctx context.Context, req reconcile.Request) (ctrl.Result, error) {
		res, err := r.Reconcile(ctx, req)
		if err != nil {
			ReconcileErrors.WithLabelValues(controller, reason(err)).Inc()
		}
		return res, err
	})
}

func reason(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		if r := string(status.Status().Reason); r != "" {
			return r
		}
	}
	return "Other"
}
