// Package workspace reconciles Workspaces: each becomes a namespace, created and owned by the
// operator, behind a default-deny network boundary, with its quota, limit range, admins and
// workload service account.
package workspace

import (
	"context"
	"errors"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
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
	"github.com/serverlessplane/operator/pkg/naming"
)

// Reconciler reconciles Workspaces.
type Reconciler struct {
	Client client.Client
	// APIReader reads namespaces the operator did not create, which its cache does not hold.
	APIReader client.Reader
	Config    *configv1.OperatorConfig
	Clock     clock.PassiveClock
	Recorder  events.EventRecorder

	applier *apply.Applier
}

// +kubebuilder:rbac:groups=compute.serverlessplane.io,resources=workspaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=compute.serverlessplane.io,resources=workspaces/status,verbs=get;patch;update
// +kubebuilder:rbac:groups=compute.serverlessplane.io,resources=networkconnectivityconfigs;serverlesswarehouses;modelendpoints,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups="",resources=serviceaccounts;resourcequotas;limitranges,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=rolebindings,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=clusterroles,verbs=bind,resourceNames=serverlessplane-workspace-admin
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one workspace to its spec.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (ctrl.Result, error) {
	ws := &computev1.Workspace{}
	if err := r.Client.Get(ctx, req.NamespacedName, ws); err != nil {
		if apierrors.IsNotFound(err) {
			telemetry.Forget("Workspace", "", req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !ws.DeletionTimestamp.IsZero() {
		// Garbage collection deletes the namespace, and with it everything in it.
		return ctrl.Result{}, nil
	}
	before := ws.DeepCopy()
	obs, err := r.reconcile(ctx, ws)
	if err != nil {
		failed := before.DeepCopy()
		err = apply.PatchFailedStatus(ctx, r.Client, before, failed, &failed.Status.Conditions, err, r.Clock.Now())
		transitions.Record(r.Recorder, failed, before.Status.Conditions, failed.Status.Conditions)
		return ctrl.Result{}, err
	}
	ws.Status = computeStatus(ws, obs, r.Clock.Now())
	if _, err := apply.PatchStatus(ctx, r.Client, before, ws); err != nil {
		return ctrl.Result{}, err
	}
	transitions.Record(r.Recorder, ws, before.Status.Conditions, ws.Status.Conditions)
	telemetry.SetReady("Workspace", "", ws.Name, ws.Status.Conditions)
	return ctrl.Result{}, nil
}

// reconcile runs the named steps of a pass and returns what it observed.
func (r *Reconciler) reconcile(ctx context.Context, ws *computev1.Workspace) (observation, error) {
	obs := observation{namespace: namespaceUnchecked}
	region, ok := r.Config.Region(ws.Spec.Region)
	if !ok {
		obs.regions = r.Config.RegionNames()
		return obs, nil
	}
	if ws.Name == r.Config.OperatorNamespace {
		obs.reservedName = true
		return obs, nil
	}
	var err error
	if obs.namespace, err = r.ensureNamespace(ctx, ws); err != nil || obs.namespace != namespaceOwned {
		return obs, err
	}
	ncc, err := r.bindNCC(ctx, ws, &obs)
	if err != nil {
		return obs, err
	}
	if ncc != nil && len(obs.egressCIDRs) == 0 {
		// The NCC publishes its region's stable IPs; until its first pass has, they are the
		// same ones from the configuration.
		obs.egressCIDRs = slices.Clone(region.StableEgressCIDRs)
	}
	if obs.policies, err = r.applyPolicies(ctx, ws, region, ncc); err != nil {
		return obs, err
	}
	return obs, r.applyChildren(ctx, ws)
}

// ensureNamespace creates the workspace namespace and records its UID, or checks that the
// existing one is the namespace it recorded. A namespace the operator did not create for this
// workspace is never touched, whatever owner reference it carries.
func (r *Reconciler) ensureNamespace(ctx context.Context, ws *computev1.Workspace) (namespaceState, error) {
	live := &corev1.Namespace{}
	key := client.ObjectKey{Name: ws.Name}
	// The cache holds the namespaces the operator created; only a miss, a new workspace or a
	// namespace someone else created, needs the API server.
	err := r.Client.Get(ctx, key, live)
	if apierrors.IsNotFound(err) {
		err = r.APIReader.Get(ctx, key, live)
	}
	if apierrors.IsNotFound(err) {
		return r.createNamespace(ctx, ws)
	}
	if err != nil {
		return namespaceUnchecked, err
	}
	owner := metav1.GetControllerOf(live)
	isWorkspace := owner != nil && owner.Kind == "Workspace" && owner.APIVersion == computev1.GroupVersion.String()
	if isWorkspace && owner.Name == ws.Name && live.DeletionTimestamp != nil {
		return namespaceTerminating, nil
	}
	if !isWorkspace || owner.UID != ws.UID {
		return namespaceConflict, nil
	}
	if ws.Status.NamespaceUID == "" && ws.Status.Namespace == ws.Name {
		// Provisioned before the operator recorded namespace UIDs: the namespace it already
		// reported as the workspace's is the one it created.
		if err := r.recordNamespace(ctx, ws, live.UID); err != nil {
			return namespaceUnchecked, err
		}
	}
	if live.UID != ws.Status.NamespaceUID {
		// The owner reference is right but the namespace is not the one the operator created:
		// anyone who can create namespaces and read this workspace's UID can forge it.
		return namespaceConflict, nil
	}
	ns := desiredNamespace(ws)
	if err := controllerutil.SetControllerReference(ws, ns, r.Client.Scheme()); err != nil {
		return namespaceUnchecked, err
	}
	_, err = r.applier.Apply(ctx, ns)
	return namespaceOwned, err
}

// createNamespace creates the workspace namespace and records its UID in the status before
// anything else happens, so that only this namespace is ever taken for the workspace's.
func (r *Reconciler) createNamespace(ctx context.Context, ws *computev1.Workspace) (namespaceState, error) {
	ns := desiredNamespace(ws)
	ns.Labels[computev1.LabelManagedBy] = computev1.ManagedByValue
	if err := controllerutil.SetControllerReference(ws, ns, r.Client.Scheme()); err != nil {
		return namespaceUnchecked, err
	}
	// Create, not apply: if someone created the namespace meanwhile, this fails rather than
	// adopting it, and the next pass reports the conflict.
	if err := r.Client.Create(ctx, ns); err != nil {
		return namespaceUnchecked, err
	}
	if err := r.recordNamespace(ctx, ws, ns.UID); err != nil {
		// Unrecorded, the namespace would read as a conflict forever: take it back (only this
		// one, by its UID) and create it again on the next pass.
		del := client.Preconditions{UID: &ns.UID}
		return namespaceUnchecked, errors.Join(err, client.IgnoreNotFound(r.Client.Delete(ctx, ns, del)))
	}
	r.Recorder.Eventf(ws, nil, corev1.EventTypeNormal, "NamespaceCreated", "Provision", "created namespace %s", ns.Name)
	return namespaceOwned, nil
}

// recordNamespace writes the UID of the workspace's namespace to its status at once.
func (r *Reconciler) recordNamespace(ctx context.Context, ws *computev1.Workspace, uid types.UID) error {
	before := ws.DeepCopy()
	ws.Status.NamespaceUID = uid
	_, err := apply.PatchStatus(ctx, r.Client, before, ws)
	return err
}

// bindNCC resolves spec.networkConnectivityConfig. A missing NCC or one of another region
// binds nothing: the workspace keeps the baseline egress (DNS and storage gateway).
func (r *Reconciler) bindNCC(ctx context.Context, ws *computev1.Workspace, obs *observation) (*computev1.NetworkConnectivityConfig, error) {
	name := ws.Spec.NetworkConnectivityConfig
	if name == "" {
		obs.ncc = nccNone
		return nil, nil
	}
	ncc := &computev1.NetworkConnectivityConfig{}
	if err := r.Client.Get(ctx, client.ObjectKey{Name: name}, ncc); err != nil {
		if apierrors.IsNotFound(err) {
			obs.ncc = nccNotFound
			return nil, nil
		}
		return nil, err
	}
	if ncc.Spec.Region != ws.Spec.Region {
		obs.ncc, obs.nccRegion = nccRegionMismatch, ncc.Spec.Region
		return nil, nil
	}
	obs.ncc = nccBound
	if ncc.DeletionTimestamp != nil {
		obs.ncc = nccDeleting
	}
	obs.egressCIDRs = slices.Clone(ncc.Status.EgressCIDRs)
	return ncc, nil
}

// applyPolicies applies the compiled network boundary and deletes the workspace's policies
// that are no longer part of it. Private endpoint policies belong to the NCC controller.
func (r *Reconciler) applyPolicies(ctx context.Context, ws *computev1.Workspace, region *configv1.Region, ncc *computev1.NetworkConnectivityConfig) (int, error) {
	whs := &computev1.ServerlessWarehouseList{}
	if err := r.Client.List(ctx, whs, client.InNamespace(ws.Name)); err != nil {
		return 0, err
	}
	eps := &computev1.ModelEndpointList{}
	if err := r.Client.List(ctx, eps, client.InNamespace(ws.Name)); err != nil {
		return 0, err
	}
	keep := sets.New[client.ObjectKey]()
	for _, p := range desiredPolicies(ws, r.Config, region, ncc, whs.Items, eps.Items) {
		keep.Insert(client.ObjectKeyFromObject(p))
		if err := r.applier.ApplyOwned(ctx, ws, p); err != nil {
			return 0, err
		}
	}
	notNCC, err := labels.NewRequirement(computev1.LabelNCC, selection.DoesNotExist, nil)
	if err != nil {
		return 0, err
	}
	ofWorkspace, err := labels.NewRequirement(computev1.LabelWorkspace, selection.Equals, []string{ws.Name})
	if err != nil {
		return 0, err
	}
	_, err = r.applier.Prune(ctx, ws, &networkingv1.NetworkPolicyList{}, keep, client.InNamespace(ws.Name),
		client.MatchingLabelsSelector{Selector: labels.NewSelector().Add(*notNCC, *ofWorkspace)})
	return keep.Len(), err
}

// applyChildren applies the workload service account and, when the spec asks for them, the
// quota, limit range and admin binding; those the spec no longer asks for are deleted.
func (r *Reconciler) applyChildren(ctx context.Context, ws *computev1.Workspace) error {
	if err := r.applier.ApplyOwned(ctx, ws, desiredServiceAccount(ws)); err != nil {
		return err
	}
	quota, limits, admins := desiredQuota(ws), desiredLimitRange(ws), desiredRoleBinding(ws)
	for _, c := range []struct {
		want  bool
		obj   client.Object
		empty client.Object
		name  string
	}{
		{quota != nil, quota, &corev1.ResourceQuota{}, naming.ResourceQuota},
		{limits != nil, limits, &corev1.LimitRange{}, naming.LimitRange},
		{admins != nil, admins, &rbacv1.RoleBinding{}, naming.AdminsRoleBinding},
	} {
		var err error
		if c.want {
			err = r.applier.ApplyOwned(ctx, ws, c.obj)
		} else {
			err = r.deleteOwned(ctx, ws, c.empty, c.name)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// deleteOwned deletes a child if it exists and this workspace controls it.
func (r *Reconciler) deleteOwned(ctx context.Context, ws *computev1.Workspace, obj client.Object, name string) error {
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: ws.Name, Name: name}, obj); err != nil {
		return client.IgnoreNotFound(err)
	}
	if owner := metav1.GetControllerOf(obj); owner == nil || owner.UID != ws.UID {
		return nil
	}
	return client.IgnoreNotFound(r.Client.Delete(ctx, obj))
}

// fieldManager names the field manager of what this controller applies.
const fieldManager = "workspace"

// SetupWithManager registers the reconciler: it watches workspaces, what it owns, the NCCs
// workspaces bind to, and the warehouses and endpoints whose peer policies it compiles.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.applier = apply.New(r.Client, mgr.GetAPIReader(), apply.FieldManager(fieldManager))
	return ctrl.NewControllerManagedBy(mgr).
		For(&computev1.Workspace{}).
		Named("workspace").
		Owns(&corev1.Namespace{}).
		Owns(&networkingv1.NetworkPolicy{}).
		Owns(&corev1.ServiceAccount{}).
		Owns(&corev1.ResourceQuota{}).
		Owns(&corev1.LimitRange{}).
		Owns(&rbacv1.RoleBinding{}).
		Watches(&computev1.NetworkConnectivityConfig{}, handler.EnqueueRequestsFromMapFunc(r.workspacesOfNCC)).
		Watches(&computev1.ServerlessWarehouse{}, handler.EnqueueRequestsFromMapFunc(workspaceOfNamespace)).
		Watches(&computev1.ModelEndpoint{}, handler.EnqueueRequestsFromMapFunc(workspaceOfNamespace)).
		Complete(telemetry.CountErrors("workspace", r))
}

func (r *Reconciler) workspacesOfNCC(ctx context.Context, obj client.Object) []reconcile.Request {
	list := &computev1.WorkspaceList{}
	if err := r.Client.List(ctx, list, client.MatchingFields{indexes.WorkspaceNCC: obj.GetName()}); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, ws := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKey{Name: ws.Name}})
	}
	return reqs
}

// workspaceOfNamespace maps an object in a workspace namespace to its workspace: the namespace
// and the workspace share the name.
func workspaceOfNamespace(_ context.Context, obj client.Object) []reconcile.Request {
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: obj.GetNamespace()}}}
}
