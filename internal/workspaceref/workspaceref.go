// Package workspaceref finds the workspace a namespaced object (a warehouse, a model endpoint)
// lives in, and says why an object cannot run when it is not in a ready workspace.
package workspaceref

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
)

// ReasonNotInWorkspace is the Stalled reason of an object outside a workspace namespace.
const ReasonNotInWorkspace = "NotInWorkspace"

// Ref is the workspace of a namespace.
type Ref struct {
	Workspace *computev1.Workspace
	Region    *configv1.Region
	// Stalled says why the object can never run here; Waiting why it cannot run yet. At most one
	// is set, and Workspace and Region are set when neither is.
	Stalled, Waiting string
}

// Resolve finds the workspace whose namespace is namespace. Workspaces and their namespaces
// share the name.
func Resolve(ctx context.Context, c client.Reader, cfg *configv1.OperatorConfig, namespace string) (Ref, error) {
	ws := &computev1.Workspace{}
	err := c.Get(ctx, client.ObjectKey{Name: namespace}, ws)
	switch {
	case apierrors.IsNotFound(err), err == nil && meta.IsStatusConditionTrue(ws.Status.Conditions, computev1.ConditionStalled):
		return Ref{Stalled: fmt.Sprintf("namespace %q is not the namespace of a workspace; nothing is placed. Create it in a workspace namespace (kubectl get workspaces)", namespace)}, nil
	case err != nil:
		return Ref{}, err
	case ws.Status.Namespace != namespace:
		return Ref{Waiting: fmt.Sprintf("waiting for workspace %q to provision its namespace", ws.Name)}, nil
	}
	region, ok := cfg.Region(ws.Spec.Region)
	if !ok {
		return Ref{Stalled: fmt.Sprintf("workspace %q is in region %q, which the operator does not know", ws.Name, ws.Spec.Region)}, nil
	}
	return Ref{Workspace: ws, Region: region}, nil
}
