package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/controllers/warehouse"
	"github.com/serverlessplane/operator/pkg/quota"
	b "github.com/serverlessplane/operator/test/builders"
	"github.com/serverlessplane/operator/test/framework"
)

// fleet lays the objects out: a warehouse "bi" in each of the first workspaces, an endpoint
// "churn" in each of the next, the rest bare. Deleted are half the warehouses and half the
// endpoints directly, the workspaces of a tenth of each of the rest (their objects go with the
// namespace), and the bare second half of the workspaces.
type fleet struct{ workspaces, warehouses, endpoints int }

func workspace(i int) string { return fmt.Sprintf("ws-%03d", i) }

const (
	warehouseName = "bi"
	endpointName  = "churn"
)

// deletedWorkspace says whether workspace i is deleted.
func (f fleet) deletedWorkspace(i int) bool {
	w, e := f.warehouses, f.endpoints
	return i >= f.workspaces/2 && i >= w+e ||
		i >= w/2 && i < w/2+w/10 ||
		i >= w+e/2 && i < w+e/2+e/10
}

// deletedWarehouse and deletedEndpoint say whether the one in workspace i is deleted, directly
// or with its workspace.
func (f fleet) deletedWarehouse(i int) bool { return i < f.warehouses/2 || f.deletedWorkspace(i) }
func (f fleet) deletedEndpoint(i int) bool {
	return i < f.warehouses+f.endpoints/2 || f.deletedWorkspace(i)
}

func (f fleet) objects() (wss []client.Object, workloads []client.Object) {
	for i := range f.workspaces {
		wss = append(wss, b.Workspace(workspace(i)).Obj())
	}
	for i := range f.warehouses {
		workloads = append(workloads, b.Warehouse(workspace(i), warehouseName).Size(computev1.ClusterSize2XSmall).Obj())
	}
	for i := f.warehouses; i < f.warehouses+f.endpoints; i++ {
		workloads = append(workloads, b.Endpoint(workspace(i), endpointName).Entity("champion", "main.default.churn", "1").Obj())
	}
	return wss, workloads
}

// create creates the workspaces, then the warehouses and endpoints as soon as their namespaces
// exist (the operator, being killed, creates them when it can). It returns how many it created.
func (f fleet) create(ctx context.Context, c client.Client) (int, error) {
	wss, workloads := f.objects()
	if err := framework.Parallel(8, wss, func(o client.Object) error { return c.Create(ctx, o) }); err != nil {
		return 0, err
	}
	err := framework.Parallel(8, workloads, func(o client.Object) error {
		for deadline := time.Now().Add(5 * time.Minute); ; {
			err := c.Create(ctx, o.DeepCopyObject().(client.Object))
			if err == nil || apierrors.IsAlreadyExists(err) {
				return nil
			}
			if !apierrors.IsNotFound(err) || time.Now().After(deadline) {
				return fmt.Errorf("creating %s/%s: %w", o.GetNamespace(), o.GetName(), err)
			}
			sleep(ctx, 500*time.Millisecond)
		}
	})
	return len(wss) + len(workloads), err
}

// remove deletes what the fleet deletes and returns how many objects it deleted.
func (f fleet) remove(ctx context.Context, c client.Client) (int, error) {
	var objs []client.Object
	for i := range f.warehouses {
		if i < f.warehouses/2 {
			objs = append(objs, &computev1.ServerlessWarehouse{ObjectMeta: metav1.ObjectMeta{Namespace: workspace(i), Name: warehouseName}})
		}
	}
	for i := f.warehouses; i < f.warehouses+f.endpoints/2; i++ {
		objs = append(objs, &computev1.ModelEndpoint{ObjectMeta: metav1.ObjectMeta{Namespace: workspace(i), Name: endpointName}})
	}
	for i := range f.workspaces {
		if f.deletedWorkspace(i) {
			objs = append(objs, &computev1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: workspace(i)}})
		}
	}
	err := framework.Parallel(8, objs, func(o client.Object) error {
		return client.IgnoreNotFound(c.Delete(ctx, o, client.PropagationPolicy(metav1.DeletePropagationBackground)))
	})
	return len(objs), err
}

// verdict is what a check found; clean when every list is empty.
type verdict struct {
	// notReady are live objects not Ready at their generation; lingering are deleted objects
	// (namespaces of deleted workspaces included) that still exist.
	notReady, lingering []string
	// duplicates are objects beyond one per purpose: clusters beyond a warehouse's desired
	// count, a second Deployment for a served entity.
	duplicates []string
	// orphans are objects the operator manages whose controller is gone, or that have none
	// outside the operator namespace.
	orphans []string
	// ledger are the warehouses whose ledger entry is not what their live clusters cost.
	ledger []string
	// ledgerEntries and liveDBU sum the ledgers and the live clusters, for the report.
	ledgerDBU, liveDBU int64
}

