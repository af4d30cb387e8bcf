package modelendpoint

import (
	corev1 "k8s.io/api/core/v1"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/internal/telemetry"
)

// recordMetrics exports what a pass wrote to status: readiness and, per served entity, its
// replicas, load and replica decision; the series of entities that left go.
func recordMetrics(before, ep *computev1.ModelEndpoint) {
	telemetry.SetReady("ModelEndpoint", ep.Namespace, ep.Name, ep.Status.Conditions)
	for _, old := range before.Status.ServedEntities {
		if previousEntity(ep, old.Name) == nil {
			telemetry.ForgetEntity(ep.Namespace, ep.Name, old.Name)
		}
	}
	for _, es := range ep.Status.ServedEntities {
		telemetry.Counts(telemetry.EntityReplicas, es.Replicas, es.ReadyReplicas, es.DesiredReplicas, ep.Namespace, ep.Name, es.Name)
		if es.InFlightRequests != nil {
			telemetry.ObservedLoad.WithLabelValues("ModelEndpoint", ep.Namespace, ep.Name, es.Name).Set(float64(*es.InFlightRequests))
		}
		if old := previousEntity(before, es.Name); old != nil {
			telemetry.Decision("ModelEndpoint", ep.Namespace, ep.Name, es.Name, old.DesiredReplicas, es.DesiredReplicas)
		}
	}
}

// recordScaling emits the events of a pass that a user follows: a replica count that changed,
// and a config update that finished rolling out.
func (r *Reconciler) recordScaling(before, ep *computev1.ModelEndpoint) {
	for _, es := range ep.Status.ServedEntities {
		old := previousEntity(before, es.Name)
		if old != nil && old.DesiredReplicas != es.DesiredReplicas && es.Autoscaling != nil {
			r.Recorder.Eventf(ep, nil, corev1.EventTypeNormal, "Autoscaled", "Scale", "served entity %s: desired replicas %d -> %d: %s",
				es.Name, old.DesiredReplicas, es.DesiredReplicas, es.Autoscaling.Reason)
		}
	}
	if before.Status.State.ConfigUpdate != ep.Status.State.ConfigUpdate && ep.Status.State.ConfigUpdate == computev1.ConfigNotUpdating &&
		before.Status.State.ConfigUpdate != "" {
		r.Recorder.Eventf(ep, nil, corev1.EventTypeNormal, "ConfigUpdated", "Rollout", "config update rolled out")
	}
}
