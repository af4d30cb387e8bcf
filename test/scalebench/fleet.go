package main

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	b "github.com/serverlessplane/operator/test/builders"
	"github.com/serverlessplane/operator/test/framework"
)

// fleet is what the benchmark provisions: warehouses and endpoints spread round-robin over the
// workspaces.
type fleet struct {
	workspaces, warehouses, endpoints int
}

func (f fleet) workspace(i int) string { return fmt.Sprintf("ws-%04d", i) }

// create creates every workspace, waits until their namespaces exist (as GitOps tools do:
// a warehouse needs its namespace), then creates every warehouse and endpoint. It returns how
// many objects it wrote.
func (f fleet) create(ctx context.Context, c client.Client, timeout time.Duration, log func(string, ...any)) (int, error) {
	var workspaces, workloads []client.Object
	for i := range f.workspaces {
		workspaces = append(workspaces, b.Workspace(f.workspace(i)).Obj())
	}
	for i := range f.warehouses {
		ns := f.workspace(i % f.workspaces)
		workloads = append(workloads, b.Warehouse(ns, fmt.Sprintf("wh-%04d", i)).Size(computev1.ClusterSize2XSmall).Clusters(1, 1).Obj())
	}
	for i := range f.endpoints {
		ns := f.workspace(i % f.workspaces)
		workloads = append(workloads, b.Endpoint(ns, fmt.Sprintf("ep-%04d", i)).Entity("model", "main.default.churn", "1").Obj())
	}
	create := func(o client.Object) error { return client.IgnoreAlreadyExists(c.Create(ctx, o)) }
	if err := framework.Parallel(4, workspaces, create); err != nil {
		return 0, err
	}
	if err := f.wait(ctx, c, timeout, log, false); err != nil {
		return 0, err
	}
	return len(workspaces) + len(workloads), framework.Parallel(4, workloads, create)
}

// wait waits until every workspace is Ready and, with workloads, every warehouse and endpoint
// has its Deployment.
func (f fleet) wait(ctx context.Context, c client.Client, timeout time.Duration, log func(string, ...any), workloads bool) error {
	deadline := time.Now().Add(timeout)
	for last := ""; ; time.Sleep(2 * time.Second) {
		wss := &computev1.WorkspaceList{}
		if err := c.List(ctx, wss); err != nil {
			return err
		}
		readyWS := 0
		for _, ws := range wss.Items {
			if meta.IsStatusConditionTrue(ws.Status.Conditions, computev1.ConditionReady) {
				readyWS++
			}
		}
		deps := &metav1.PartialObjectMetadataList{}
		deps.SetGroupVersionKind(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "DeploymentList"})
		if err := c.List(ctx, deps, client.MatchingLabels{computev1.LabelManagedBy: computev1.ManagedByValue}); err != nil {
			return err
		}
		progress := fmt.Sprintf("%d/%d workspaces ready, %d/%d Deployments", readyWS, f.workspaces, len(deps.Items), f.warehouses+f.endpoints)
		if progress != last {
			log("%s", progress)
			last = progress
		}
		if readyWS == f.workspaces && (!workloads || len(deps.Items) >= f.warehouses+f.endpoints) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not provisioned after %s: %s", timeout, progress)
		}
	}
}

// kinds are what the operator creates for workspaces, warehouses and endpoints, namespaces
// first.
var kinds = []schema.GroupVersionKind{
	{Version: "v1", Kind: "Namespace"},
	{Version: "v1", Kind: "ServiceAccount"},
	{Version: "v1", Kind: "ResourceQuota"},
	{Version: "v1", Kind: "LimitRange"},
	{Version: "v1", Kind: "ConfigMap"},
	{Version: "v1", Kind: "Secret"},
	{Version: "v1", Kind: "Service"},
	{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "RoleBinding"},
	{Group: "apps", Version: "v1", Kind: "Deployment"},
}

// copyPrefix renames the namespaces of the plain client's copies.
const copyPrefix = "p-"

// created lists what the operator created (labelled managed-by serverlessplane) as copies a
// plain client can create: in renamed namespaces, without server-set fields, owners or status.
func created(ctx context.Context, c client.Client) ([]client.Object, error) {
	var out []client.Object
	for _, gvk := range kinds {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := c.List(ctx, list, client.MatchingLabels{computev1.LabelManagedBy: computev1.ManagedByValue}); err != nil {
			return nil, err
		}
		for i := range list.Items {
			u := &list.Items[i]
			if gvk.Kind == "Namespace" {
				u.SetName(copyPrefix + u.GetName())
			} else {
				u.SetNamespace(copyPrefix + u.GetNamespace())
			}
			for _, field := range [][]string{
				{"metadata", "uid"}, {"metadata", "resourceVersion"}, {"metadata", "creationTimestamp"},
				{"metadata", "managedFields"}, {"metadata", "ownerReferences"}, {"metadata", "generation"},
				{"status"}, {"spec", "clusterIP"}, {"spec", "clusterIPs"},
			} {
				unstructured.RemoveNestedField(u.Object, field...)
			}
			out = append(out, u)
		}
	}
	// The operator namespace is not the operator's creation, but its ledger and CA are: their
	// copies need a namespace too.
	copied := map[string]bool{}
	for _, o := range out {
		if o.GetNamespace() == "" {
			copied[o.GetName()] = true
		}
	}
	for _, o := range out {
		if ns := o.GetNamespace(); ns != "" && !copied[ns] {
			copied[ns] = true
			out = append(out, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		}
	}
	return out, nil
}

// createCopies creates the copies, namespaces first, with workers at once.
func createCopies(ctx context.Context, c client.Client, objs []client.Object, workers int) error {
	var namespaces, rest []client.Object
	for _, o := range objs {
		if o.GetNamespace() == "" {
			namespaces = append(namespaces, o)
		} else {
			rest = append(rest, o)
		}
	}
	create := func(o client.Object) error { return client.IgnoreAlreadyExists(c.Create(ctx, o)) }
	if err := framework.Parallel(workers, namespaces, create); err != nil {
		return err
	}
	return framework.Parallel(workers, rest, create)
}

func createNamespace(ctx context.Context, c client.Client, name string) error {
	return client.IgnoreAlreadyExists(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}))
}
