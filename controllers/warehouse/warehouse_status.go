package warehouse

import (
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/pkg/autoscaler"
	"github.com/serverlessplane/operator/pkg/conditions"
	"github.com/serverlessplane/operator/pkg/metrics"
)

// Condition types of warehouses beyond Ready, Reconciling and Stalled.
const (
	// ConditionQuotaExceeded is True while the regional quota holds the warehouse below what it
	// wants; it is removed otherwise.
	ConditionQuotaExceeded = "QuotaExceeded"
)

// Reasons of the warehouse conditions.
const (
	ReasonRunning            = "Running"
	ReasonStarting           = "Starting"
	ReasonStopping           = "Stopping"
	ReasonStopped            = "Stopped"
	ReasonScaling            = "Scaling"
	ReasonQuotaExceeded      = "QuotaExceeded"
	ReasonRequirementsNotMet = "ServerlessRequirementsNotMet"
	// ReasonClusterSizeNotConfigured: spec.clusterSize names no size of the operator's table.
	ReasonClusterSizeNotConfigured = "ClusterSizeNotConfigured"
	ReasonWaitingForWorkspace      = "WaitingForWorkspace"
)

// lastActiveResolution is how finely status.lastActiveTime moves: auto-stop counts minutes, and
// a busy warehouse should not write its status on every tick.
const lastActiveResolution = time.Minute

// quotaBlock is the regional quota holding a warehouse back, with the figures to show.
type quotaBlock struct {
	Region                 string
	Used, Requested, Quota int64
	Rolling                bool
}

// observation is what one pass learned; status is a function of it alone.
type observation struct {
	stalledReason, stalledMessage string
	waiting                       string
	clusters, ready               int32
	minClusters                   int32
	wanted, desired               int32
	decision                      *autoscaler.Decision
	metricsErr                    error
	load                          *metrics.WarehouseLoad
	quota                         *quotaBlock
	lastActive                    time.Time
	endpoint                      string
	deleting                      bool
	autoStop                      time.Duration
}

// computeStatus returns the warehouse status for what a pass observed.
func computeStatus(wh *computev1.ServerlessWarehouse, obs observation, now time.Time) computev1.ServerlessWarehouseStatus {
	st := *wh.Status.DeepCopy()
	st.ObservedGeneration = wh.Generation
	st.Clusters, st.ReadyClusters, st.DesiredClusters = obs.clusters, obs.ready, obs.desired
	st.Endpoint = obs.endpoint
	st.State = state(obs)
	if !obs.lastActive.IsZero() && (st.LastActiveTime == nil || obs.lastActive.Sub(st.LastActiveTime.Time) >= lastActiveResolution) {
		st.LastActiveTime = &metav1.Time{Time: obs.lastActive.Truncate(time.Second)}
	}
	if obs.load != nil {
		running, queued := obs.load.Total()
		l := &computev1.WarehouseLoad{RunningQueries: int32(running), QueuedQueries: int32(queued), QueueWaitSeconds: int32(obs.load.QueueWait.Seconds())}
		if old := st.Load; old == nil || old.RunningQueries != l.RunningQueries || old.QueuedQueries != l.QueuedQueries || old.QueueWaitSeconds != l.QueueWaitSeconds {
			l.ObservedTime = &metav1.Time{Time: now.Truncate(time.Second)}
			st.Load = l
		}
	}
	if obs.decision != nil {
		if st.Autoscaling == nil {
			st.Autoscaling = &computev1.AutoscalingStatus{}
		}
		if wh.Status.DesiredClusters != obs.desired {
			st.Autoscaling.LastScaleTime = &metav1.Time{Time: now.Truncate(time.Second)}
		}
		if st.Autoscaling.Reason != obs.decision.Reason && !obs.decision.NoData {
			st.Autoscaling.Reason = conditions.Truncate(obs.decision.Reason, 512)
		}
	}
	metricsCondition(&st.Conditions, obs, wh.Generation, now)
	quotaCondition(&st.Conditions, obs, wh.Generation, now)
	conditions.Apply(&st.Conditions, summarize(wh, obs, st.State), wh.Generation, now)
	return st
}

