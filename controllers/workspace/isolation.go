package workspace

import (
	"context"
	"slices"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/sets"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
)

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
