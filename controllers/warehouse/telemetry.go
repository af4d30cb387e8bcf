package warehouse

import (
	corev1 "k8s.io/api/core/v1"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/internal/telemetry"
	"github.com/serverlessplane/operator/internal/transitions"
)

func (r *Reconciler) recordMetrics(before, wh *computev1.ServerlessWarehouse, obs observation) {
	st := wh.Status
	telemetry.Counts(telemetry.WarehouseClusters, st.Clusters, st.ReadyClusters, st.DesiredClusters, wh.Namespace, wh.Name)
	telemetry.SetReady("ServerlessWarehouse", wh.Namespace, wh.Name, st.Conditions)
	if obs.load != nil {
		running, queued := obs.load.Total()
		telemetry.ObservedLoad.WithLabelValues("ServerlessWarehouse", wh.Namespace, wh.Name, "").Set(running + queued)
	}
	if obs.decision != nil {
		telemetry.Decision("ServerlessWarehouse", wh.Namespace, wh.Name, "", before.Status.DesiredClusters, st.DesiredClusters)
	}
}

func (r *Reconciler) recordEvents(before, wh *computev1.ServerlessWarehouse, obs observation) {
	transitions.Record(r.Recorder, wh, before.Status.Conditions, wh.Status.Conditions)
	if before.Status.DesiredClusters != wh.Status.DesiredClusters && obs.decision != nil {
		r.Recorder.Eventf(wh, nil, corev1.EventTypeNormal, "Autoscaled", "Scale", "desired clusters %d -> %d: %s",
			before.Status.DesiredClusters, wh.Status.DesiredClusters, obs.decision.Reason)
	}
}
