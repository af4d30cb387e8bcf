// Package workspace reconciles Workspaces: each becomes a namespace, created and owned by the
// operator, behind a default-deny network boundary, with its quota, limit range, admins and
// workload service account.
package workspace

import (
	"context"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
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
