package warehouse

import (
	"context"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/internal/activation"
	"github.com/serverlessplane/operator/internal/pods"
	"github.com/serverlessplane/operator/internal/scalestate"
	"github.com/serverlessplane/operator/internal/telemetry"
	"github.com/serverlessplane/operator/pkg/autoscaler"
	"github.com/serverlessplane/operator/pkg/metrics"
	"github.com/serverlessplane/operator/pkg/quota"
)

// decide asks the autoscaler how many clusters the warehouse wants, then how many the regional
// quota lets it have.
func (r *Reconciler) decide(ctx context.Context, wh *computev1.ServerlessWarehouse, region *configv1.Region, size *configv1.ClusterSizeSpec, deployments []appsv1.Deployment, clusters []cluster, obs *observation) error {
	now := r.Clock.Now()
	p := r.policy(wh)
	init := func() *autoscaler.State {
		// A warehouse counts as active when the operator starts tracking it (on creation or
		// after a restart), unless its status remembers a later activity.
		last := now
		if wh.Status.LastActiveTime != nil {
			last = wh.Status.LastActiveTime.Time
		}
		return &autoscaler.State{LastActive: last}
	}
	sample := r.sample(wh, obs.load, now)
	active, ready := activeClusters(clusters)
	base := dbuOf(r.Config, deployments)
	var limitErr error
	limit := func(d autoscaler.Decision) autoscaler.Decision {
		obs.wanted = d.Desired
		est, err := r.Quota.Estimate(ctx, region, quota.Key(wh.Namespace, wh.Name), base, size.DBUPerHour, max(d.Desired-active, 0))
		if err != nil {
			limitErr = err
			return d.Capped(active, active)
		}
		telemetry.Quota(region.Name, est.Used, region.ServerlessQuotaDBU)
		capped := d.Capped(active+est.Fit, active)
		if capped.Desired < d.Desired {
			obs.quota = &quotaBlock{Region: region.Name, Used: est.Others + base,
				Requested: int64(d.Desired-active) * size.DBUPerHour, Quota: region.ServerlessQuotaDBU}
		}
		return capped
	}
	d, st := r.states.Pass(stateKey(wh), p, init, sample, autoscaler.Input{Now: now, Current: active, Ready: ready, Cap: -1}, limit)
	if limitErr != nil {
		return limitErr
	}
	obs.lastActive = st.LastActive
	obs.decision, obs.desired = &d, d.Desired
	return nil
}

// sample is the pass's load: the running and queued statements the engines report, and the
// statements the gateway queues for a warehouse with no serving cluster, which are load its
// engines cannot report. Nil when there is neither.
func (r *Reconciler) sample(wh *computev1.ServerlessWarehouse, load *metrics.WarehouseLoad, now time.Time) *autoscaler.Sample {
	requested := activation.Requested(wh, activation.Statements, now, activationWindow)
	if load == nil && !requested {
		return nil
	}
	var running, queued float64
	var wait time.Duration
	if load != nil {
		running, queued = load.Total()
		wait = load.QueueWait
	}
	total := running + queued
	if requested {
		total = max(total, 1)
	}
	return &autoscaler.Sample{Time: now, Load: total, QueueWait: wait}
}

// activeClusters counts the clusters that are not draining, and the ready ones among them.
func activeClusters(clusters []cluster) (active, ready int32) {
	for _, c := range clusters {
		if !c.draining() {
			active++
			if c.Ready {
				ready++
			}
		}
	}
	return active, ready
}

// target is what the metrics source reads: the warehouse's ready pods with their clusters.
func (r *Reconciler) target(ctx context.Context, wh *computev1.ServerlessWarehouse) metrics.Target {
	return metrics.Target{Namespace: wh.Namespace, Name: wh.Name,
		Pods: pods.Targets(ctx, r.Client, wh.Namespace, client.MatchingLabels{computev1.LabelWarehouse: wh.Name})}
}

// policy is the warehouse's autoscaling policy: clusters scale on running plus queued queries,
// stop after autoStopMinutes idle, and a long queue wait adds a cluster.
func (r *Reconciler) policy(wh *computev1.ServerlessWarehouse) autoscaler.Policy {
	p := scalestate.BasePolicy(&r.Config.Autoscaling)
	stop := autoStop(wh)
	p.Min, p.Max = wh.Spec.MinClusters, wh.Spec.MaxClusters
	p.TargetPerReplica = float64(r.Config.Warehouses.TargetQueriesPerCluster)
	p.ScaleToZero, p.IdleGrace = stop > 0, stop
	p.QueueWaitThreshold = r.Config.Warehouses.QueueWaitThreshold.Duration
	return p
}

func autoStop(wh *computev1.ServerlessWarehouse) time.Duration {
	if wh.Spec.AutoStopMinutes == nil {
		return 10 * time.Minute
	}
	return time.Duration(*wh.Spec.AutoStopMinutes) * time.Minute
}

func stateKey(wh *computev1.ServerlessWarehouse) string {
	return wh.Namespace + "/" + wh.Name + "/" + string(wh.UID) + "/"
}
