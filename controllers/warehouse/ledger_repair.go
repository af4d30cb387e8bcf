package warehouse

import (
	"context"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/internal/telemetry"
)

// LedgerRepair keeps each region's quota ledger true to what the region runs, so that its
// correctness does not rest on finalizers or on nobody editing it. A request names either a
// warehouse (namespace and name: its deletion or its clusters' deletion), whose reservation
// alone is checked (Ledger.RepairWarehouse), or a region (a name and no namespace: a ledger
// object of the region was changed or deleted by someone else, and every Period), whose whole
// ledger is rebuilt (Ledger.Repair). Neither lists the region for a change the operator made
// itself, so a change costs the same however many warehouses the region has.
type LedgerRepair struct {
	Ledger *Ledger
	Config *configv1.OperatorConfig
	// Period is how often every region's ledger is rebuilt even when nothing signals a change.
	Period time.Duration
}

// Reconcile repairs the warehouse's reservation or the region's ledger the request names.
func (r *LedgerRepair) Reconcile(ctx context.Context, req reconcile.Request) (ctrl.Result, error) {
	if req.Namespace != "" {
		return ctrl.Result{}, r.Ledger.RepairWarehouse(ctx, req.Namespace, req.Name)
	}
	if _, ok := r.Config.Region(req.Name); !ok {
		// No warehouse runs in a region the configuration does not have: nothing to repair
		// against, and nothing is taken from a ledger the operator no longer uses.
		return ctrl.Result{}, nil
	}
	return ctrl.Result{RequeueAfter: r.Period}, r.Ledger.Repair(ctx, req.Name)
}

// SetupWithManager registers the repair: a ledger object changed by someone else wakes its
// region; the deletion of a warehouse (with or without its finalizer's pass) or of one of its
// clusters wakes the warehouse.
func (r *LedgerRepair) SetupWithManager(mgr ctrl.Manager) error {
	deleted := builder.WithPredicates(predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		UpdateFunc:  func(event.UpdateEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("quotaledger").
		Watches(&corev1.ConfigMap{}, handler.Funcs{
			CreateFunc: func(_ context.Context, e event.TypedCreateEvent[client.Object], q queue) {
				r.enqueueLedger(e.Object, false, q)
			},
			UpdateFunc: func(_ context.Context, e event.TypedUpdateEvent[client.Object], q queue) {
				r.enqueueLedger(e.ObjectNew, false, q)
			},
			DeleteFunc: func(_ context.Context, e event.TypedDeleteEvent[client.Object], q queue) {
				r.enqueueLedger(e.Object, true, q)
			},
		}).
		Watches(&computev1.ServerlessWarehouse{}, handler.EnqueueRequestsFromMapFunc(r.warehouse), deleted).
		Watches(&appsv1.Deployment{}, handler.EnqueueRequestsFromMapFunc(r.warehouseOfCluster), deleted).
		Complete(telemetry.CountErrors("quotaledger", r))
}

// queue is where a watch puts its requests.
type queue = workqueue.TypedRateLimitingInterface[reconcile.Request]

// enqueueLedger wakes the region of a ledger object that someone else changed or deleted:
// which reservations the total counts is then unknown, and only rebuilding it from them tells.
// The operator's own writes wake nothing.
func (r *LedgerRepair) enqueueLedger(obj client.Object, deleted bool, q queue) {
	region := obj.GetLabels()[LabelRegion]
	if obj.GetNamespace() != r.Ledger.Namespace || region == "" || r.Ledger.Mine(obj, deleted) {
		return
	}
	// A moment later, so that a burst of edits is one repair and the cache has caught up.
	q.AddAfter(reconcile.Request{NamespacedName: client.ObjectKey{Name: region}}, repairDelay)
}

// repairDelay is how long after someone else's edit of a ledger object its region is repaired.
const repairDelay = 2 * time.Second

func (r *LedgerRepair) warehouse(_ context.Context, obj client.Object) []reconcile.Request {
	return []reconcile.Request{{NamespacedName: client.ObjectKeyFromObject(obj)}}
}

func (r *LedgerRepair) warehouseOfCluster(_ context.Context, obj client.Object) []reconcile.Request {
	name := obj.GetLabels()[computev1.LabelWarehouse]
	if name == "" || obj.GetLabels()[LabelClusterSize] == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: obj.GetNamespace(), Name: name}}}
}
