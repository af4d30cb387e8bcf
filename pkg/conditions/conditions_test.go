package conditions

import (
	"errors"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
)

func TestFailed(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	var conds []metav1.Condition
	Apply(&conds, Summary{Stalled: true, Reason: "Old", Message: "user must act"}, 1, now)
	Failed(&conds, errors.New(strings.Repeat("x", 2000)), 2, now.Add(time.Minute))

	ready := meta.FindStatusCondition(conds, computev1.ConditionReady)
	reconciling := meta.FindStatusCondition(conds, computev1.ConditionReconciling)
	switch {
	case ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != ReasonReconcileError:
		t.Fatalf("Ready = %+v, want False %s", ready, ReasonReconcileError)
	case reconciling == nil || reconciling.Status != metav1.ConditionTrue || reconciling.Reason != ReasonReconcileError:
		t.Fatalf("Reconciling = %+v, want True %s", reconciling, ReasonReconcileError)
	case meta.FindStatusCondition(conds, computev1.ConditionStalled) != nil:
		t.Fatal("Stalled stays after a failed pass; a retried error is not the user's to fix")
	case len(ready.Message) > 1024 || !strings.HasPrefix(ready.Message, "the last pass failed and is retried: x"):
		t.Fatalf("message of %d bytes: %.60q...", len(ready.Message), ready.Message)
	case ready.ObservedGeneration != 2:
		t.Fatalf("condition observedGeneration = %d, want 2", ready.ObservedGeneration)
	}
}
