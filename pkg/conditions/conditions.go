// Package conditions sets metav1.Conditions with the operator's clock, so transition times are
// testable, and summarizes them the way kstatus reads them.
package conditions

import (
	"errors"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
)

// MaxMessage is the longest condition message the API accepts.
const MaxMessage = 32768

// Set sets a condition; its transition time changes only when its status does. A message
// longer than the API accepts is truncated: a list of names must not make the status write fail.
func Set(conds *[]metav1.Condition, typ string, status metav1.ConditionStatus, reason, message string, generation int64, now time.Time) {
	meta.SetStatusCondition(conds, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: Truncate(message, MaxMessage),
		ObservedGeneration: generation, LastTransitionTime: metav1.NewTime(now.Truncate(time.Second)),
	})
}

// Truncate shortens a message to at most n bytes, for status fields with a maximum length.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// ConditionMetricsAvailable says whether the autoscaler can read an object's load.
const ConditionMetricsAvailable = "MetricsAvailable"

// Reasons of ConditionMetricsAvailable.
const (
	ReasonMetricsAvailable    = "MetricsAvailable"
	ReasonMetricsUnavailable  = "MetricsUnavailable"
	ReasonAutoscalingDisabled = "AutoscalingDisabled"
)

// Metrics sets MetricsAvailable: False with the failure when the load cannot be read (the
// count is held), False when load-based scaling is off, True otherwise.
func Metrics(conds *[]metav1.Condition, disabled bool, failure string, generation int64, now time.Time) {
	switch {
	case disabled:
		Set(conds, ConditionMetricsAvailable, metav1.ConditionFalse, ReasonAutoscalingDisabled,
			"metrics.source is None: counts stay at their minimum and nothing stops or scales to zero on its own", generation, now)
	case failure != "":
		Set(conds, ConditionMetricsAvailable, metav1.ConditionFalse, ReasonMetricsUnavailable,
			Truncate("cannot read the load, so the count is held: "+failure, 1024), generation, now)
	default:
		Set(conds, ConditionMetricsAvailable, metav1.ConditionTrue, ReasonMetricsAvailable, "load is read", generation, now)
	}
}

// Summary is the Ready, Reconciling and Stalled conditions of one pass, which every kind sets
// together so that kstatus reads them consistently.
type Summary struct {
	// Ready says whether the object does what its spec asks.
	Ready bool
	// Reason and Message explain the state; they go on every condition that is True, and on
	// Ready when it is False.
	Reason, Message string
	// Stalled means the user must change something; Reconciling means the operator is still
	// working (and will requeue). At most one is set.
	Stalled, Reconciling bool
}

// Apply writes s as the Ready, Reconciling and Stalled conditions.
func Apply(conds *[]metav1.Condition, s Summary, generation int64, now time.Time) {
	ready := metav1.ConditionFalse
	if s.Ready {
		ready = metav1.ConditionTrue
	}
	Set(conds, computev1.ConditionReady, ready, s.Reason, s.Message, generation, now)
	if s.Stalled {
		Set(conds, computev1.ConditionStalled, metav1.ConditionTrue, s.Reason, s.Message, generation, now)
	} else {
		meta.RemoveStatusCondition(conds, computev1.ConditionStalled)
	}
	if s.Reconciling {
		Set(conds, computev1.ConditionReconciling, metav1.ConditionTrue, s.Reason, s.Message, generation, now)
	} else {
		meta.RemoveStatusCondition(conds, computev1.ConditionReconciling)
	}
}

// ReasonReconcileError is the reason of Ready and Reconciling after a pass that failed.
const ReasonReconcileError = "ReconcileError"

// StalledError is an error the user must act on: a pass that ends in one is Stalled with the
// error's reason, and is still retried, so it recovers once the user has acted.
type StalledError interface {
	error
	StalledReason() string
}

// Failed records a pass that ended in err: Ready False and Reconciling True, both naming the
// error, which the operator retries; Stalled is removed (a retried error is not the user's to
// fix, and what is has its own Stalled reason). An err that is, or wraps, a StalledError is
// Stalled with its reason instead.
func Failed(conds *[]metav1.Condition, err error, generation int64, now time.Time) {
	var stalled StalledError
	if errors.As(err, &stalled) {
		Apply(conds, Summary{Stalled: true, Reason: stalled.StalledReason(), Message: Truncate(stalled.Error(), 1024)}, generation, now)
		return
	}
	Apply(conds, Summary{Reconciling: true, Reason: ReasonReconcileError,
		Message: Truncate("the last pass failed and is retried: "+err.Error(), 1024)}, generation, now)
}
