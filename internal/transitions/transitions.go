// Package transitions turns condition changes into events, so that `kubectl describe` and
// `kubectl get events` tell what changed and why.
package transitions

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"

	corev1 "k8s.io/api/core/v1"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/pkg/conditions"
)

// Record emits one event when the Ready condition's status or reason changed between before
// and after: Warning when the object is Stalled (the user must act) or a pass failed, Normal
// otherwise.
func Record(rec events.EventRecorder, obj runtime.Object, before, after []metav1.Condition) {
	now := meta.FindStatusCondition(after, computev1.ConditionReady)
	if now == nil {
		return
	}
	if was := meta.FindStatusCondition(before, computev1.ConditionReady); was != nil && was.Status == now.Status && was.Reason == now.Reason {
		return
	}
	typ := corev1.EventTypeNormal
	if meta.IsStatusConditionTrue(after, computev1.ConditionStalled) || now.Reason == conditions.ReasonReconcileError {
		typ = corev1.EventTypeWarning
	}
	rec.Eventf(obj, nil, typ, now.Reason, "Reconcile", "%s", now.Message)
}
