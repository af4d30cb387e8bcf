// Package modelendpoint reconciles ModelEndpoints: a Deployment and a Service per served
// entity, serving TLS with a certificate of the operator CA, a weighted route on the
// control-plane gateway, autoscaling down to zero where allowed, and config changes that never
// drop serving capacity.
package modelendpoint

import (
	"context"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
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
	"github.com/serverlessplane/operator/internal/activation"
	"github.com/serverlessplane/operator/internal/apply"
	"github.com/serverlessplane/operator/internal/pods"
	"github.com/serverlessplane/operator/internal/scalestate"
	"github.com/serverlessplane/operator/internal/servingcert"
	"github.com/serverlessplane/operator/internal/telemetry"
	"github.com/serverlessplane/operator/internal/transitions"
	"github.com/serverlessplane/operator/internal/workspaceref"
	"github.com/serverlessplane/operator/pkg/autoscaler"
	"github.com/serverlessplane/operator/pkg/metrics"
	"github.com/serverlessplane/operator/pkg/naming"
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
	if err := r.applyEntities(ctx, ep, live, &obs); err != nil {
		return obs, renewAt, err
	}
	var active []computev1.TrafficRoute
	if ep.Status.ActiveTraffic != nil {
		active = ep.Status.ActiveTraffic.Routes
	}
	inputs := map[string]entityObs{}
	for name, v := range obs.entities {
		inputs[name] = v.obs
	}
	obs.rollout = decideRollout(desiredRoutes(ep), active, inputs)
	if err := r.route(ctx, ep, &obs); err != nil {
		return obs, renewAt, err
	}
	return obs, renewAt, r.removeEntities(ctx, ep, obs.order, obs.rollout.Remove)
}

// ensureCertificate keeps the endpoint's serving certificate (for every entity Service's DNS
// names) and the CA bundle current in its namespace, and returns when renewal is due.
func (r *Reconciler) ensureCertificate(ctx context.Context, ep *computev1.ModelEndpoint) (time.Time, error) {
	ca, err := r.Authority.Ensure(ctx)
	if err != nil {
		return time.Time{}, err
	}
	var names []string
	for _, e := range ep.Spec.ServedEntities {
		names = append(names, servingcert.ServiceDNSNames(ep.Namespace, naming.ServedEntity(ep.Name, e.Name))...)
	}
	bundle := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: caBundleName(ep), Namespace: ep.Namespace, Labels: map[string]string{computev1.LabelEndpoint: ep.Name}},
		Data:       map[string]string{servingcert.BundleKey: string(ca.Bundle())},
	}
	if err := r.applier.ApplyOwned(ctx, ep, bundle); err != nil {
		return time.Time{}, err
	}
	renewAt, renewed, err := servingcert.Ensure(ctx, r.Client, r.applier, ca, servingcert.Request{
		Owner: ep, Secret: naming.ServingCertificate(ep.Name), Labels: map[string]string{computev1.LabelEndpoint: ep.Name},
		CommonName: ep.Name + "." + ep.Namespace, DNSNames: names,
		RenewBefore: r.Config.Certificates.RenewBefore.Duration, Validity: r.Config.Certificates.ServingValidity.Duration,
	}, r.Clock.Now())
	if err != nil {
		return time.Time{}, err
	}
	if renewed != "" {
		r.Recorder.Eventf(ep, nil, corev1.EventTypeNormal, "CertificateRenewed", "Renew", "renewed the serving certificate: %s", renewed)
	}
	return renewAt, nil
}