func (v verdict) summary() string {
	return fmt.Sprintf("not ready %d, still there %d, duplicates %d, orphans %d, ledger %d",
		len(v.notReady), len(v.lingering), len(v.duplicates), len(v.orphans), len(v.ledger))
}

func (v verdict) clean() bool {
	return len(v.notReady)+len(v.lingering)+len(v.duplicates)+len(v.orphans)+len(v.ledger) == 0
}

func (f fleet) check(ctx context.Context, c client.Client, cfg *configv1.OperatorConfig) (verdict, error) {
	var v verdict
	owners := map[types.UID]bool{}

	wsList := &computev1.WorkspaceList{}
	if err := c.List(ctx, wsList); err != nil {
		return v, err
	}
	region := map[string]string{}
	for _, ws := range wsList.Items {
		owners[ws.UID], region[ws.Name] = true, ws.Spec.Region
		if i := index(ws.Name); i >= 0 && f.deletedWorkspace(i) {
			v.lingering = append(v.lingering, "Workspace "+ws.Name)
		} else if !ready(ws.Status.Conditions, ws.Generation) {
			v.notReady = append(v.notReady, "Workspace "+ws.Name)
		}
	}
	nss := &corev1.NamespaceList{}
	if err := c.List(ctx, nss); err != nil {
		return v, err
	}
	for _, ns := range nss.Items {
		if i := index(ns.Name); i >= 0 && f.deletedWorkspace(i) {
			v.lingering = append(v.lingering, "Namespace "+ns.Name)
		}
	}

	whs := &computev1.ServerlessWarehouseList{}
	if err := c.List(ctx, whs); err != nil {
		return v, err
	}
	deps := &appsv1.DeploymentList{}
	if err := c.List(ctx, deps); err != nil {
		return v, err
	}
	byOwner := map[types.UID][]appsv1.Deployment{}
	for _, d := range deps.Items {
		if ref := metav1.GetControllerOf(&d); ref != nil && d.DeletionTimestamp.IsZero() {
			byOwner[ref.UID] = append(byOwner[ref.UID], d)
		}
	}
	for _, wh := range whs.Items {
		owners[wh.UID] = true
		name := "ServerlessWarehouse " + wh.Namespace + "/" + wh.Name
		switch i := index(wh.Namespace); {
		case i >= 0 && f.deletedWarehouse(i):
			v.lingering = append(v.lingering, name)
		case !ready(wh.Status.Conditions, wh.Generation):
			v.notReady = append(v.notReady, name)
		case int32(len(byOwner[wh.UID])) > wh.Status.DesiredClusters:
			v.duplicates = append(v.duplicates, fmt.Sprintf("%s: %d clusters, %d desired", name, len(byOwner[wh.UID]), wh.Status.DesiredClusters))
		}
	}
	eps := &computev1.ModelEndpointList{}
	if err := c.List(ctx, eps); err != nil {
		return v, err
	}
	for _, ep := range eps.Items {
		owners[ep.UID] = true
		name := "ModelEndpoint " + ep.Namespace + "/" + ep.Name
		if i := index(ep.Namespace); i >= 0 && f.deletedEndpoint(i) {
			v.lingering = append(v.lingering, name)
		} else if !ready(ep.Status.Conditions, ep.Generation) {
			v.notReady = append(v.notReady, name)
		}
		perEntity := map[string]int{}
		for _, d := range byOwner[ep.UID] {
			perEntity[d.Labels[computev1.LabelServedEntity]]++
		}
		for entity, n := range perEntity {
			if n > 1 {
				v.duplicates = append(v.duplicates, fmt.Sprintf("%s: %d Deployments for entity %s", name, n, entity))
			}
		}
	}
	nccs := &computev1.NetworkConnectivityConfigList{}
	if err := c.List(ctx, nccs); err != nil {
		return v, err
	}
	for _, n := range nccs.Items {
		owners[n.UID] = true
	}

	orphans, err := orphaned(ctx, c, owners, cfg.OperatorNamespace)
	if err != nil {
		return v, err
	}
	v.orphans = orphans
	if err := v.checkLedgers(ctx, c, cfg, deps.Items, region); err != nil {
		return v, err
	}
	for _, l := range [][]string{v.notReady, v.lingering, v.duplicates, v.orphans, v.ledger} {
		sort.Strings(l)
	}
	return v, nil
}

