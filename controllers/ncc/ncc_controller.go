// Package ncc reconciles NetworkConnectivityConfigs: it materializes each private endpoint rule
// in the namespace of every bound workspace, publishes the region's stable egress IPs, and
// holds deletion while workspaces are bound.
package ncc

import (
	"context"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/internal/apply"
	"github.com/serverlessplane/operator/internal/indexes"
	"github.com/serverlessplane/operator/internal/telemetry"
	"github.com/serverlessplane/operator/internal/transitions"
)

// Finalizer holds an NCC's deletion while workspaces are bound to it.
const Finalizer = "compute.serverlessplane.io/bound-workspaces"

// Reconciler reconciles NetworkConnectivityConfigs.
type Reconciler struct {
	Client   client.Client
	Config   *configv1.OperatorConfig
	Clock    clock.PassiveClock
	Recorder events.EventRecorder

	applier *apply.Applier
}

// +kubebuilder:rbac:groups=compute.serverlessplane.io,resources=networkconnectivityconfigs,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=compute.serverlessplane.io,resources=networkconnectivityconfigs/status,verbs=get;patch;update
// +kubebuilder:rbac:groups=compute.serverlessplane.io,resources=networkconnectivityconfigs/finalizers,verbs=update
// +kubebuilder:rbac:groups=compute.serverlessplane.io,resources=workspaces,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=discovery.k8s.io,resources=endpointslices,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;patch;delete

