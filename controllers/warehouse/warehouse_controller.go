// Package warehouse reconciles ServerlessWarehouses: it places their clusters in the workspace
// namespace, scales them on load within the regional quota, stops them when idle and starts
// them again when queries queue.
package warehouse

import (
	"context"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/internal/apply"
	"github.com/serverlessplane/operator/internal/scalestate"
	"github.com/serverlessplane/operator/internal/telemetry"
	"github.com/serverlessplane/operator/internal/transitions"
	"github.com/serverlessplane/operator/pkg/certs"
	"github.com/serverlessplane/operator/pkg/metrics"
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
	// Quota accounts the warehouse's clusters against its region's quota.
	Quota *Quota
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
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;delete

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

// reconcile checks what the warehouse needs and branches: waiting for its workspace (nothing
// changes), stalled (its clusters are stopped) or running. It returns what it observed.
func (r *Reconciler) reconcile(ctx context.Context, wh *computev1.ServerlessWarehouse) (observation, error) {
	obs := observation{minClusters: wh.Spec.MinClusters, autoStop: autoStop(wh)}
	region, size, err := r.checkRequirements(ctx, wh, &obs)
	if err != nil {
		return obs, err
	}
	switch {
	case obs.waiting != "":
		return obs, nil
	case obs.stalledReason != "":
		return obs, r.stop(ctx, wh, region, size, &obs)
	default:
		return obs, r.run(ctx, wh, region, size, &obs)
	}
}

// stop removes a stalled warehouse's clusters (the plan for zero) and releases their quota.
func (r *Reconciler) stop(ctx context.Context, wh *computev1.ServerlessWarehouse, region *configv1.Region, size *configv1.ClusterSizeSpec, obs *observation) error {
	deployments, err := r.clusters(ctx, wh)
	if err != nil {
		return err
	}
	return r.scale(ctx, wh, region, size, deployments, observeClusters(deployments, nil), obs)
}

// run is a running warehouse's pass: read its load, decide its clusters within the quota,
// keep its certificate current, scale, and apply its Service.
func (r *Reconciler) run(ctx context.Context, wh *computev1.ServerlessWarehouse, region *configv1.Region, size *configv1.ClusterSizeSpec, obs *observation) error {
	deployments, err := r.clusters(ctx, wh)
	if err != nil {
		return err
	}
	load, err := r.Metrics.Warehouse(ctx, r.target(ctx, wh))
	if obs.metricsErr = err; err == nil {
		obs.load = &load
	}
	clusters := observeClusters(deployments, obs.load)
	if err := r.decide(ctx, wh, region, size, deployments, clusters, obs); err != nil {
		return err
	}
	// The engines mount their certificate: it exists before their first pod does.
	if err := r.ensureCertificate(ctx, wh); err != nil {
		return err
	}
	if err := r.scale(ctx, wh, region, size, deployments, clusters, obs); err != nil {
		return err
	}
	obs.endpoint, err = r.applyService(ctx, wh)
	return err
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
