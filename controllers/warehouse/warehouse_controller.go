// Package warehouse reconciles ServerlessWarehouses: it places their clusters in the workspace
// namespace, scales them on load within the regional quota, stops them when idle and starts
// them again when queries queue.
package warehouse

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/internal/activation"
	"github.com/serverlessplane/operator/internal/apply"
	"github.com/serverlessplane/operator/internal/indexes"
	"github.com/serverlessplane/operator/internal/pods"
	"github.com/serverlessplane/operator/internal/scalestate"
	"github.com/serverlessplane/operator/internal/servingcert"
	"github.com/serverlessplane/operator/internal/telemetry"
	"github.com/serverlessplane/operator/internal/transitions"
	"github.com/serverlessplane/operator/internal/workspaceref"
	"github.com/serverlessplane/operator/pkg/autoscaler"
	"github.com/serverlessplane/operator/pkg/certs"
	"github.com/serverlessplane/operator/pkg/metrics"
	"github.com/serverlessplane/operator/pkg/naming"
	"github.com/serverlessplane/operator/pkg/netpolicy"
	"github.com/serverlessplane/operator/pkg/quota"
)

// Finalizer releases a warehouse's share of the regional quota once its clusters are gone:
// garbage collection cannot update the ledger.
const Finalizer = "compute.serverlessplane.io/quota"

// activationWindow is how long the gateway's note of queued statements counts as load; it
// renews the note every few seconds while they wait.
const activationWindow = 30 * time.Second

// zeroPoll is how often a stopped warehouse looks for queued queries, so that queries arriving
// at zero clusters start it at once rather than at the next autoscaling tick.
const zeroPoll = 2 * time.Second

// Reconciler reconciles ServerlessWarehouses.
type Reconciler struct {
	Client   client.Client
	Config   *configv1.OperatorConfig
	Clock    clock.PassiveClock
	Recorder events.EventRecorder
	Metrics  metrics.Source
	Ledger   *Ledger
	// CA signs the engines' serving certificates.
	CA interface {
		Ensure(ctx context.Context) (certs.Authority, error)
	}
	// MaxConcurrentReconciles lets several warehouses reconcile at once; the ledger keeps the
	// quota consistent between them.
	MaxConcurrentReconciles int

	applier *apply.Applier
	states  scalestate.Store
}

// +kubebuilder:rbac:groups=compute.serverlessplane.io,resources=serverlesswarehouses,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=compute.serverlessplane.io,resources=serverlesswarehouses/status,verbs=get;patch;update
// +kubebuilder:rbac:groups=compute.serverlessplane.io,resources=serverlesswarehouses/finalizers,verbs=update
// +kubebuilder:rbac:groups=compute.serverlessplane.io,resources=workspaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update

// Reconcile brings one warehouse to its spec and its load.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (ctrl.Result, error) {
	wh := &computev1.ServerlessWarehouse{}
	if err := r.Client.Get(ctx, req.NamespacedName, wh); err != nil {
		if apierrors.IsNotFound(err) {
			// Gone without the finalizer's pass (someone removed the finalizer): its scaler
			// state and series must not stay in memory.
			r.states.Forget(req.Namespace + "/" + req.Name + "/")
			telemetry.Forget("ServerlessWarehouse", req.Namespace, req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !wh.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, wh)
	}
	if !controllerutil.ContainsFinalizer(wh, Finalizer) {
		controllerutil.AddFinalizer(wh, Finalizer)
		return ctrl.Result{}, r.Client.Update(ctx, wh)
	}
	before := wh.DeepCopy()
	obs, err := r.reconcile(ctx, wh)
	if err != nil {
		failed := before.DeepCopy()
		err = apply.PatchFailedStatus(ctx, r.Client, before, failed, &failed.Status.Conditions, err, r.Clock.Now())
		transitions.Record(r.Recorder, failed, before.Status.Conditions, failed.Status.Conditions)
		return ctrl.Result{}, err
	}
	wh.Status = computeStatus(wh, obs, r.Clock.Now())
	if _, err := apply.PatchStatus(ctx, r.Client, before, wh); err != nil {
		return ctrl.Result{}, err
	}
	r.recordEvents(before, wh, obs)
	r.recordMetrics(before, wh, obs)
	return r.requeue(obs), nil
}

