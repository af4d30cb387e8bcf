// Package indexes registers the cache field indexes the controllers look objects up by.
package indexes

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
)

// WorkspaceNCC indexes workspaces by spec.networkConnectivityConfig.
const WorkspaceNCC = "spec.networkConnectivityConfig"

// Setup registers every index with the manager's cache.
func Setup(ctx context.Context, idx client.FieldIndexer) error {
	return idx.IndexField(ctx, &computev1.Workspace{}, WorkspaceNCC, func(o client.Object) []string {
		if n := o.(*computev1.Workspace).Spec.NetworkConnectivityConfig; n != "" {
			return []string{n}
		}
		return nil
	})
}
