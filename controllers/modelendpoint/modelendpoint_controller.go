// Package modelendpoint reconciles ModelEndpoints: a Deployment and a Service per served
// entity, serving TLS with a certificate of the operator CA, a weighted route on the
// control-plane gateway, autoscaling down to zero where allowed, and config changes that never
// drop serving capacity.
package modelendpoint

import (
	"context"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/internal/apply"
	"github.com/serverlessplane/operator/internal/scalestate"
	"github.com/serverlessplane/operator/internal/telemetry"
	"github.com/serverlessplane/operator/internal/transitions"
	"github.com/serverlessplane/operator/internal/workspaceref"
	"github.com/serverlessplane/operator/pkg/metrics"
)

// zeroPoll is how often an entity scaled to zero looks for requests, so that the first one
// brings a replica back at once rather than at the next autoscaling tick.
const zeroPoll = 2 * time.Second

// Reconciler reconciles ModelEndpoints.
type Reconciler struct {
	Client    client.Client
	Config    *configv1.OperatorConfig
	Clock     clock.PassiveClock
	Recorder  events.EventRecorder
	Metrics   metrics.Source
	Authority *Authority
	// MaxConcurrentReconciles is how many endpoints reconcile at once: each ticks every
	// modelServing.syncPeriod.
	MaxConcurrentReconciles int

	applier *apply.Applier
	// gatewayAPI is whether the Gateway API was installed when the operator started.
	gatewayAPI bool
	states     scalestate.Store
}

// +kubebuilder:rbac:groups=compute.serverlessplane.io,resources=modelendpoints,verbs=get;list;watch
// +kubebuilder:rbac:groups=compute.serverlessplane.io,resources=modelendpoints/status,verbs=get;patch;update
// +kubebuilder:rbac:groups=compute.serverlessplane.io,resources=workspaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=services;configmaps,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=httproutes;backendtlspolicies,verbs=get;list;watch;create;patch;delete

// Reconcile brings one endpoint to its spec and its load.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (ctrl.Result, error) {
	ep := &computev1.ModelEndpoint{}
	if err := r.Client.Get(ctx, req.NamespacedName, ep); err != nil {
		if client.IgnoreNotFound(err) == nil {
			r.states.Forget(req.String() + "/")
			telemetry.Forget("ModelEndpoint", req.Namespace, req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !ep.DeletionTimestamp.IsZero() {
		// Everything the endpoint has is owned by it: garbage collection removes it.
		r.states.Forget(req.String() + "/")
		return ctrl.Result{}, nil
	}
	before := ep.DeepCopy()
	obs, renewAt, err := r.reconcile(ctx, ep)
	if err != nil {
		failed := before.DeepCopy()
		err = apply.PatchFailedStatus(ctx, r.Client, before, failed, &failed.Status.Conditions, err, r.Clock.Now())
		transitions.Record(r.Recorder, failed, before.Status.Conditions, failed.Status.Conditions)
		return ctrl.Result{}, err
	}
	ep.Status = computeStatus(ep, obs, r.Clock.Now())
	if _, err := apply.PatchStatus(ctx, r.Client, before, ep); err != nil {
		return ctrl.Result{}, err
	}
	transitions.Record(r.Recorder, ep, before.Status.Conditions, ep.Status.Conditions)
	r.recordScaling(before, ep)
	recordMetrics(before, ep)
	return r.requeue(obs, renewAt), nil
}

// reconcile runs the named steps of a pass and returns what it observed, and when the serving
// certificate is due for renewal.
func (r *Reconciler) reconcile(ctx context.Context, ep *computev1.ModelEndpoint) (observation, time.Time, error) {
	obs := observation{entities: map[string]entityView{}, weighted: r.gatewayAPI}
	ref, err := workspaceref.Resolve(ctx, r.Client, r.Config, ep.Namespace)
	if err != nil {
		return obs, time.Time{}, err
	}
	if ref.Stalled != "" || ref.Waiting != "" {
		obs.stalledMessage, obs.waiting = ref.Stalled, ref.Waiting
		if ref.Stalled != "" {
			obs.stalledReason = workspaceref.ReasonNotInWorkspace
		}
		return obs, time.Time{}, nil
	}
	if msg := unconfigured(ep, r.Config); msg != "" {
		obs.stalledReason, obs.stalledMessage = ReasonWorkloadNotConfigured, msg
		return obs, time.Time{}, nil
	}
	renewAt, err := r.ensureCertificate(ctx, ep)
	if err != nil {
		return obs, renewAt, err
	}
	live, err := r.deployments(ctx, ep)
	if err != nil {
		return obs, renewAt, err
	}
	if err := r.scaleEntities(ctx, ep, live, &obs); err != nil {
		return obs, renewAt, err
	}
	obs.rollout = decideRollout(desiredRoutes(ep), activeRoutes(ep), obs.entityObs())
	if err := r.route(ctx, ep, &obs); err != nil {
		return obs, renewAt, err
	}
	return obs, renewAt, r.removeEntities(ctx, ep, obs.order, obs.rollout.Remove)
}

// requeue is the autoscaling tick (faster for entities at zero), or the certificate renewal,
// whichever comes first.
func (r *Reconciler) requeue(obs observation, renewAt time.Time) ctrl.Result {
	if obs.stalledReason != "" || obs.waiting != "" {
		return ctrl.Result{}
	}
	after := r.Config.ModelServing.SyncPeriod.Duration
	if !r.Metrics.Enabled() {
		after = time.Hour
	}
	for _, v := range obs.entities {
		if v.obs.ScaleToZero && v.obs.Desired == 0 && after > zeroPoll {
			after = zeroPoll
		}
	}
	if !renewAt.IsZero() {
		if until := renewAt.Sub(r.Clock.Now()); until < after {
			after = max(until, time.Second)
		}
	}
	return ctrl.Result{RequeueAfter: after}
}

// fieldManager names the field manager of what this controller applies.
const fieldManager = "modelendpoint"

// SetupWithManager registers the reconciler: it watches endpoints, what they own, and the
// workspaces they run in. Routes are watched when the Gateway API is installed at start.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.applier = apply.New(r.Client, mgr.GetAPIReader(), apply.FieldManager(fieldManager))
	r.gatewayAPI = gatewayAPIInstalled(mgr.GetRESTMapper())
	b := ctrl.NewControllerManagedBy(mgr).
		For(&computev1.ModelEndpoint{}).
		Named("modelendpoint").
		WithOptions(controller.Options{MaxConcurrentReconciles: max(1, r.MaxConcurrentReconciles)}).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.Secret{}).
		Owns(&corev1.ConfigMap{}).
		Watches(&computev1.Workspace{}, handler.EnqueueRequestsFromMapFunc(r.endpointsOfWorkspace))
	if r.gatewayAPI {
		b = b.Owns(&gatewayv1.HTTPRoute{}).Owns(&gatewayv1.BackendTLSPolicy{})
	}
	return b.Complete(telemetry.CountErrors("modelendpoint", r))
}

func (r *Reconciler) endpointsOfWorkspace(ctx context.Context, obj client.Object) []reconcile.Request {
	list := &computev1.ModelEndpointList{}
	if err := r.Client.List(ctx, list, client.InNamespace(obj.GetName())); err != nil {
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return out
}