// reconcile runs the named steps of a pass and returns what it observed.
func (r *Reconciler) reconcile(ctx context.Context, wh *computev1.ServerlessWarehouse) (observation, error) {
	obs := observation{minClusters: wh.Spec.MinClusters, autoStop: autoStop(wh)}
	region, size, err := r.checkRequirements(ctx, wh, &obs)
	if err != nil {
		return obs, err
	}
	deployments, err := r.clusters(ctx, wh)
	if err != nil {
		return obs, err
	}
	if obs.stalledReason == "" && obs.waiting == "" {
		load, err := r.Metrics.Warehouse(ctx, r.target(ctx, wh))
		if obs.metricsErr = err; err == nil {
			obs.load = &load
		}
	}
	clusters := observeClusters(deployments, obs.load)
	if obs.stalledReason == "" && obs.waiting == "" {
		if err := r.decide(ctx, wh, region, size, deployments, clusters, &obs); err != nil {
			return obs, err
		}
	}
	if obs.waiting != "" {
		return obs, nil
	}
	if obs.stalledReason == "" {
		// The engines mount their certificate: it exists before their first pod does.
		if err := r.ensureCertificate(ctx, wh); err != nil {
			return obs, err
		}
	}
	if err := r.scale(ctx, wh, region, size, deployments, clusters, &obs); err != nil {
		return obs, err
	}
	if obs.stalledReason != "" {
		return obs, nil
	}
	obs.endpoint, err = r.applyService(ctx, wh)
	return obs, err
}

// checkRequirements checks that the warehouse is in a workspace namespace and that the
// workspace meets the serverless requirements: a region with serverless support and a
// metastore other than an external Hive metastore.
func (r *Reconciler) checkRequirements(ctx context.Context, wh *computev1.ServerlessWarehouse, obs *observation) (*configv1.Region, *configv1.ClusterSizeSpec, error) {
	ref, err := workspaceref.Resolve(ctx, r.Client, r.Config, wh.Namespace)
	if err != nil || ref.Waiting != "" || ref.Stalled != "" {
		obs.waiting = ref.Waiting
		if ref.Stalled != "" {
			obs.stalledReason, obs.stalledMessage = workspaceref.ReasonNotInWorkspace, ref.Stalled
		}
		return nil, nil, err
	}
	ws, region := ref.Workspace, ref.Region
	size, ok := r.Config.ClusterSize(string(wh.Spec.ClusterSize))
	switch {
	case !ok:
		obs.stalledReason = ReasonClusterSizeNotConfigured
		obs.stalledMessage = fmt.Sprintf("spec.clusterSize %q is not a cluster size of the operator configuration (%s); nothing is placed and running clusters are stopped. Set spec.clusterSize to one of those, or add it to the configuration's warehouses.clusterSizes",
			wh.Spec.ClusterSize, sortedIDs(r.Config.ClusterSizeNames()))
	case !region.Serverless:
		obs.stalledReason = ReasonRequirementsNotMet
		obs.stalledMessage = fmt.Sprintf("region %s does not support serverless SQL warehouses; nothing is placed. Use a workspace in a region that does (%s)",
			region.Name, serverlessRegions(r.Config))
	case ws.Spec.Metastore.Type == computev1.MetastoreExternalHive:
		obs.stalledReason = ReasonRequirementsNotMet
		obs.stalledMessage = fmt.Sprintf("workspace %q uses an external Hive metastore, which serverless SQL warehouses do not support; nothing is placed. Set the workspace's spec.metastore.type to UnityCatalog or Glue",
			ws.Name)
	}
	return region, size, nil
}

