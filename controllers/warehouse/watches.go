package warehouse

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/internal/indexes"
	"github.com/serverlessplane/operator/pkg/quota"
)

func (r *Reconciler) warehousesOfWorkspace(ctx context.Context, obj client.Object) []reconcile.Request {
	list := &computev1.ServerlessWarehouseList{}
	if err := r.Client.List(ctx, list, client.InNamespace(obj.GetName())); err != nil {
		return nil
	}
	return requests(list.Items, func(*computev1.ServerlessWarehouse) bool { return true })
}

// capacityFreed passes the changes of a region's total that may let a warehouse the quota
// holds back start: the total went down, or it is gone (and is rebuilt).
func (r *Reconciler) capacityFreed() predicate.Predicate {
	total := func(o client.Object) bool {
		return o.GetNamespace() == r.Config.OperatorNamespace && o.GetLabels()[LabelQuota] == LedgerTotal
	}
	used := func(o client.Object) int64 {
		dbu, _ := quota.DecodeTotal(o.(*corev1.ConfigMap).Data)
		return dbu
	}
	return predicate.Funcs{
		CreateFunc:  func(e event.CreateEvent) bool { return total(e.Object) },
		DeleteFunc:  func(e event.DeleteEvent) bool { return total(e.Object) },
		UpdateFunc:  func(e event.UpdateEvent) bool { return total(e.ObjectNew) && used(e.ObjectNew) < used(e.ObjectOld) },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}

// blockedWarehouses wakes the warehouses the quota holds back (found by index, not by listing
// every warehouse) when capacity may have freed.
func (r *Reconciler) blockedWarehouses(ctx context.Context, _ client.Object) []reconcile.Request {
	list := &computev1.ServerlessWarehouseList{}
	if err := r.Client.List(ctx, list, client.MatchingFields{indexes.WarehouseCondition: ConditionQuotaExceeded}); err != nil {
		return nil
	}
	return requests(list.Items, func(*computev1.ServerlessWarehouse) bool { return true })
}

func requests(items []computev1.ServerlessWarehouse, keep func(*computev1.ServerlessWarehouse) bool) []reconcile.Request {
	var out []reconcile.Request
	for i := range items {
		if keep(&items[i]) {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&items[i])})
		}
	}
	return out
}
