package e2e

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/controllers/warehouse"
	"github.com/serverlessplane/operator/pkg/naming"
	"github.com/serverlessplane/operator/test/framework"
	"github.com/serverlessplane/operator/test/loadsim"
)

// The samples go through their whole life in the local cluster, as the README walks a newcomer
// through it: apply, run, scale, update, delete.
func TestSampleLifecycle(t *testing.T) {
	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"apply the samples and reach Ready with pods Running", applySamples},
		{"kubectl explains every field and lists the serverless category", explainAndCategory},
		{"a warehouse stops when idle and resumes on queued queries", stopAndResume},
		{"a model version change rolls out without dropping ready replicas", modelVersionChange},
		{"deleting the samples leaves nothing behind", deleteSamples},
		{"the operator, as its ServiceAccount, was never refused", neverForbidden},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.run) {
			t.Fatalf("stopping after %q failed; the operator log is %s", s.name, opLog)
		}
	}
}

func applySamples(t *testing.T) {
	g := NewWithT(t)
	mustKubectl(t, "apply", "-k", "config/samples/workspaces")
	mustKubectl(t, "wait", "--for=condition=Ready", "workspaces", "--all", "--timeout=120s")
	mustKubectl(t, "apply", "-k", "config/samples/workloads")
	mustKubectl(t, "wait", "--for=jsonpath={.status.state}=Running", "-n", "analytics", "serverlesswarehouse/bi", "--timeout=120s")
	mustKubectl(t, "wait", "--for=jsonpath={.status.state.ready}=Ready", "-n", "ml-platform", "modelendpoint/churn", "--timeout=120s")

	// Small is 4 workers; the pods passed the namespace's restricted Pod Security admission to
	// exist at all, and kwok runs them on the fake nodes.
	expectRunningPods(g, "analytics", client.MatchingLabels{computev1.LabelWarehouse: "bi"}, 4)
	expectRunningPods(g, "ml-platform", client.MatchingLabels{computev1.LabelEndpoint: "churn", computev1.LabelServedEntity: "champion"}, 1)

	for _, obj := range []client.Object{
		&computev1.NetworkConnectivityConfig{ObjectMeta: metav1.ObjectMeta{Name: "analytics-us-east-1"}},
		&computev1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: "analytics"}},
		&computev1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: "ml-platform"}},
		&computev1.ServerlessWarehouse{ObjectMeta: metav1.ObjectMeta{Namespace: "analytics", Name: "bi"}},
		&computev1.ModelEndpoint{ObjectMeta: metav1.ObjectMeta{Namespace: "ml-platform", Name: "churn"}},
	} {
		g.Eventually(func(g Gomega) {
			g.Expect(k8s.Get(t.Context(), client.ObjectKeyFromObject(obj), obj)).To(Succeed())
			got, msg, err := framework.KStatus(obj)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(status.CurrentStatus), "%T %s: %s", obj, obj.GetName(), msg)
		}, timeout, interval).Should(Succeed())
	}

	// Without the Gateway API in the cluster, the endpoint serves per entity and says why it does
	// not route the split.
	ep := &computev1.ModelEndpoint{}
	g.Expect(k8s.Get(t.Context(), client.ObjectKey{Namespace: "ml-platform", Name: "churn"}, ep)).To(Succeed())
	weighted := meta.FindStatusCondition(ep.Status.Conditions, "WeightedRouting")
	g.Expect(weighted).NotTo(BeNil())
	g.Expect(weighted.Status).To(Equal(metav1.ConditionFalse))
	g.Expect(weighted.Reason).To(Equal("GatewayAPIUnavailable"))
	g.Expect(ep.Status.URL).To(Equal("https://serving.serverlessplane.local/workspaces/ml-platform/serving-endpoints/churn/invocations"))

	// The private endpoint of the NCC is materialized in the bound workspace only.
	g.Expect(k8s.Get(t.Context(), client.ObjectKey{Namespace: "analytics", Name: naming.PrivateEndpointService("orders-db")}, &corev1.Service{})).To(Succeed())
	err := k8s.Get(t.Context(), client.ObjectKey{Namespace: "ml-platform", Name: naming.PrivateEndpointService("orders-db")}, &corev1.Service{})
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue())
}

