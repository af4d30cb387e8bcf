// Package pods reads the workload pods a metrics source scrapes.
package pods

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/pkg/metrics"
)

// Ready reports whether a pod's Ready condition is True.
func Ready(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Targets lists the ready pods matching labels in namespace, with their IP and their warehouse
// cluster (if any), for the metrics source. A listing error yields no pods: the source then
// reports no data, and the autoscaler holds the count.
func Targets(ctx context.Context, c client.Reader, namespace string, labels client.MatchingLabels) []metrics.Pod {
	list := &corev1.PodList{}
	if err := c.List(ctx, list, client.InNamespace(namespace), labels); err != nil {
		return nil
	}
	var out []metrics.Pod
	for i := range list.Items {
		p := &list.Items[i]
		if p.Status.PodIP != "" && p.DeletionTimestamp.IsZero() && Ready(p) {
			out = append(out, metrics.Pod{Name: p.Name, IP: p.Status.PodIP, Cluster: p.Labels[computev1.LabelCluster]})
		}
	}
	return out
}