// decide asks the autoscaler how many clusters the warehouse wants, then how many the regional
// quota lets it have.
func (r *Reconciler) decide(ctx context.Context, wh *computev1.ServerlessWarehouse, region *configv1.Region, size *configv1.ClusterSizeSpec, deployments []appsv1.Deployment, clusters []cluster, obs *observation) error {
	now := r.Clock.Now()
	p := r.policy(wh)
	st := r.states.Get(stateKey(wh), func() *autoscaler.State {
		// A warehouse counts as active when the operator starts tracking it (on creation or
		// after a restart), unless its status remembers a later activity.
		last := now
		if wh.Status.LastActiveTime != nil {
			last = wh.Status.LastActiveTime.Time
		}
		return &autoscaler.State{LastActive: last}
	})
	// Statements the gateway queues for a warehouse with no serving cluster are load its
	// engines cannot report.
	requested := activation.Requested(wh, activation.Statements, now, activationWindow)
	if obs.load != nil || requested {
		var running, queued float64
		var wait time.Duration
		if obs.load != nil {
			running, queued = obs.load.Total()
			wait = obs.load.QueueWait
		}
		load := running + queued
		if requested {
			load = max(load, 1)
		}
		st.Observe(p, autoscaler.Sample{Time: now, Load: load, QueueWait: wait})
	}
	active, ready := int32(0), int32(0)
	for _, c := range clusters {
		if !c.draining() {
			active++
			if c.Ready {
				ready++
			}
		}
	}
	d := autoscaler.Decide(p, st, autoscaler.Input{Now: now, Current: active, Ready: ready, Cap: -1})
	obs.wanted, obs.lastActive = d.Desired, st.LastActive

	used, own, err := r.Ledger.Read(ctx, region.Name, quota.Key(wh.Namespace, wh.Name))
	if err != nil {
		return err
	}
	base := dbuOf(r.Config, deployments)
	telemetry.Quota(region.Name, used, region.ServerlessQuotaDBU)
	allowed := active + quota.Fit(region.ServerlessQuotaDBU, used-own, base, size.DBUPerHour, max(d.Desired-active, 0))
	capped := d.Capped(allowed, active)
	if capped.Desired < d.Desired {
		obs.quota = &quotaBlock{Region: region.Name, Used: used - own + base,
			Requested: int64(d.Desired-active) * size.DBUPerHour, Quota: region.ServerlessQuotaDBU}
	}
	st.Record(now, active, capped.Desired)
	obs.decision, obs.desired = &capped, capped.Desired
	return nil
}

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
		granted, err := r.reserve(ctx, wh, region, size, deployments, p.Create, atLeast)
		if err != nil {
			return err
		}
		if granted < p.Create {
			obs.quota = &quotaBlock{Region: region.Name, Requested: int64(p.Create) * size.DBUPerHour, Quota: region.ServerlessQuotaDBU,
				Rolling: hasOutdated(clusters, hash)}
			if used, _, err := r.Ledger.Read(ctx, region.Name, quota.Key(wh.Namespace, wh.Name)); err == nil {
				obs.quota.Used = used
			}
		}
		p.Create = granted
	}
	if err := r.apply(ctx, wh, p, byID, tmpl, hash, size); err != nil {
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
	return r.settle(ctx, wh, region, held)
}

// reserve raises the warehouse's allocation for up to n more clusters, as far as the quota
// allows but at least atLeast or none, and returns how many it got.
func (r *Reconciler) reserve(ctx context.Context, wh *computev1.ServerlessWarehouse, region *configv1.Region, size *configv1.ClusterSizeSpec, deployments []appsv1.Deployment, n, atLeast int32) (int32, error) {
	key := quota.Key(wh.Namespace, wh.Name)
	base := dbuOf(r.Config, deployments)
	var granted int32
	_, err := r.Ledger.Update(ctx, region.Name, key, func(others, own int64) int64 {
		granted = quota.Fit(region.ServerlessQuotaDBU, others, base, size.DBUPerHour, n)
		if granted < atLeast {
			granted = 0
		}
		return max(own, base+int64(granted)*size.DBUPerHour)
	})
	return granted, err
}

// settle sets the warehouse's allocation to what its clusters consume after the pass.
func (r *Reconciler) settle(ctx context.Context, wh *computev1.ServerlessWarehouse, region *configv1.Region, dbu int64) error {
	key := quota.Key(wh.Namespace, wh.Name)
	_, own, err := r.Ledger.Read(ctx, region.Name, key)
	if err != nil {
		return err
	}
	if own == dbu {
		return nil
	}
	_, err = r.Ledger.Update(ctx, region.Name, key, func(int64, int64) int64 { return dbu })
	return err
}

// apply carries out a plan: restore, drain, delete, create.
func (r *Reconciler) apply(ctx context.Context, wh *computev1.ServerlessWarehouse, p plan, byID map[string]*appsv1.Deployment, tmpl corev1.PodTemplateSpec, hash string, size *configv1.ClusterSizeSpec) error {
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

// applyService applies the Service that fronts the warehouse's serving pods and returns the
// warehouse endpoint.
func (r *Reconciler) applyService(ctx context.Context, wh *computev1.ServerlessWarehouse) (string, error) {
	port := resolveEngine(wh, r.Config).Port
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: wh.Name, Namespace: wh.Namespace, Labels: map[string]string{
			computev1.LabelWarehouse: wh.Name, computev1.LabelWorkspace: wh.Namespace,
		}},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: map[string]string{computev1.LabelWarehouse: wh.Name, LabelServing: "true"},
			Ports: []corev1.ServicePort{{
				Name: netpolicy.PortSQL, Port: port, TargetPort: intstr.FromString(netpolicy.PortSQL), Protocol: corev1.ProtocolTCP,
			}},
		},
	}
	if err := r.applier.ApplyOwned(ctx, wh, svc); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s.%s.svc:%d", wh.Name, wh.Namespace, port), nil
}