// Reconcile brings one NCC to its spec.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (ctrl.Result, error) {
	n := &computev1.NetworkConnectivityConfig{}
	if err := r.Client.Get(ctx, req.NamespacedName, n); err != nil {
		if client.IgnoreNotFound(err) == nil {
			telemetry.Forget("NetworkConnectivityConfig", "", req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if n.DeletionTimestamp.IsZero() && !controllerutil.ContainsFinalizer(n, Finalizer) {
		controllerutil.AddFinalizer(n, Finalizer)
		return ctrl.Result{}, r.Client.Update(ctx, n)
	}
	before := n.DeepCopy()
	obs, err := r.reconcile(ctx, n)
	if err != nil {
		failed := before.DeepCopy()
		err = apply.PatchFailedStatus(ctx, r.Client, before, failed, &failed.Status.Conditions, err, r.Clock.Now())
		transitions.Record(r.Recorder, failed, before.Status.Conditions, failed.Status.Conditions)
		return ctrl.Result{}, err
	}
	if !n.DeletionTimestamp.IsZero() && len(obs.bound) == 0 {
		// Nothing is bound and every materialized object is pruned: let it go.
		controllerutil.RemoveFinalizer(n, Finalizer)
		return ctrl.Result{}, client.IgnoreNotFound(r.Client.Update(ctx, n))
	}
	now, decommission := r.Clock.Now(), r.Config.DecommissionTime()
	n.Status = computeStatus(n, obs, now, decommission)
	if _, err := apply.PatchStatus(ctx, r.Client, before, n); err != nil {
		return ctrl.Result{}, err
	}
	transitions.Record(r.Recorder, n, before.Status.Conditions, n.Status.Conditions)
	telemetry.SetReady("NetworkConnectivityConfig", "", n.Name, n.Status.Conditions)
	if n.Spec.StableIPs == computev1.StableIPsLegacy && now.Before(decommission) {
		// Wake up when the legacy list is decommissioned.
		return ctrl.Result{RequeueAfter: decommission.Sub(now) + time.Second}, nil
	}
	return ctrl.Result{}, nil
}

// reconcile finds the bound workspaces, materializes the valid rules in their namespaces and
// prunes what no longer belongs.
func (r *Reconciler) reconcile(ctx context.Context, n *computev1.NetworkConnectivityConfig) (observation, error) {
	obs := observation{deleting: !n.DeletionTimestamp.IsZero(), checks: map[string]ruleCheck{}}
	region, ok := r.Config.Region(n.Spec.Region)
	if !ok {
		obs.regions = r.Config.RegionNames()
	}
	obs.region = region
	namespaces, err := r.boundWorkspaces(ctx, n, &obs)
	if err != nil {
		return obs, err
	}
	for i := range n.Spec.PrivateEndpointRules {
		rule := &n.Spec.PrivateEndpointRules[i]
		obs.checks[rule.Name] = checkRule(n.Spec.Region, rule, r.Config.ControlPlane.ProtectedCIDRs)
	}
	keep := sets.New[client.ObjectKey]()
	if region != nil {
		for _, ns := range namespaces {
			for i := range n.Spec.PrivateEndpointRules {
				rule := &n.Spec.PrivateEndpointRules[i]
				if obs.checks[rule.Name].rejected != "" {
					continue
				}
				if err := r.applyRule(ctx, n, ns, rule, keep); err != nil {
					return obs, err
				}
			}
		}
	}
	return obs, r.prune(ctx, n, keep)
}

// boundWorkspaces lists the workspaces of the NCC's region that name it, and returns the
// namespaces of those whose namespace the workspace controller has provisioned.
func (r *Reconciler) boundWorkspaces(ctx context.Context, n *computev1.NetworkConnectivityConfig, obs *observation) ([]string, error) {
	list := &computev1.WorkspaceList{}
	if err := r.Client.List(ctx, list, client.MatchingFields{indexes.WorkspaceNCC: n.Name}); err != nil {
		return nil, err
	}
	var namespaces []string
	for _, ws := range list.Items {
		if ws.Spec.Region != n.Spec.Region || !ws.DeletionTimestamp.IsZero() {
			continue
		}
		obs.bound = append(obs.bound, ws.Name)
		if ws.Status.Namespace == ws.Name {
			namespaces = append(namespaces, ws.Name)
		} else {
			obs.unready = append(obs.unready, ws.Name)
		}
	}
	slices.Sort(obs.bound)
	slices.Sort(obs.unready)
	slices.Sort(namespaces)
	return namespaces, nil
}

// applyRule applies a rule's Service, EndpointSlices and egress policy in one namespace and
// records their keys in keep. The egress comes last: a rule whose endpoint objects cannot be
// written (the API server refuses an address) opens nothing.
func (r *Reconciler) applyRule(ctx context.Context, n *computev1.NetworkConnectivityConfig, ns string, rule *computev1.PrivateEndpointRule, keep sets.Set[client.ObjectKey]) error {
	m := materialize(n.Name, ns, rule, r.Config.ControlPlane.ProtectedCIDRs)
	objs := []client.Object{m.service}
	for _, s := range m.slices {
		objs = append(objs, s)
	}
	objs = append(objs, m.policy)
	for _, o := range objs {
		if err := r.applier.ApplyOwned(ctx, n, o); err != nil {
			return err
		}
		keep.Insert(client.ObjectKeyFromObject(o))
	}
	return nil
}

// prune deletes the NCC's objects that no rule and no bound workspace asks for any more: a
// removed rule, an unbound workspace.
func (r *Reconciler) prune(ctx context.Context, n *computev1.NetworkConnectivityConfig, keep sets.Set[client.ObjectKey]) error {
	sel := client.MatchingLabels{computev1.LabelNCC: n.Name}
	for _, list := range []client.ObjectList{&corev1.ServiceList{}, &discoveryv1.EndpointSliceList{}, &networkingv1.NetworkPolicyList{}} {
		if _, err := r.applier.Prune(ctx, n, list, keep, sel); err != nil {
			return err
		}
	}
	return nil
}

// fieldManager names the field manager of what this controller applies.
const fieldManager = "ncc"

// SetupWithManager registers the reconciler: it watches NCCs, the objects they materialize,
// and workspaces, whose binding decides where rules go.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.applier = apply.New(r.Client, mgr.GetAPIReader(), apply.FieldManager(fieldManager))
	return ctrl.NewControllerManagedBy(mgr).
		For(&computev1.NetworkConnectivityConfig{}).
		Named("networkconnectivityconfig").
		Owns(&corev1.Service{}).
		Owns(&discoveryv1.EndpointSlice{}).
		Owns(&networkingv1.NetworkPolicy{}).
		Watches(&computev1.Workspace{}, handler.EnqueueRequestsFromMapFunc(r.nccsOfWorkspace)).
		Complete(telemetry.CountErrors("networkconnectivityconfig", r))
}

// nccsOfWorkspace maps a workspace to the NCC it names and to every NCC that lists it as bound,
// so that an NCC the workspace left prunes its objects.
func (r *Reconciler) nccsOfWorkspace(ctx context.Context, obj client.Object) []reconcile.Request {
	ws := obj.(*computev1.Workspace)
	names := map[string]bool{}
	if ws.Spec.NetworkConnectivityConfig != "" {
		names[ws.Spec.NetworkConnectivityConfig] = true
	}
	list := &computev1.NetworkConnectivityConfigList{}
	if err := r.Client.List(ctx, list); err == nil {
		for _, n := range list.Items {
			if slices.Contains(n.Status.BoundWorkspaces, ws.Name) {
				names[n.Name] = true
			}
		}
	}
	reqs := make([]reconcile.Request, 0, len(names))
	for name := range names {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKey{Name: name}})
	}
	return reqs
}
