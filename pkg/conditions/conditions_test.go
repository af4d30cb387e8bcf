package conditions

import (
	"errors"
	"fmt"
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

type nameTaken struct{}

func (nameTaken) Error() string         { return "Service x is someone else's" }
func (nameTaken) StalledReason() string { return "NameConflict" }

func TestFailedWithAStalledError(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	var conds []metav1.Condition
	Failed(&conds, fmt.Errorf("applying: %w", nameTaken{}), 1, now)

	ready := meta.FindStatusCondition(conds, computev1.ConditionReady)
	stalled := meta.FindStatusCondition(conds, computev1.ConditionStalled)
	switch {
	case ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != "NameConflict" || ready.Message != "Service x is someone else's":
		t.Fatalf("Ready = %+v, want False NameConflict with the error's own message", ready)
	case stalled == nil || stalled.Status != metav1.ConditionTrue || stalled.Reason != "NameConflict":
		t.Fatalf("Stalled = %+v, want True NameConflict", stalled)
	case meta.FindStatusCondition(conds, computev1.ConditionReconciling) != nil:
		t.Fatal("Reconciling is set: a stalled pass waits for the user, kstatus must read Failed")
	}
}
