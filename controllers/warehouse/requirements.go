package warehouse

import (
	"context"
	"fmt"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/internal/workspaceref"
)

// checkRequirements checks that the warehouse is in a workspace namespace and that the
// workspace meets the serverless requirements: a region with serverless support and a
// metastore other than an external Hive metastore.
func (r *Reconciler) checkRequirements(ctx context.Context, wh *computev1.ServerlessWarehouse, obs *observation) (*configv1.Region, *configv1.ClusterSizeSpec, error) {
	ref, err := workspaceref.Resolve(ctx, r.Client, r.Config, wh.Namespace)
	if err != nil || ref.Waiting != "" || ref.Stalled != "" {
		obs.waiting = ref.Waiting
		if ref.Stalled != "" {
			obs.stalledReason, obs.stalledMessage = workspaceref.ReasonNotInWorkspace, ref.Stalled
		}
		return nil, nil, err
	}
	ws, region := ref.Workspace, ref.Region
	size, ok := r.Config.ClusterSize(string(wh.Spec.ClusterSize))
	switch {
	case !ok:
		obs.stalledReason = ReasonClusterSizeNotConfigured
		obs.stalledMessage = fmt.Sprintf("spec.clusterSize %q is not a cluster size of the operator configuration (%s); nothing is placed and running clusters are stopped. Set spec.clusterSize to one of those, or add it to the configuration's warehouses.clusterSizes",
			wh.Spec.ClusterSize, sortedIDs(r.Config.ClusterSizeNames()))
	case !region.Serverless:
		obs.stalledReason = ReasonRequirementsNotMet
		obs.stalledMessage = fmt.Sprintf("region %s does not support serverless SQL warehouses; nothing is placed. Use a workspace in a region that does (%s)",
			region.Name, serverlessRegions(r.Config))
	case ws.Spec.Metastore.Type == computev1.MetastoreExternalHive:
		obs.stalledReason = ReasonRequirementsNotMet
		obs.stalledMessage = fmt.Sprintf("workspace %q uses an external Hive metastore, which serverless SQL warehouses do not support; nothing is placed. Set the workspace's spec.metastore.type to UnityCatalog or Glue",
			ws.Name)
	}
	return region, size, nil
}

func serverlessRegions(cfg *configv1.OperatorConfig) string {
	var names []string
	for _, r := range cfg.Regions {
		if r.Serverless {
			names = append(names, r.Name)
		}
	}
	return sortedIDs(names)
}