func explainAndCategory(t *testing.T) {
	g := NewWithT(t)
	out := mustKubectl(t, "get", "serverless", "-A")
	for _, want := range []string{"networkconnectivityconfig.compute.serverlessplane.io/analytics-us-east-1",
		"workspace.compute.serverlessplane.io/analytics", "serverlesswarehouse.compute.serverlessplane.io/bi",
		"modelendpoint.compute.serverlessplane.io/churn"} {
		g.Expect(out).To(ContainSubstring(want))
	}
	for kind, field := range map[string]string{
		"workspace.spec": "region is the region the workspace's compute runs in",
		"networkconnectivityconfig.spec.privateEndpointRules": "resourceType is the kind of resource",
		"serverlesswarehouse.spec":                            "autoStopMinutes is how long",
		"modelendpoint.spec.servedEntities":                   "workloadSize is Small",
	} {
		g.Expect(mustKubectl(t, "explain", kind)).To(ContainSubstring(field), kind)
	}
}

func stopAndResume(t *testing.T) {
	g := NewWithT(t)
	wh := `apiVersion: compute.serverlessplane.io/v1alpha1
kind: ServerlessWarehouse
metadata:
  name: adhoc
  namespace: analytics
spec:
  clusterSize: 2X-Small
  autoStopMinutes: 1
`
	applyStdin(t, wh)
	t.Cleanup(func() { _, _ = kubectl("delete", "-n", "analytics", "serverlesswarehouse/adhoc", "--ignore-not-found") })
	mustKubectl(t, "wait", "--for=jsonpath={.status.state}=Running", "-n", "analytics", "serverlesswarehouse/adhoc", "--timeout=120s")
	expectRunningPods(g, "analytics", client.MatchingLabels{computev1.LabelWarehouse: "adhoc"}, 1)

	// A minute without queries stops it and releases its pods.
	mustKubectl(t, "wait", "--for=jsonpath={.status.state}=Stopped", "-n", "analytics", "serverlesswarehouse/adhoc", "--timeout=180s")
	expectRunningPods(g, "analytics", client.MatchingLabels{computev1.LabelWarehouse: "adhoc"}, 0)

	// Queued queries start it again.
	sim.SetWarehouse("analytics", "adhoc", loadsim.WarehouseLoad{Queued: 3})
	t.Cleanup(func() { sim.SetWarehouse("analytics", "adhoc", loadsim.WarehouseLoad{}) })
	mustKubectl(t, "wait", "--for=jsonpath={.status.state}=Running", "-n", "analytics", "serverlesswarehouse/adhoc", "--timeout=120s")
	expectRunningPods(g, "analytics", client.MatchingLabels{computev1.LabelWarehouse: "adhoc"}, 1)
}

func modelVersionChange(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cs, err := kubernetes.NewForConfig(cluster.Config)
	g.Expect(err).NotTo(HaveOccurred())
	deploy := naming.ServedEntity("churn", "champion")
	d, err := cs.AppsV1().Deployments("ml-platform").Get(ctx, deploy, metav1.GetOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	before := d.Status.ReadyReplicas
	g.Expect(before).To(BeNumerically(">=", 1))

	// Watch the Deployment from now on: every status it goes through is seen.
	w, err := cs.AppsV1().Deployments("ml-platform").Watch(ctx, metav1.ListOptions{
		FieldSelector: "metadata.name=" + deploy, ResourceVersion: d.ResourceVersion,
	})
	g.Expect(err).NotTo(HaveOccurred())
	minReady := make(chan int32, 1)
	go func() {
		lowest := before
		for ev := range w.ResultChan() {
			if d, ok := ev.Object.(*appsv1.Deployment); ok && d.Status.ReadyReplicas < lowest {
				lowest = d.Status.ReadyReplicas
			}
		}
		minReady <- lowest
	}()

	ep := &computev1.ModelEndpoint{ObjectMeta: metav1.ObjectMeta{Namespace: "ml-platform", Name: "churn"}}
	var seen []computev1.ConfigUpdateState
	mustKubectl(t, "patch", "-n", "ml-platform", "modelendpoint/churn", "--type=json",
		`-p=[{"op":"replace","path":"/spec/servedEntities/0/model/version","value":"5"}]`)
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(ep), ep)).To(Succeed())
		if n := len(seen); n == 0 || seen[n-1] != ep.Status.State.ConfigUpdate {
			seen = append(seen, ep.Status.State.ConfigUpdate)
		}
		g.Expect(ep.Status.ObservedGeneration).To(Equal(ep.Generation))
		g.Expect(ep.Status.State.ConfigUpdate).To(Equal(computev1.ConfigNotUpdating))
		g.Expect(ep.Status.State.Ready).To(Equal(computev1.EndpointReady))
		d, err := cs.AppsV1().Deployments("ml-platform").Get(ctx, deploy, metav1.GetOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(d.Spec.Template.Spec.Containers[0].Env).To(ContainElement(corev1.EnvVar{Name: "MODEL_VERSION", Value: "5"}))
	}, timeout, 20*time.Millisecond).Should(Succeed())
	events := mustKubectl(t, "get", "events", "-n", "ml-platform", "--field-selector=reason=ConfigUpdated", "-o=name")
	g.Expect(seen).To(ContainElement(computev1.ConfigInProgress), "the update went through InProgress (seen %v, events %q)", seen, events)
	expectRunningPods(g, "ml-platform", client.MatchingLabels{computev1.LabelEndpoint: "churn", computev1.LabelServedEntity: "champion"}, int(before))

	cancel()
	g.Expect(<-minReady).To(BeNumerically(">=", before), "ready replicas never fell below the count before the update")
}

