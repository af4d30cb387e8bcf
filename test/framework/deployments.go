package framework

import (
	"context"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
)

// DeploymentSimulator stands in for kube-controller-manager and the kubelets, which envtest
// does not run: it reports the operator's Deployments as rolled out and ready, except those a
// test holds back, which it reports as failing their progress deadline with the previous pods
// still serving.
type DeploymentSimulator struct {
	Client client.Client

	mu   sync.Mutex
	hold func(*appsv1.Deployment) bool
}

// Hold makes the simulator fail the rollout of the Deployments f selects (nil releases them).
func (s *DeploymentSimulator) Hold(f func(*appsv1.Deployment) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hold = f
}

// Run updates statuses until ctx ends.
func (s *DeploymentSimulator) Run(ctx context.Context) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			s.sync(ctx)
		}
	}
}

func (s *DeploymentSimulator) sync(ctx context.Context) {
	list := &appsv1.DeploymentList{}
	if err := s.Client.List(ctx, list, client.MatchingLabels{computev1.LabelManagedBy: computev1.ManagedByValue}); err != nil {
		return
	}
	s.mu.Lock()
	hold := s.hold
	s.mu.Unlock()
	for i := range list.Items {
		d := &list.Items[i]
		if !d.DeletionTimestamp.IsZero() {
			continue
		}
		want := simulatedStatus(d, hold != nil && hold(d))
		if statusEqual(d.Status, want) {
			continue
		}
		patch := client.MergeFrom(d.DeepCopy())
		d.Status = want
		_ = s.Client.Status().Patch(ctx, d, patch)
	}
}

// simulatedStatus is a rolled-out Deployment, or one whose new pods never become ready: the
// previous ready pods keep serving and the rollout exceeds its progress deadline.
func simulatedStatus(d *appsv1.Deployment, held bool) appsv1.DeploymentStatus {
	replicas := ptr.Deref(d.Spec.Replicas, 1)
	if !held {
		return appsv1.DeploymentStatus{
			ObservedGeneration: d.Generation, Replicas: replicas, UpdatedReplicas: replicas,
			ReadyReplicas: replicas, AvailableReplicas: replicas,
			Conditions: []appsv1.DeploymentCondition{
				{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable"},
				{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable"},
			},
		}
	}
	ready := d.Status.ReadyReplicas
	if d.Status.ObservedGeneration == 0 {
		ready = 0
	}
	return appsv1.DeploymentStatus{
		ObservedGeneration: d.Generation, Replicas: ready + 1, UpdatedReplicas: 1,
		ReadyReplicas: ready, AvailableReplicas: ready, UnavailableReplicas: 1,
		Conditions: []appsv1.DeploymentCondition{
			{Type: appsv1.DeploymentAvailable, Status: boolCondition(ready >= replicas), Reason: "MinimumReplicasAvailable"},
			{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded",
				Message: "ReplicaSet has timed out progressing."},
		},
	}
}

func boolCondition(b bool) corev1.ConditionStatus {
	if b {
		return corev1.ConditionTrue
	}
	return corev1.ConditionFalse
}

func statusEqual(a, b appsv1.DeploymentStatus) bool {
	if a.ObservedGeneration != b.ObservedGeneration || a.Replicas != b.Replicas || a.UpdatedReplicas != b.UpdatedReplicas ||
		a.ReadyReplicas != b.ReadyReplicas || a.AvailableReplicas != b.AvailableReplicas || len(a.Conditions) != len(b.Conditions) {
		return false
	}
	for i := range a.Conditions {
		if a.Conditions[i].Type != b.Conditions[i].Type || a.Conditions[i].Status != b.Conditions[i].Status ||
			a.Conditions[i].Reason != b.Conditions[i].Reason {
			return false
		}
	}
	return true
}
