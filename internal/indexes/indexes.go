// Package indexes registers the cache field indexes the controllers look objects up by.
package indexes

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
)

// WorkspaceNCC indexes workspaces by spec.networkConnectivityConfig.
const WorkspaceNCC = "spec.networkConnectivityConfig"

// WarehouseCondition indexes warehouses by the types of their conditions that are True, so
// that the warehouses the quota holds back are found without listing every warehouse.
const WarehouseCondition = "status.conditions.true"

// Setup registers every index with the manager's cache.
func Setup(ctx context.Context, idx client.FieldIndexer) error {
	err := idx.IndexField(ctx, &computev1.Workspace{}, WorkspaceNCC, func(o client.Object) []string {
		if n := o.(*computev1.Workspace).Spec.NetworkConnectivityConfig; n != "" {
			return []string{n}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return idx.IndexField(ctx, &computev1.ServerlessWarehouse{}, WarehouseCondition, func(o client.Object) []string {
		var out []string
		for _, c := range o.(*computev1.ServerlessWarehouse).Status.Conditions {
			if c.Status == metav1.ConditionTrue {
				out = append(out, c.Type)
			}
		}
		return out
	})
}
