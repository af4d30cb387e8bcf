package warehouse

import (
	"context"
	"maps"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/internal/telemetry"
	"github.com/serverlessplane/operator/pkg/naming"
	"github.com/serverlessplane/operator/pkg/quota"
)

// LedgerRepair keeps each region's quota ledger true to what the region runs, so that its
// correctness does not rest on finalizers or on nobody editing it: entries of warehouses that
// no longer exist are released, entries that do not parse are dropped, and every warehouse
// holds at least what its clusters cost (quota.Repair). A ledger that was deleted is rebuilt
// from the live clusters. It runs when a ledger or a warehouse changes, and every Period.
type LedgerRepair struct {
	Client client.Client
	Ledger *Ledger
	Config *configv1.OperatorConfig
	// Period is how often every region's ledger is checked even when nothing signals a change.
	Period time.Duration
}

// Reconcile repairs the ledger of the region named by the request.
func (r *LedgerRepair) Reconcile(ctx context.Context, req reconcile.Request) (ctrl.Result, error) {
	region := req.Name
	if _, ok := r.Config.Region(region); !ok {
		// No warehouse runs in a region the configuration does not have: nothing to repair
		// against, and nothing is taken from a ledger the operator no longer uses.
		return ctrl.Result{}, nil
	}
	err := retry.RetryOnConflict(contention, func() error {
		cm := &corev1.ConfigMap{}
		key := client.ObjectKey{Namespace: r.Ledger.Namespace, Name: naming.QuotaLedger(region)}
		err := r.Ledger.Reader.Get(ctx, key, cm)
		missing := apierrors.IsNotFound(err)
		if err != nil && !missing {
			return err
		}
		// Observed after the ledger is read: a warehouse whose reservation the ledger holds is
		// already in the cache, since its reservation followed its appearance there.
		live, exists, err := r.observe(ctx, region)
		if err != nil {
			return err
		}
		held, bad := quota.Decode(cm.Data)
		repaired := quota.Repair(held, live, exists.Has)
		if len(bad) == 0 && maps.Equal(held, repaired) {
			return nil
		}
		log.FromContext(ctx).Info("repairing the quota ledger", "region", region, "held", held, "badEntries", bad, "repaired", repaired)
		cm.Data = quota.Encode(repaired)
		if missing {
			cm.ObjectMeta = metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}
		}
		// The labels put the ledger in the operator's cache: an edit that removed them is undone.
		if cm.Labels == nil {
			cm.Labels = map[string]string{}
		}
		maps.Copy(cm.Labels, ledgerLabels(region))
		if !missing {
			return r.Client.Update(ctx, cm)
		}
		err = r.Client.Create(ctx, cm)
		if apierrors.IsAlreadyExists(err) {
			return apierrors.NewConflict(corev1.Resource("configmaps"), key.Name, err)
		}
		return err
	})
	return ctrl.Result{RequeueAfter: r.Period}, err
}

// observe returns the DBU/h of the region's live clusters per warehouse, and every warehouse
// that exists (in any region: the keys do not name one).
func (r *LedgerRepair) observe(ctx context.Context, region string) (quota.Ledger, sets.Set[string], error) {
	whs := &computev1.ServerlessWarehouseList{}
	if err := r.Client.List(ctx, whs); err != nil {
		return nil, nil, err
	}
	exists := sets.New[string]()
	for _, w := range whs.Items {
		exists.Insert(quota.Key(w.Namespace, w.Name))
	}
	deps := &appsv1.DeploymentList{}
	if err := r.Client.List(ctx, deps, client.HasLabels{computev1.LabelWarehouse, LabelClusterSize}); err != nil {
		return nil, nil, err
	}
	live := quota.Ledger{}
	regions := map[string]string{} // namespace -> its workspace's region
	for _, d := range deps.Items {
		ns := d.Namespace
		if _, seen := regions[ns]; !seen {
			ws := &computev1.Workspace{}
			if err := r.Client.Get(ctx, client.ObjectKey{Name: ns}, ws); client.IgnoreNotFound(err) != nil {
				return nil, nil, err
			}
			regions[ns] = ws.Spec.Region
		}
		if regions[ns] == region {
			live[quota.Key(ns, d.Labels[computev1.LabelWarehouse])] += dbuOf(r.Config, []appsv1.Deployment{d})
		}
	}
	return live, exists, nil
}

// SetupWithManager registers the repair: a ledger's changes, and the deletion of a warehouse
// (with or without its finalizer's pass) or of one of its clusters, wake the region.
func (r *LedgerRepair) SetupWithManager(mgr ctrl.Manager) error {
	deleted := builder.WithPredicates(predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		UpdateFunc:  func(event.UpdateEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("quotaledger").
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(r.regionOfLedger)).
		Watches(&computev1.ServerlessWarehouse{}, handler.EnqueueRequestsFromMapFunc(r.regionOfNamespace), deleted).
		Watches(&appsv1.Deployment{}, handler.EnqueueRequestsFromMapFunc(r.regionOfNamespace), deleted).
		Complete(telemetry.CountErrors("quotaledger", r))
}

func (r *LedgerRepair) regionOfLedger(_ context.Context, obj client.Object) []reconcile.Request {
	region := obj.GetLabels()[LabelRegion]
	if obj.GetNamespace() != r.Ledger.Namespace || region == "" || obj.GetName() != naming.QuotaLedger(region) {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: region}}}
}

func (r *LedgerRepair) regionOfNamespace(ctx context.Context, obj client.Object) []reconcile.Request {
	ws := &computev1.Workspace{}
	if err := r.Client.Get(ctx, client.ObjectKey{Name: obj.GetNamespace()}, ws); err != nil {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: ws.Spec.Region}}}
}