// managedKinds are the kinds the operator creates.
var managedKinds = []schema.GroupVersionKind{
	{Version: "v1", Kind: "Namespace"}, {Version: "v1", Kind: "Service"}, {Version: "v1", Kind: "Secret"},
	{Version: "v1", Kind: "ConfigMap"}, {Version: "v1", Kind: "ServiceAccount"}, {Version: "v1", Kind: "ResourceQuota"},
	{Version: "v1", Kind: "LimitRange"}, {Group: "apps", Version: "v1", Kind: "Deployment"},
	{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"}, {Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "RoleBinding"},
	{Group: "discovery.k8s.io", Version: "v1", Kind: "EndpointSlice"},
}

// orphaned lists the objects labelled as the operator's whose controller no longer exists, or
// that have none outside the operator namespace (where the ledger and the CA live).
func orphaned(ctx context.Context, c client.Client, owners map[types.UID]bool, operatorNS string) ([]string, error) {
	lists := map[schema.GroupVersionKind][]metav1.PartialObjectMetadata{}
	for _, gvk := range managedKinds {
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := c.List(ctx, list, client.MatchingLabels{computev1.LabelManagedBy: computev1.ManagedByValue}); err != nil {
			if meta.IsNoMatchError(err) {
				continue
			}
			return nil, err
		}
		lists[gvk] = list.Items
		// Children of children count too: Kubernetes copies a Service's labels onto the
		// EndpointSlices it makes for it, with the Service as their controller.
		for _, o := range list.Items {
			owners[o.UID] = true
		}
	}
	var out []string
	for _, gvk := range managedKinds {
		for _, o := range lists[gvk] {
			ref := metav1.GetControllerOf(&o)
			switch {
			case ref == nil && o.Namespace == operatorNS:
			case ref == nil:
				out = append(out, fmt.Sprintf("%s %s/%s (no controller)", gvk.Kind, o.Namespace, o.Name))
			case !owners[ref.UID]:
				out = append(out, fmt.Sprintf("%s %s/%s (its %s %s is gone)", gvk.Kind, o.Namespace, o.Name, ref.Kind, ref.Name))
			}
		}
	}
	return out, nil
}

// checkLedgers compares every region's ledger with the DBU/h of the clusters that exist,
// computed here from the cluster Deployments and the configured sizes.
func (v *verdict) checkLedgers(ctx context.Context, c client.Client, cfg *configv1.OperatorConfig, deps []appsv1.Deployment, region map[string]string) error {
	live := map[string]quota.Ledger{}
	for _, d := range deps {
		wh, size := d.Labels[computev1.LabelWarehouse], d.Labels[warehouse.LabelClusterSize]
		s, ok := cfg.ClusterSize(size)
		if wh == "" || !ok || !d.DeletionTimestamp.IsZero() {
			continue
		}
		r := region[d.Namespace]
		if live[r] == nil {
			live[r] = quota.Ledger{}
		}
		live[r][quota.Key(d.Namespace, wh)] += s.DBUPerHour
		v.liveDBU += s.DBUPerHour
	}
	for _, r := range cfg.Regions {
		total, ok, held, err := warehouse.Snapshot(ctx, c, cfg.OperatorNamespace, r.Name)
		if err != nil {
			return err
		}
		if len(held) > 0 && !ok {
			v.ledger = append(v.ledger, fmt.Sprintf("%s: the total does not parse", r.Name))
		}
		if total != held.Used("") {
			v.ledger = append(v.ledger, fmt.Sprintf("%s: the total holds %d DBU/h, the reservations %d", r.Name, total, held.Used("")))
		}
		want := live[r.Name]
		keys := slices.Sorted(maps.Keys(held))
		for k := range want {
			if _, ok := held[k]; !ok {
				keys = append(keys, k)
			}
		}
		for _, k := range keys {
			v.ledgerDBU += held[k]
			if held[k] != want[k] {
				v.ledger = append(v.ledger, fmt.Sprintf("%s %s: ledger %d DBU/h, live clusters %d", r.Name, k, held[k], want[k]))
			}
		}
	}
	return nil
}

// ready says whether the Ready condition is True for the object's generation.
func ready(conds []metav1.Condition, generation int64) bool {
	c := meta.FindStatusCondition(conds, computev1.ConditionReady)
	return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == generation
}

// index is the workspace number of a fleet namespace, or -1.
func index(name string) int {
	var i int
	if n, err := fmt.Sscanf(name, "ws-%03d", &i); n != 1 || err != nil || workspace(i) != name {
		return -1
	}
	return i
}