// ensureCertificate keeps the engines' serving certificate current, for the warehouse
// Service's names (the gateway verifies them).
func (r *Reconciler) ensureCertificate(ctx context.Context, wh *computev1.ServerlessWarehouse) error {
	ca, err := r.CA.Ensure(ctx)
	if err != nil {
		return err
	}
	_, renewed, err := servingcert.Ensure(ctx, r.Client, r.applier, ca, servingcert.Request{
		Owner: wh, Secret: naming.WarehouseCertificate(wh.Name), Labels: map[string]string{computev1.LabelWarehouse: wh.Name},
		CommonName: wh.Name + "." + wh.Namespace, DNSNames: servingcert.ServiceDNSNames(wh.Namespace, wh.Name),
		RenewBefore: r.Config.Certificates.RenewBefore.Duration, Validity: r.Config.Certificates.ServingValidity.Duration,
	}, r.Clock.Now())
	if renewed != "" {
		r.Recorder.Eventf(wh, nil, corev1.EventTypeNormal, "CertificateRenewed", "Renew", "renewed the engines' serving certificate: %s", renewed)
	}
	return err
}

// reconcileDelete removes the clusters, then releases the quota and the finalizer.
func (r *Reconciler) reconcileDelete(ctx context.Context, wh *computev1.ServerlessWarehouse) (ctrl.Result, error) {
	deployments, err := r.clusters(ctx, wh)
	if err != nil {
		return ctrl.Result{}, err
	}
	for i := range deployments {
		if deployments[i].DeletionTimestamp.IsZero() {
			if err := r.Client.Delete(ctx, &deployments[i], client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
				return ctrl.Result{}, err
			}
		}
	}
	if len(deployments) > 0 {
		before := wh.DeepCopy()
		wh.Status.State = computev1.WarehouseDeleting
		_, err := apply.PatchStatus(ctx, r.Client, before, wh)
		return ctrl.Result{RequeueAfter: time.Second}, err
	}
	ws := &computev1.Workspace{}
	if err := r.Client.Get(ctx, client.ObjectKey{Name: wh.Namespace}, ws); err == nil {
		if _, err := r.Ledger.Update(ctx, ws.Spec.Region, quota.Key(wh.Namespace, wh.Name), release); err != nil {
			return ctrl.Result{}, err
		}
	} else if !apierrors.IsNotFound(err) {
		return ctrl.Result{}, err
	} else if err := r.releaseEverywhere(ctx, wh); err != nil {
		return ctrl.Result{}, err
	}
	r.states.Forget(stateKey(wh))
	telemetry.Forget("ServerlessWarehouse", wh.Namespace, wh.Name)
	controllerutil.RemoveFinalizer(wh, Finalizer)
	return ctrl.Result{}, client.IgnoreNotFound(r.Client.Update(ctx, wh))
}

// release is what a warehouse holds once it is deleted.
func release(int64, int64) int64 { return 0 }