func state(obs observation) computev1.WarehouseState {
	switch {
	case obs.deleting:
		return computev1.WarehouseDeleting
	case obs.waiting != "":
		return computev1.WarehouseStarting
	case obs.stalledReason != "" && obs.clusters == 0, obs.wanted == 0 && obs.clusters == 0:
		return computev1.WarehouseStopped
	case obs.wanted == 0 || obs.stalledReason != "":
		return computev1.WarehouseStopping
	case obs.ready >= max(1, min(obs.minClusters, obs.desired)) && obs.desired > 0:
		return computev1.WarehouseRunning
	}
	return computev1.WarehouseStarting
}

func summarize(wh *computev1.ServerlessWarehouse, obs observation, s computev1.WarehouseState) conditions.Summary {
	if obs.stalledReason != "" {
		return conditions.Summary{Stalled: true, Reason: obs.stalledReason, Message: obs.stalledMessage}
	}
	if obs.waiting != "" {
		return conditions.Summary{Reconciling: true, Reason: ReasonWaitingForWorkspace, Message: obs.waiting}
	}
	switch s {
	case computev1.WarehouseDeleting:
		return conditions.Summary{Reconciling: true, Reason: ReasonStopping, Message: "deleting: removing clusters and releasing quota"}
	case computev1.WarehouseStopped:
		msg := "stopped: no clusters run; queued queries start the warehouse"
		if obs.autoStop > 0 {
			msg = fmt.Sprintf("stopped after %s without queries; queued queries start it again", obs.autoStop)
		}
		return conditions.Summary{Ready: true, Reason: ReasonStopped, Message: msg}
	case computev1.WarehouseStopping:
		return conditions.Summary{Reconciling: true, Reason: ReasonStopping, Message: fmt.Sprintf("stopping: removing %d clusters", obs.clusters)}
	case computev1.WarehouseStarting:
		if obs.quota != nil && obs.desired == 0 {
			return conditions.Summary{Reconciling: true, Reason: ReasonQuotaExceeded, Message: quotaMessage(obs.quota) +
				"; the warehouse starts when capacity frees"}
		}
		return conditions.Summary{Reconciling: true, Reason: ReasonStarting, Message: fmt.Sprintf(
			"starting: %d of %d clusters ready", obs.ready, max(obs.desired, 1))}
	}
	msg := fmt.Sprintf("%d of %d clusters ready (%s, %d-%d)", obs.ready, obs.desired, wh.Spec.ClusterSize, wh.Spec.MinClusters, wh.Spec.MaxClusters)
	if obs.clusters != obs.desired || obs.ready != obs.desired {
		return conditions.Summary{Ready: true, Reconciling: true, Reason: ReasonScaling, Message: "running, scaling: " + msg}
	}
	return conditions.Summary{Ready: true, Reason: ReasonRunning, Message: "running: " + msg}
}

func metricsCondition(conds *[]metav1.Condition, obs observation, gen int64, now time.Time) {
	if obs.decision == nil {
		meta.RemoveStatusCondition(conds, conditions.ConditionMetricsAvailable)
		return
	}
	failure := ""
	if obs.metricsErr != nil {
		failure = obs.metricsErr.Error()
	}
	conditions.Metrics(conds, errors.Is(obs.metricsErr, metrics.ErrDisabled), failure, gen, now)
}

func quotaCondition(conds *[]metav1.Condition, obs observation, gen int64, now time.Time) {
	if obs.quota == nil {
		meta.RemoveStatusCondition(conds, ConditionQuotaExceeded)
		return
	}
	conditions.Set(conds, ConditionQuotaExceeded, metav1.ConditionTrue, ReasonQuotaExceeded, quotaMessage(obs.quota), gen, now)
}

func quotaMessage(q *quotaBlock) string {
	what := "more clusters"
	if q.Rolling {
		what = "a cluster for the rolling update"
	}
	return fmt.Sprintf("regional serverless quota of %s exceeded: %d DBU/h used, %d DBU/h requested for %s, quota %d DBU/h; nothing is stopped, and this warehouse proceeds when capacity frees",
		q.Region, q.Used, q.Requested, what, q.Quota)
}