func deleteSamples(t *testing.T) {
	g := NewWithT(t)
	mustKubectl(t, "delete", "-k", "config/samples/workloads", "--wait=true", "--timeout=120s")
	mustKubectl(t, "delete", "-k", "config/samples/workspaces", "--wait=true", "--timeout=180s")
	for _, ns := range []string{"analytics", "ml-platform"} {
		g.Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(t.Context(), client.ObjectKey{Name: ns}, &corev1.Namespace{}))
		}, timeout, interval).Should(BeTrue(), "namespace %s", ns)
	}
	g.Eventually(func(g Gomega) {
		for _, list := range []client.ObjectList{&appsv1.DeploymentList{}, &corev1.ServiceList{}, &corev1.PodList{}} {
			g.Expect(k8s.List(t.Context(), list, client.MatchingLabels{computev1.LabelManagedBy: computev1.ManagedByValue})).To(Succeed())
			items, _ := metaItems(list)
			g.Expect(items).To(BeEmpty(), "%T", list)
		}
		total, ok, held, err := warehouse.Snapshot(t.Context(), k8s, "serverlessplane-system", "us-east-1")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(held).To(BeEmpty(), "the quota ledger holds nothing for deleted warehouses")
		g.Expect(ok).To(BeTrue(), "the region's total parses")
		g.Expect(total).To(BeZero(), "the region's total")
	}, timeout, interval).Should(Succeed())
}

// expectRunningPods waits until exactly n pods match, all Running on kwok's fake nodes.
func expectRunningPods(g *WithT, ns string, selector client.MatchingLabels, n int) {
	g.Eventually(func(g Gomega) {
		pods := &corev1.PodList{}
		g.Expect(k8s.List(context.Background(), pods, client.InNamespace(ns), selector)).To(Succeed())
		var running []string
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil {
				continue
			}
			g.Expect(p.Status.Phase).To(Equal(corev1.PodRunning), "pod %s", p.Name)
			g.Expect(p.Spec.NodeName).To(HavePrefix("kwok-"), "pod %s", p.Name)
			running = append(running, p.Name)
		}
		g.Expect(running).To(HaveLen(n), "pods %s", strings.Join(running, ", "))
	}, timeout, interval).Should(Succeed())
}

// applyStdin applies a manifest with kubectl.
func applyStdin(t *testing.T, manifest string) {
	t.Helper()
	cmd := cluster.Kubectl(binDir, "apply", "-f", "-")
	cmd.Dir = root
	cmd.Stdin = strings.NewReader(manifest)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
}

func metaItems(list client.ObjectList) ([]string, error) {
	var names []string
	switch l := list.(type) {
	case *appsv1.DeploymentList:
		for _, i := range l.Items {
			names = append(names, i.Namespace+"/"+i.Name)
		}
	case *corev1.ServiceList:
		for _, i := range l.Items {
			names = append(names, i.Namespace+"/"+i.Name)
		}
	case *corev1.PodList:
		for _, i := range l.Items {
			names = append(names, i.Namespace+"/"+i.Name)
		}
	}
	return names, nil
}

// neverForbidden reads the operator's log: with config/rbac's grants, the API server refused it
// nothing (a missing grant shows up as a "forbidden" error in the reconcilers or the event
// recorder).
func neverForbidden(t *testing.T) {
	data, err := os.ReadFile(opLog)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(strings.ToLower(line), "forbidden") {
			t.Errorf("refused: %s", line)
		}
	}
	if !strings.Contains(strings.ToLower(string(data)), "successfully acquired lease") {
		t.Errorf("the operator never became leader: leader election (leases in %s) is not working", "serverlessplane-system")
	}
}
