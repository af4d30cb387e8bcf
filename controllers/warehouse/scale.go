package warehouse

import (
	"context"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/pkg/quota"
)

// scale plans the clusters, reserves quota for new ones, applies the plan and settles the
// warehouse's allocation to what remains.
func (r *Reconciler) scale(ctx context.Context, wh *computev1.ServerlessWarehouse, region *configv1.Region, size *configv1.ClusterSizeSpec, deployments []appsv1.Deployment, clusters []cluster, obs *observation) error {
	byID := map[string]*appsv1.Deployment{}
	for i := range clusters {
		byID[clusters[i].ID] = &deployments[i]
	}
	desired := obs.desired
	if obs.stalledReason != "" {
		desired = 0
	}
	var tmpl corev1.PodTemplateSpec
	var hash string
	if size != nil {
		tmpl = podTemplate(wh, r.Config, size)
		hash = templateHash(tmpl, size.Workers)
	}
	p := planClusters(planInput{Clusters: clusters, Desired: desired, Hash: hash, Now: r.Clock.Now(), DrainGrace: r.Config.Warehouses.DrainGracePeriod.Duration})
	if len(p.Delete)+len(p.Drain)+len(p.Restore) > 0 || p.Create > 0 {
		log.FromContext(ctx).V(1).Info("cluster plan", "clusters", clusters, "desired", desired, "plan", p)
	}

	if p.Create > 0 && region != nil {
		// A warehouse below its minimum starts with all of it or waits: two warehouses half
		// started would each hold capacity the other needs.
		atLeast := min(p.Create, max(wh.Spec.MinClusters-int32(len(deployments)), 0))
		granted, used, err := r.Quota.Reserve(ctx, region, quota.Key(wh.Namespace, wh.Name), dbuOf(r.Config, deployments), size.DBUPerHour, p.Create, atLeast)
		if err != nil {
			return err
		}
		if granted < p.Create {
			obs.quota = &quotaBlock{Region: region.Name, Used: used, Requested: int64(p.Create) * size.DBUPerHour,
				Quota: region.ServerlessQuotaDBU, Rolling: hasOutdated(clusters, hash)}
		}
		p.Create = granted
	}
	if err := r.applyPlan(ctx, wh, p, byID, tmpl, hash, size); err != nil {
		return err
	}

	deleted := map[string]bool{}
	for _, id := range p.Delete {
		deleted[id] = true
	}
	var remaining []appsv1.Deployment
	for _, d := range deployments {
		if !deleted[d.Labels[computev1.LabelCluster]] {
			remaining = append(remaining, d)
		}
	}
	for _, c := range clusters {
		if !deleted[c.ID] {
			obs.clusters++
			if c.Ready && !c.draining() {
				obs.ready++
			}
		}
	}
	obs.clusters += p.Create
	if region == nil {
		return nil
	}
	held := dbuOf(r.Config, remaining)
	if p.Create > 0 {
		held += int64(p.Create) * size.DBUPerHour
	}
	return r.Quota.Settle(ctx, region, quota.Key(wh.Namespace, wh.Name), held)
}

// applyPlan carries out a plan: restore, drain, delete, create.
func (r *Reconciler) applyPlan(ctx context.Context, wh *computev1.ServerlessWarehouse, p plan, byID map[string]*appsv1.Deployment, tmpl corev1.PodTemplateSpec, hash string, size *configv1.ClusterSizeSpec) error {
	for _, id := range p.Restore {
		if err := r.setServing(ctx, wh, byID[id], true); err != nil {
			return err
		}
		r.Recorder.Eventf(wh, nil, corev1.EventTypeNormal, "ClusterRestored", "Scale", "cluster %s is back in service", id)
	}
	for _, id := range p.Drain {
		if err := r.setServing(ctx, wh, byID[id], false); err != nil {
			return err
		}
		r.Recorder.Eventf(wh, nil, corev1.EventTypeNormal, "ClusterDraining", "Scale", "cluster %s is draining before removal", id)
	}
	for _, id := range p.Delete {
		if err := r.Client.Delete(ctx, byID[id], client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
			return err
		}
		r.Recorder.Eventf(wh, nil, corev1.EventTypeNormal, "ClusterRemoved", "Scale", "removed cluster %s", id)
	}
	changed := map[string]bool{}
	for _, ids := range [][]string{p.Restore, p.Drain, p.Delete} {
		for _, id := range ids {
			changed[id] = true
		}
	}
	for id, d := range byID {
		if !changed[id] {
			if err := r.syncServing(ctx, wh, d); err != nil {
				return err
			}
		}
	}
	if p.Create == 0 {
		return nil
	}
	taken := map[string]bool{}
	for id := range byID {
		taken[id] = true
	}
	for _, id := range nextClusterIDs(hash, taken, p.Create) {
		if err := r.applier.ApplyOwned(ctx, wh, clusterDeployment(wh, tmpl, hash, id, size)); err != nil {
			return err
		}
		r.Recorder.Eventf(wh, nil, corev1.EventTypeNormal, "ClusterAdded", "Scale", "added cluster %s (%s, %d workers)", id, wh.Spec.ClusterSize, size.Workers)
	}
	return nil
}

// setServing takes a cluster out of the warehouse Service (or puts it back): it records the
// drain's start on the Deployment (or removes it) first, then labels the pods to match. The
// Deployment is the record: a pass that stops between the two writes leaves pods that
// syncServing puts right on the next one.
func (r *Reconciler) setServing(ctx context.Context, wh *computev1.ServerlessWarehouse, d *appsv1.Deployment, serving bool) error {
	patch := client.MergeFrom(d.DeepCopy())
	if serving {
		delete(d.Annotations, AnnotationDrainingSince)
	} else {
		if d.Annotations == nil {
			d.Annotations = map[string]string{}
		}
		d.Annotations[AnnotationDrainingSince] = r.Clock.Now().UTC().Format(time.RFC3339)
	}
	if err := r.Client.Patch(ctx, d, patch); err != nil {
		return err
	}
	return r.syncServing(ctx, wh, d)
}

// syncServing labels a cluster's pods as its Deployment says: in the warehouse Service unless
// the Deployment records a drain. Every pass runs it for every cluster it keeps, so pods left
// behind by an interrupted drain or restore, or started by a draining Deployment, are put right.
func (r *Reconciler) syncServing(ctx context.Context, wh *computev1.ServerlessWarehouse, d *appsv1.Deployment) error {
	pods := &corev1.PodList{}
	if err := r.Client.List(ctx, pods, client.InNamespace(wh.Namespace), client.MatchingLabels{
		computev1.LabelWarehouse: wh.Name, computev1.LabelCluster: d.Labels[computev1.LabelCluster],
	}); err != nil {
		return err
	}
	value := "true"
	if _, draining := d.Annotations[AnnotationDrainingSince]; draining {
		value = "false"
	}
	for i := range pods.Items {
		pod := &pods.Items[i]
		if pod.Labels[LabelServing] == value || !pod.DeletionTimestamp.IsZero() {
			continue
		}
		patch := client.MergeFrom(pod.DeepCopy())
		pod.Labels[LabelServing] = value
		if err := r.Client.Patch(ctx, pod, patch); client.IgnoreNotFound(err) != nil {
			return err
		}
	}
	return nil
}

func hasOutdated(cs []cluster, hash string) bool {
	for _, c := range cs {
		if c.Hash != hash && !c.draining() {
			return true
		}
	}
	return false
}