// applyEntities autoscales each served entity and applies its Deployment and Service.
func (r *Reconciler) applyEntities(ctx context.Context, ep *computev1.ModelEndpoint, live map[string]*appsv1.Deployment, obs *observation) error {
	now := r.Clock.Now()
	for i := range ep.Spec.ServedEntities {
		e := &ep.Spec.ServedEntities[i]
		b := replicaBounds(e, r.Config)
		p := r.policy(e, b)
		st := r.states.Get(stateKey(ep, e.Name), func() *autoscaler.State { return &autoscaler.State{LastActive: now} })
		view := entityView{}
		inFlight, err := r.Metrics.InFlight(ctx, r.target(ctx, ep, e.Name))
		// Requests the gateway holds for an entity at zero are load its pods cannot report.
		if activation.Requested(ep, e.Name, now, p.IdleGrace) {
			inFlight, err = max(inFlight, 1), nil
		}
		if err == nil {
			st.Observe(p, autoscaler.Sample{Time: now, Load: inFlight})
			view.inFlight = &inFlight
		}
		view.err = err
		var current, ready int32
		if d := live[e.Name]; d != nil && d.Spec.Replicas != nil {
			current, ready = *d.Spec.Replicas, d.Status.ReadyReplicas
		}
		d := autoscaler.Decide(p, st, autoscaler.Input{Now: now, Current: current, Ready: ready, Cap: -1})
		st.Record(now, current, d.Desired)
		view.decision = &d

		dep, err := entityDeployment(ep, e, r.Config, d.Desired)
		if err != nil {
			return err
		}
		if err := r.applier.ApplyOwned(ctx, ep, dep); err != nil {
			return err
		}
		if err := r.applier.ApplyOwned(ctx, ep, entityService(ep, e.Name)); err != nil {
			return err
		}
		view.obs = observeEntity(e.Name, live[e.Name], dep.Annotations[AnnotationConfigHash])
		view.obs.InSpec, view.obs.ScaleToZero = true, e.ScaleToZero == computev1.ScaleToZeroEnabled
		if view.obs.Exists {
			view.obs.Desired = d.Desired
		}
		obs.entities[e.Name] = view
		obs.order = append(obs.order, e.Name)
	}
	var removed []string
	for name, d := range live {
		if _, ok := obs.entities[name]; !ok {
			o := observeEntity(name, d, "")
			obs.entities[name] = entityView{obs: o}
			removed = append(removed, name)
		}
	}
	slices.Sort(removed)
	obs.order = append(obs.order, removed...)
	return nil
}

// route sets the endpoint's URL, the control-plane gateway's, and applies the weighted
// HTTPRoute and the BackendTLSPolicies when the Gateway API is installed.
func (r *Reconciler) route(ctx context.Context, ep *computev1.ModelEndpoint, obs *observation) error {
	obs.url = endpointURL(ep, r.Config)
	if !r.gatewayAPI {
		return nil
	}
	if len(obs.rollout.Active) > 0 {
		if err := r.applier.ApplyOwned(ctx, ep, httpRoute(ep, obs.rollout.Active, r.Config)); err != nil {
			return err
		}
	}
	for _, name := range obs.order {
		if slices.Contains(obs.rollout.Remove, name) {
			continue
		}
		if err := r.applier.ApplyOwned(ctx, ep, backendTLSPolicy(ep, name)); err != nil {
			return err
		}
	}
	return nil
}

// removeEntities deletes the objects of entities that left the spec and the route, and any
// other object of the endpoint by a name it no longer uses (the names of an older release).
// Only objects the endpoint controls are deleted.
func (r *Reconciler) removeEntities(ctx context.Context, ep *computev1.ModelEndpoint, order, removed []string) error {
	keep := sets.New(client.ObjectKey{Namespace: ep.Namespace, Name: naming.ServingCertificate(ep.Name)})
	for _, name := range order {
		if !slices.Contains(removed, name) {
			keep.Insert(client.ObjectKey{Namespace: ep.Namespace, Name: naming.ServedEntity(ep.Name, name)})
		}
	}
	lists := []client.ObjectList{&appsv1.DeploymentList{}, &corev1.ServiceList{}, &corev1.SecretList{}}
	if r.gatewayAPI {
		lists = append(lists, &gatewayv1.BackendTLSPolicyList{})
	}
	for _, list := range lists {
		if _, err := r.applier.Prune(ctx, ep, list, keep, client.InNamespace(ep.Namespace), client.MatchingLabels{computev1.LabelEndpoint: ep.Name}); err != nil {
			return err
		}
	}
	for _, name := range removed {
		r.Recorder.Eventf(ep, nil, corev1.EventTypeNormal, "ServedEntityRemoved", "Route", "removed served entity %s: no traffic routes to it", name)
	}
	return nil
}

