package warehouse

import (
	"context"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/internal/apply"
	"github.com/serverlessplane/operator/internal/telemetry"
	"github.com/serverlessplane/operator/pkg/quota"
)

// reconcileDelete removes the clusters, then releases the quota and the finalizer.
func (r *Reconciler) reconcileDelete(ctx context.Context, wh *computev1.ServerlessWarehouse) (ctrl.Result, error) {
	deployments, err := r.clusters(ctx, wh)
	if err != nil {
		return ctrl.Result{}, err
	}
	for i := range deployments {
		if deployments[i].DeletionTimestamp.IsZero() {
			if err := r.Client.Delete(ctx, &deployments[i], client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
				return ctrl.Result{}, err
			}
		}
	}
	if len(deployments) > 0 {
		before := wh.DeepCopy()
		wh.Status.State = computev1.WarehouseDeleting
		_, err := apply.PatchStatus(ctx, r.Client, before, wh)
		return ctrl.Result{RequeueAfter: time.Second}, err
	}
	// The workspace names the region; when it is gone too, every region releases the warehouse.
	region := ""
	ws := &computev1.Workspace{}
	if err := r.Client.Get(ctx, client.ObjectKey{Name: wh.Namespace}, ws); err == nil {
		region = ws.Spec.Region
	} else if !apierrors.IsNotFound(err) {
		return ctrl.Result{}, err
	}
	if err := r.Quota.Release(ctx, region, quota.Key(wh.Namespace, wh.Name)); err != nil {
		return ctrl.Result{}, err
	}
	r.states.Forget(stateKey(wh))
	telemetry.Forget("ServerlessWarehouse", wh.Namespace, wh.Name)
	controllerutil.RemoveFinalizer(wh, Finalizer)
	return ctrl.Result{}, client.IgnoreNotFound(r.Client.Update(ctx, wh))
}