// releaseEverywhere removes the warehouse from every region's ledger, for a warehouse whose
// workspace (and so region) is already gone.
func (r *Reconciler) releaseEverywhere(ctx context.Context, wh *computev1.ServerlessWarehouse) error {
	var errs []error
	for _, region := range r.Config.Regions {
		_, err := r.Ledger.Update(ctx, region.Name, quota.Key(wh.Namespace, wh.Name), release)
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// clusters lists the warehouse's cluster Deployments.
func (r *Reconciler) clusters(ctx context.Context, wh *computev1.ServerlessWarehouse) ([]appsv1.Deployment, error) {
	list := &appsv1.DeploymentList{}
	if err := r.Client.List(ctx, list, client.InNamespace(wh.Namespace), client.MatchingLabels{computev1.LabelWarehouse: wh.Name}); err != nil {
		return nil, err
	}
	var out []appsv1.Deployment
	for _, d := range list.Items {
		if metav1.IsControlledBy(&d, wh) && d.DeletionTimestamp.IsZero() {
			out = append(out, d)
		}
	}
	return out, nil
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

// requeue is the autoscaling tick: a stopped warehouse looks for queued queries more often.
func (r *Reconciler) requeue(obs observation) ctrl.Result {
	if obs.stalledReason != "" || obs.waiting != "" {
		return ctrl.Result{}
	}
	if !r.Metrics.Enabled() && obs.desired == obs.clusters {
		return ctrl.Result{}
	}
	if obs.clusters == 0 && obs.wanted == 0 {
		return ctrl.Result{RequeueAfter: min(zeroPoll, r.Config.Autoscaling.SyncPeriod.Duration)}
	}
	return ctrl.Result{RequeueAfter: r.Config.Autoscaling.SyncPeriod.Duration}
}

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

// fieldManager names the field manager of what this controller applies.
const fieldManager = "warehouse"

// SetupWithManager registers the reconciler: it watches warehouses, their clusters, the
// workspaces they run in and the quota ledgers.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.applier = apply.New(r.Client, mgr.GetAPIReader(), apply.FieldManager(fieldManager))
	return ctrl.NewControllerManagedBy(mgr).
		For(&computev1.ServerlessWarehouse{}).
		Named("serverlesswarehouse").
		WithOptions(controller.Options{MaxConcurrentReconciles: max(1, r.MaxConcurrentReconciles)}).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.Secret{}).
		Watches(&computev1.Workspace{}, handler.EnqueueRequestsFromMapFunc(r.warehousesOfWorkspace)).
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(r.blockedWarehouses),
			builder.WithPredicates(r.capacityFreed())).
		Complete(telemetry.CountErrors("serverlesswarehouse", r))
}

func (r *Reconciler) warehousesOfWorkspace(ctx context.Context, obj client.Object) []reconcile.Request {
	list := &computev1.ServerlessWarehouseList{}
	if err := r.Client.List(ctx, list, client.InNamespace(obj.GetName())); err != nil {
		return nil
	}
	return requests(list.Items, func(*computev1.ServerlessWarehouse) bool { return true })
}

// capacityFreed passes the changes of a region's total that may let a warehouse the quota
// holds back start: the total went down, or it is gone (and is rebuilt).
func (r *Reconciler) capacityFreed() predicate.Predicate {
	total := func(o client.Object) bool {
		return o.GetNamespace() == r.Config.OperatorNamespace && o.GetLabels()[LabelQuota] == LedgerTotal
	}
	used := func(o client.Object) int64 {
		dbu, _ := quota.DecodeTotal(o.(*corev1.ConfigMap).Data)
		return dbu
	}
	return predicate.Funcs{
		CreateFunc:  func(e event.CreateEvent) bool { return total(e.Object) },
		DeleteFunc:  func(e event.DeleteEvent) bool { return total(e.Object) },
		UpdateFunc:  func(e event.UpdateEvent) bool { return total(e.ObjectNew) && used(e.ObjectNew) < used(e.ObjectOld) },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}

// blockedWarehouses wakes the warehouses the quota holds back (found by index, not by listing
// every warehouse) when capacity may have freed.
func (r *Reconciler) blockedWarehouses(ctx context.Context, _ client.Object) []reconcile.Request {
	list := &computev1.ServerlessWarehouseList{}
	if err := r.Client.List(ctx, list, client.MatchingFields{indexes.WarehouseCondition: ConditionQuotaExceeded}); err != nil {
		return nil
	}
	return requests(list.Items, func(*computev1.ServerlessWarehouse) bool { return true })
}

func requests(items []computev1.ServerlessWarehouse, keep func(*computev1.ServerlessWarehouse) bool) []reconcile.Request {
	var out []reconcile.Request
	for i := range items {
		if keep(&items[i]) {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&items[i])})
		}
	}
	return out
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

// dbuOf is what the given clusters consume, by the size each was created with.
func dbuOf(cfg *configv1.OperatorConfig, deployments []appsv1.Deployment) int64 {
	var total int64
	for _, d := range deployments {
		if s, ok := cfg.ClusterSize(d.Labels[LabelClusterSize]); ok {
			total += s.DBUPerHour
		}
	}
	return total
}

func hasOutdated(cs []cluster, hash string) bool {
	for _, c := range cs {
		if c.Hash != hash && !c.draining() {
			return true
		}
	}
	return false
}

func serverlessRegions(cfg *configv1.OperatorConfig) string {
	var names []string
	for _, r := range cfg.Regions {
		if r.Serverless {
			names = append(names, r.Name)
		}
	}
	return sortedIDs(names)
}