// deployments lists the endpoint's Deployments by served entity.
func (r *Reconciler) deployments(ctx context.Context, ep *computev1.ModelEndpoint) (map[string]*appsv1.Deployment, error) {
	list := &appsv1.DeploymentList{}
	if err := r.Client.List(ctx, list, client.InNamespace(ep.Namespace), client.MatchingLabels{computev1.LabelEndpoint: ep.Name}); err != nil {
		return nil, err
	}
	out := map[string]*appsv1.Deployment{}
	for i := range list.Items {
		d := &list.Items[i]
		// A Deployment by another name than its entity's is an older release's, pruned once
		// the pass has applied the entity's own.
		entity := d.Labels[computev1.LabelServedEntity]
		if metav1.IsControlledBy(d, ep) && d.DeletionTimestamp.IsZero() && d.Name == naming.ServedEntity(ep.Name, entity) {
			out[entity] = d
		}
	}
	return out, nil
}

// target is what the metrics source reads: the entity's ready pods.
func (r *Reconciler) target(ctx context.Context, ep *computev1.ModelEndpoint, entity string) metrics.Target {
	return metrics.Target{Namespace: ep.Namespace, Name: ep.Name, Entity: entity,
		Pods: pods.Targets(ctx, r.Client, ep.Namespace, client.MatchingLabels{computev1.LabelEndpoint: ep.Name, computev1.LabelServedEntity: entity})}
}

// policy is a served entity's autoscaling policy: replicas scale on in-flight requests against
// the per-replica concurrency, within the workload size's bounds.
func (r *Reconciler) policy(e *computev1.ServedEntity, b bounds) autoscaler.Policy {
	p := scalestate.BasePolicy(&r.Config.Autoscaling)
	p.Min, p.Max = b.Min, b.Max
	p.TargetPerReplica = float64(r.Config.ModelServing.ConcurrencyPerReplica)
	// Served entities follow request load without a scale-down delay by default (the KPA's way).
	p.ScaleDownStabilization = r.Config.ModelServing.ScaleDownStabilization.Duration
	p.ScaleToZero = e.ScaleToZero == computev1.ScaleToZeroEnabled
	p.Sizing = autoscaler.Sizing(r.Config.ModelServing.Sizing)
	return p
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

func recordMetrics(before, ep *computev1.ModelEndpoint) {
	telemetry.SetReady("ModelEndpoint", ep.Namespace, ep.Name, ep.Status.Conditions)
	for _, old := range before.Status.ServedEntities {
		if previousEntity(ep, old.Name) == nil {
			telemetry.ForgetEntity(ep.Namespace, ep.Name, old.Name)
		}
	}
	for _, es := range ep.Status.ServedEntities {
		telemetry.Counts(telemetry.EntityReplicas, es.Replicas, es.ReadyReplicas, es.DesiredReplicas, ep.Namespace, ep.Name, es.Name)
		if es.InFlightRequests != nil {
			telemetry.ObservedLoad.WithLabelValues("ModelEndpoint", ep.Namespace, ep.Name, es.Name).Set(float64(*es.InFlightRequests))
		}
		if old := previousEntity(before, es.Name); old != nil {
			telemetry.Decision("ModelEndpoint", ep.Namespace, ep.Name, es.Name, old.DesiredReplicas, es.DesiredReplicas)
		}
	}
}

func (r *Reconciler) recordScaling(before, ep *computev1.ModelEndpoint) {
	for _, es := range ep.Status.ServedEntities {
		old := previousEntity(before, es.Name)
		if old != nil && old.DesiredReplicas != es.DesiredReplicas && es.Autoscaling != nil {
			r.Recorder.Eventf(ep, nil, corev1.EventTypeNormal, "Autoscaled", "Scale", "served entity %s: desired replicas %d -> %d: %s",
				es.Name, old.DesiredReplicas, es.DesiredReplicas, es.Autoscaling.Reason)
		}
	}
	if before.Status.State.ConfigUpdate != ep.Status.State.ConfigUpdate && ep.Status.State.ConfigUpdate == computev1.ConfigNotUpdating &&
		before.Status.State.ConfigUpdate != "" {
		r.Recorder.Eventf(ep, nil, corev1.EventTypeNormal, "ConfigUpdated", "Rollout", "config update rolled out")
	}
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

func stateKey(ep *computev1.ModelEndpoint, entity string) string {
	return client.ObjectKeyFromObject(ep).String() + "/" + entity
}
