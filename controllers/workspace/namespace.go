package workspace

import (
	"context"
	"errors"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/internal/apply"
)

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
