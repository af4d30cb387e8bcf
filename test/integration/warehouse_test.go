package integration

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/controllers/warehouse"
	"github.com/serverlessplane/operator/controllers/workspace"
	"github.com/serverlessplane/operator/internal/workspaceref"
	"github.com/serverlessplane/operator/pkg/certs"
	"github.com/serverlessplane/operator/pkg/conditions"
	"github.com/serverlessplane/operator/pkg/metrics"
	"github.com/serverlessplane/operator/pkg/naming"
	"github.com/serverlessplane/operator/pkg/netpolicy"
	"github.com/serverlessplane/operator/pkg/quota"
	b "github.com/serverlessplane/operator/test/builders"
	"github.com/serverlessplane/operator/test/framework"
)

// readyWorkspace creates a workspace and waits until its namespace is provisioned.
func readyWorkspace(ctx SpecContext, w *computev1.Workspace) string {
	Expect(k8s.Create(ctx, w)).To(Succeed())
	expectCondition(w, computev1.ConditionReady, metav1.ConditionTrue, workspace.ReasonReady)
	return w.Name
}

// clustersOf lists a warehouse's cluster Deployments that are not being deleted.
func clustersOf(g Gomega, wh *computev1.ServerlessWarehouse) []appsv1.Deployment {
	list := &appsv1.DeploymentList{}
	g.Expect(k8s.List(bg(), list, client.InNamespace(wh.Namespace), client.MatchingLabels{computev1.LabelWarehouse: wh.Name})).To(Succeed())
	var out []appsv1.Deployment
	for _, d := range list.Items {
		if d.DeletionTimestamp.IsZero() {
			out = append(out, d)
		}
	}
	return out
}

// expectState waits until the warehouse is in state with the given ready clusters.
func expectState(wh *computev1.ServerlessWarehouse, state computev1.WarehouseState, ready int32) {
	EventuallyWithOffset(1, func(g Gomega) {
		g.Expect(k8s.Get(bg(), client.ObjectKeyFromObject(wh), wh)).To(Succeed())
		g.Expect(wh.Status.State).To(Equal(state), "conditions: %v", wh.Status.Conditions)
		g.Expect(wh.Status.ReadyClusters).To(Equal(ready))
		g.Expect(clustersOf(g, wh)).To(HaveLen(int(wh.Status.Clusters)))
	}).Should(Succeed())
}

// setLoad scripts a warehouse's load: running and queued queries on cluster "" (or per cluster).
func setLoad(wh *computev1.ServerlessWarehouse, running, queued float64) {
	load.SetWarehouse(wh.Namespace, wh.Name, metrics.WarehouseLoad{Clusters: map[string]metrics.QueryLoad{"": {Running: running, Queued: queued}}})
}

// advance moves the operator's clock forward.
func advance(d time.Duration) { env.Clock.Step(d) }

var _ = Describe("ServerlessWarehouse", func() {
	It("places its clusters in the workspace namespace, restricted-compliant, behind a Service", func(ctx SpecContext) {
		ns := readyWorkspace(ctx, b.Workspace(framework.Name("sql")).Obj())
		wh := b.Warehouse(ns, "bi").Size(computev1.ClusterSizeSmall).Spot(computev1.SpotReliabilityOptimized).Tag("team", "finance").Obj()
		Expect(k8s.Create(ctx, wh)).To(Succeed())
		expectState(wh, computev1.WarehouseRunning, 1)
		expectCondition(wh, computev1.ConditionReady, metav1.ConditionTrue, warehouse.ReasonRunning)
		expectKStatus(wh, status.CurrentStatus)
		Expect(wh.Status.Endpoint).To(Equal("bi." + ns + ".svc:8443"))
		Expect(wh.Status.DesiredClusters).To(BeEquivalentTo(1))

		clusters := clustersOf(Default, wh)
		Expect(clusters).To(HaveLen(1))
		d := clusters[0]
		expectControlledBy(&d, wh)
		Expect(d.Spec.Replicas).To(HaveValue(BeEquivalentTo(4)), "Small is 4 workers")
		tmpl := d.Spec.Template
		Expect(tmpl.Labels).To(HaveKeyWithValue(computev1.LabelWarehouse, "bi"))
		Expect(tmpl.Annotations).To(HaveKeyWithValue(warehouse.TagAnnotationPrefix+"team", "finance"))
		Expect(tmpl.Spec.ServiceAccountName).To(Equal(naming.WorkloadServiceAccount))
		Expect(tmpl.Spec.AutomountServiceAccountToken).To(HaveValue(BeFalse()))
		Expect(tmpl.Spec.Containers[0].Image).To(Equal(env.OperatorConfig.Warehouses.Images["Current"]))
		Expect(tmpl.Spec.Containers[0].Ports).To(ContainElement(HaveField("Name", netpolicy.PortSQL)))
		Expect(tmpl.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution).NotTo(BeNil(),
			"ReliabilityOptimized keeps off spot nodes")
		Expect(tmpl.Spec.Containers[0].Env).To(ContainElement(corev1.EnvVar{Name: "SERVERLESSPLANE_TPCH_SCALE", Value: "0.01"}))
		Expect(tmpl.Spec.Volumes).To(ContainElement(HaveField("Secret.SecretName", naming.WarehouseCertificate("bi"))))
		Expect(tmpl.Spec.Volumes).To(ContainElement(HaveField("EmptyDir.SizeLimit", HaveValue(Equal(resource.MustParse("20Gi"))))), "/tmp is bounded")

		By("the engines' serving certificate, from the operator CA, for the warehouse Service's names")
		secret := &corev1.Secret{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: naming.WarehouseCertificate("bi")}, secret)).To(Succeed())
		expectControlledBy(secret, wh)
		cert, err := certs.ParseCert(secret.Data[corev1.TLSCertKey])
		Expect(err).NotTo(HaveOccurred())
		Expect(cert.DNSNames).To(ContainElement("bi." + ns + ".svc"))
		Expect(secret.Data).To(HaveKey("ca.crt"))

		By("a pod of the template passes the namespace's restricted Pod Security admission")
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "psa-check", Labels: tmpl.Labels}, Spec: tmpl.Spec}
		Expect(k8s.Create(ctx, pod, client.DryRunAll)).To(Succeed())
		root := pod.DeepCopy()
		root.Spec.SecurityContext.RunAsNonRoot = ptr.To(false)
		root.Spec.Containers[0].SecurityContext.RunAsNonRoot = nil
		err = k8s.Create(ctx, root, client.DryRunAll)
		Expect(err).To(HaveOccurred(), "the namespace really enforces restricted")
		Expect(err.Error()).To(ContainSubstring("restricted"))

		svc := &corev1.Service{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "bi"}, svc)).To(Succeed())
		Expect(svc.Spec.Selector).To(Equal(map[string]string{computev1.LabelWarehouse: "bi", warehouse.LabelServing: "true"}))
		Expect(svc.Spec.Type).To(Equal(corev1.ServiceTypeClusterIP))

		By("deleting it removes its clusters and its quota, then the warehouse")
		Expect(k8s.Delete(ctx, wh)).To(Succeed())
		Eventually(func() bool { return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(wh), wh)) }).Should(BeTrue())
		Expect(clustersOf(Default, wh)).To(BeEmpty())
		Eventually(func(g Gomega) {
			g.Expect(ledger(g, "us-east-1")).NotTo(HaveKey(quota.Key(ns, "bi")))
		}).Should(Succeed())
	})

	It("forgets a warehouse deleted without its finalizer's pass: no scaler state or series stay", func(ctx SpecContext) {
		ns := readyWorkspace(ctx, b.Workspace(framework.Name("orphan")).Obj())
		wh := b.Warehouse(ns, "orphan").AutoStop(0).Obj()
		setLoad(wh, 0, 0)
		Expect(k8s.Create(ctx, wh)).To(Succeed())
		expectState(wh, computev1.WarehouseRunning, 1)
		Expect(operatorSeries(ns, "orphan")).NotTo(BeZero())

		By("a workspace admin strips the finalizer and deletes it")
		Expect(update(wh, func(w *computev1.ServerlessWarehouse) { w.Finalizers = nil })).To(Succeed())
		Expect(k8s.Delete(ctx, wh)).To(Succeed())
		Eventually(func() int { return operatorSeries(ns, "orphan") }).Should(BeZero())
	})

	It("places nothing outside a workspace namespace and says why", func(ctx SpecContext) {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: framework.Name("plain")}}
		Expect(k8s.Create(ctx, ns)).To(Succeed())
		wh := b.Warehouse(ns.Name, "stray").Obj()
		Expect(k8s.Create(ctx, wh)).To(Succeed())
		c := expectCondition(wh, computev1.ConditionStalled, metav1.ConditionTrue, workspaceref.ReasonNotInWorkspace)
		Expect(c.Message).To(ContainSubstring("workspace namespace"))
		expectKStatus(wh, status.FailedStatus)
		Consistently(func(g Gomega) []appsv1.Deployment { return clustersOf(g, wh) }).Should(BeEmpty())
	})

	It("stalls on a cluster size the operator does not offer and names the ones it does", func(ctx SpecContext) {
		ns := readyWorkspace(ctx, b.Workspace(framework.Name("unoffered")).Obj())
		wh := b.Warehouse(ns, "huge").Size(computev1.ClusterSize4XLarge).Obj()
		Expect(k8s.Create(ctx, wh)).To(Succeed())
		c := expectCondition(wh, computev1.ConditionStalled, metav1.ConditionTrue, warehouse.ReasonClusterSizeNotConfigured)
		Expect(c.Message).To(And(ContainSubstring("spec.clusterSize"), ContainSubstring(`"4X-Large"`), ContainSubstring("3X-Large")))
		expectKStatus(wh, status.FailedStatus)
		Consistently(func(g Gomega) []appsv1.Deployment { return clustersOf(g, wh) }).Should(BeEmpty())
	})

	It("writes status on a failed pass and recovers once the failure is gone", func(ctx SpecContext) {
		ns := readyWorkspace(ctx, b.Workspace(framework.Name("refused")).Obj())
		lift := denyByPolicy(ctx, ns, deployments, fmt.Sprintf("object.metadata.namespace != %q", ns), probeDeployment(ns))
		wh := b.Warehouse(ns, "bi").Obj()
		Expect(k8s.Create(ctx, wh)).To(Succeed())
		expectFailedPass(wh, "denied request")

		lift()
		expectState(wh, computev1.WarehouseRunning, 1)
		expectKStatus(wh, status.CurrentStatus)
	})

	It("refuses regions without serverless and external Hive metastores, and proceeds once fixed", func(ctx SpecContext) {
		classic := readyWorkspace(ctx, b.Workspace(framework.Name("classic")).Region("sa-east-1").Obj())
		wh := b.Warehouse(classic, "bi").Obj()
		Expect(k8s.Create(ctx, wh)).To(Succeed())
		c := expectCondition(wh, computev1.ConditionStalled, metav1.ConditionTrue, warehouse.ReasonRequirementsNotMet)
		Expect(c.Message).To(And(ContainSubstring("sa-east-1"), ContainSubstring("us-east-1")))
		expectKStatus(wh, status.FailedStatus)
		Expect(wh.Status.State).To(Equal(computev1.WarehouseStopped))

		hive := b.Workspace(framework.Name("hive")).Metastore(computev1.MetastoreExternalHive).Obj()
		ns := readyWorkspace(ctx, hive)
		wh2 := b.Warehouse(ns, "bi").Obj()
		Expect(k8s.Create(ctx, wh2)).To(Succeed())
		c = expectCondition(wh2, computev1.ConditionStalled, metav1.ConditionTrue, warehouse.ReasonRequirementsNotMet)
		Expect(c.Message).To(ContainSubstring("spec.metastore.type"))
		Consistently(func(g Gomega) []appsv1.Deployment { return clustersOf(g, wh2) }).Should(BeEmpty())

		By("switching the workspace to Glue lets the warehouse start")
		Expect(update(hive, func(w *computev1.Workspace) { w.Spec.Metastore.Type = computev1.MetastoreGlue })).To(Succeed())
		expectState(wh2, computev1.WarehouseRunning, 1)
		expectKStatus(wh2, status.CurrentStatus)
	})

	It("stops after autoStopMinutes idle and starts again when queries queue", func(ctx SpecContext) {
		ns := readyWorkspace(ctx, b.Workspace(framework.Name("stop")).Obj())
		wh := b.Warehouse(ns, "adhoc").AutoStop(1).Obj()
		setLoad(wh, 0, 0)
		Expect(k8s.Create(ctx, wh)).To(Succeed())
		expectState(wh, computev1.WarehouseRunning, 1)

		By("staying under a minute idle keeps it running")
		advance(50 * time.Second)
		Consistently(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(wh), wh)).To(Succeed())
			g.Expect(wh.Status.State).To(Equal(computev1.WarehouseRunning))
		}, 3*syncPeriod).Should(Succeed())

		By("a minute idle stops it")
		advance(15 * time.Second)
		expectState(wh, computev1.WarehouseStopped, 0)
		c := expectCondition(wh, computev1.ConditionReady, metav1.ConditionTrue, warehouse.ReasonStopped)
		Expect(c.Message).To(ContainSubstring("1m0s without queries"))
		expectKStatus(wh, status.CurrentStatus)
		Eventually(func(g Gomega) { g.Expect(ledger(g, "us-east-1")).NotTo(HaveKey(quota.Key(ns, "adhoc"))) }).Should(Succeed())

		By("a queued query brings it back through Starting")
		env.Deployments.Hold(func(d *appsv1.Deployment) bool { return d.Namespace == ns })
		setLoad(wh, 0, 3)
		expectState(wh, computev1.WarehouseStarting, 0)
		expectKStatus(wh, status.InProgressStatus)
		env.Deployments.Hold(nil)
		expectState(wh, computev1.WarehouseRunning, 1)
		Expect(wh.Status.LastActiveTime.Time).To(BeTemporally("==", env.Clock.Now().Truncate(time.Second)))
	})

	It("scales from 1 to N clusters under load and back, draining the least-loaded cluster", func(ctx SpecContext) {
		ns := readyWorkspace(ctx, b.Workspace(framework.Name("scale")).Obj())
		wh := b.Warehouse(ns, "etl").Size(computev1.ClusterSize2XSmall).Clusters(1, 5).AutoStop(0).Obj()
		setLoad(wh, 0, 0)
		Expect(k8s.Create(ctx, wh)).To(Succeed())
		expectState(wh, computev1.WarehouseRunning, 1)

		By("45 queries want 7 clusters of 10 at 70%; the maximum is 5")
		setLoad(wh, 20, 25)
		advance(61 * time.Second)
		expectState(wh, computev1.WarehouseRunning, 5)
		Expect(wh.Status.DesiredClusters).To(BeEquivalentTo(5))
		Expect(wh.Status.Load.QueuedQueries).To(BeEquivalentTo(25))
		Expect(wh.Status.Autoscaling.Reason).To(ContainSubstring("load 45"))

		By("when load falls, scale-down waits out the stabilization window")
		ids := []string{}
		for _, d := range clustersOf(Default, wh) {
			ids = append(ids, d.Labels[computev1.LabelCluster])
		}
		slices.Sort(ids)
		// Two clusters still have queries; the planner keeps the busiest ones.
		perCluster := map[string]metrics.QueryLoad{}
		for _, id := range ids {
			perCluster[id] = metrics.QueryLoad{}
		}
		perCluster[ids[0]] = metrics.QueryLoad{Running: 4}
		perCluster[ids[1]] = metrics.QueryLoad{Running: 3}
		load.SetWarehouse(ns, "etl", metrics.WarehouseLoad{Clusters: perCluster})
		advance(61 * time.Second)
		Consistently(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(wh), wh)).To(Succeed())
			g.Expect(wh.Status.DesiredClusters).To(BeEquivalentTo(5))
		}, 3*syncPeriod).Should(Succeed())
		advance(5 * time.Minute)
		By("the idle clusters go at once; the one with queries drains, out of the Service, until they finish")
		Eventually(func(g Gomega) {
			remaining := map[string]appsv1.Deployment{}
			for _, d := range clustersOf(g, wh) {
				remaining[d.Labels[computev1.LabelCluster]] = d
			}
			g.Expect(remaining).To(HaveLen(2))
			g.Expect(remaining).To(HaveKey(ids[0]), "the busiest cluster stays")
			g.Expect(remaining[ids[0]].Annotations).NotTo(HaveKey(warehouse.AnnotationDrainingSince))
			g.Expect(remaining).To(HaveKey(ids[1]))
			g.Expect(remaining[ids[1]].Annotations).To(HaveKey(warehouse.AnnotationDrainingSince))
		}).Should(Succeed())
		expectState(wh, computev1.WarehouseRunning, 1)
		perCluster[ids[1]] = metrics.QueryLoad{}
		load.SetWarehouse(ns, "etl", metrics.WarehouseLoad{Clusters: perCluster})
		Eventually(func(g Gomega) {
			remaining := clustersOf(g, wh)
			g.Expect(remaining).To(HaveLen(1))
			g.Expect(remaining[0].Labels[computev1.LabelCluster]).To(Equal(ids[0]))
		}).Should(Succeed())
	})

	It("makes no write when an autoscaling tick finds nothing changed", func(ctx SpecContext) {
		ns := readyWorkspace(ctx, b.Workspace(framework.Name("steady")).Obj())
		wh := b.Warehouse(ns, "bi").Clusters(1, 3).AutoStop(0).Obj()
		setLoad(wh, 5, 0) // one cluster's worth, with load to decide on every tick
		Expect(k8s.Create(ctx, wh)).To(Succeed())
		expectState(wh, computev1.WarehouseRunning, 1)
		reservation := naming.QuotaReservation(ns, wh.Name)
		mine := func(w framework.Write) bool { return w.Namespace == ns || w.Name == reservation }

		quiet(mine)
		mark := env.Writes.Len()
		for range 3 {
			awaitPass("ServerlessWarehouse", ns, wh.Name, "")
		}
		Expect(joinWrites(env.Writes.Since(mark, mine))).To(BeEmpty())
	})

	It("holds the count and says so when the load cannot be read", func(ctx SpecContext) {
		ns := readyWorkspace(ctx, b.Workspace(framework.Name("blind")).Obj())
		wh := b.Warehouse(ns, "bi").Clusters(2, 4).AutoStop(1).Obj()
		Expect(k8s.Create(ctx, wh)).To(Succeed())
		expectState(wh, computev1.WarehouseRunning, 2)
		load.Fail(ns, "bi", "", errors.New("connection refused"))
		DeferCleanup(func() { load.Fail(ns, "bi", "", nil) })
		c := expectCondition(wh, conditions.ConditionMetricsAvailable, metav1.ConditionFalse, conditions.ReasonMetricsUnavailable)
		Expect(c.Message).To(ContainSubstring("connection refused"))
		advance(10 * time.Minute)
		Consistently(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(wh), wh)).To(Succeed())
			g.Expect(wh.Status.State).To(Equal(computev1.WarehouseRunning), "no auto-stop on missing data")
			g.Expect(wh.Status.ReadyClusters).To(BeEquivalentTo(2))
		}, 4*syncPeriod).Should(Succeed())
	})

	It("puts a cluster's pods back in the Service when a drain was interrupted before it was recorded", func(ctx SpecContext) {
		ns := readyWorkspace(ctx, b.Workspace(framework.Name("crash")).Obj())
		wh := b.Warehouse(ns, "bi").Size(computev1.ClusterSize2XSmall).Clusters(2, 2).AutoStop(0).Obj()
		setLoad(wh, 7, 7)
		Expect(k8s.Create(ctx, wh)).To(Succeed())
		expectState(wh, computev1.WarehouseRunning, 2)
		d := clustersOf(Default, wh)[0]
		Expect(d.Annotations).NotTo(HaveKey(warehouse.AnnotationDrainingSince))

		By("a pod of a serving cluster out of the Service, as a pass stopped after relabelling it would leave it")
		labels := maps.Clone(d.Spec.Template.Labels)
		labels[warehouse.LabelServing] = "false"
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: d.Name + "-stranded", Labels: labels}, Spec: d.Spec.Template.Spec}
		Expect(k8s.Create(ctx, pod)).To(Succeed())
		Eventually(func(g Gomega) string {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(pod), pod)).To(Succeed())
			return pod.Labels[warehouse.LabelServing]
		}).Should(Equal("true"), "the Deployment records no drain, so its pods serve")
	})

	It("rolls clusters one at a time on a spec change, adding before removing", func(ctx SpecContext) {
		ns := readyWorkspace(ctx, b.Workspace(framework.Name("roll")).Obj())
		wh := b.Warehouse(ns, "bi").Size(computev1.ClusterSize2XSmall).Clusters(2, 2).AutoStop(0).Obj()
		setLoad(wh, 7, 7)
		Expect(k8s.Create(ctx, wh)).To(Succeed())
		expectState(wh, computev1.WarehouseRunning, 2)
		old := map[string]bool{}
		for _, d := range clustersOf(Default, wh) {
			old[d.Name] = true
		}

		mark := env.Writes.Len()
		Expect(update(wh, func(w *computev1.ServerlessWarehouse) {
			w.Spec.Engine = &computev1.WarehouseEngine{Image: "example.com/sql-engine:2"}
		})).To(Succeed())
		Eventually(func(g Gomega) {
			cs := clustersOf(g, wh)
			g.Expect(cs).To(HaveLen(2))
			for _, d := range cs {
				g.Expect(old).NotTo(HaveKey(d.Name))
				g.Expect(d.Spec.Template.Spec.Containers[0].Image).To(Equal("example.com/sql-engine:2"))
			}
		}).Should(Succeed())
		expectState(wh, computev1.WarehouseRunning, 2)

		// Replay the writes: at no point were fewer than 2 clusters standing, and never more than 3.
		standing := len(old)
		for _, w := range env.Writes.Since(mark, func(w framework.Write) bool { return w.Namespace == ns && w.Type == "Deployment" }) {
			switch {
			case w.Verb == "apply" && !old[w.Name]:
				standing++
				old[w.Name] = true
			case w.Verb == "delete":
				standing--
			}
			Expect(standing).To(BeNumerically(">=", 2), "after %s", w)
			Expect(standing).To(BeNumerically("<=", 3), "after %s", w)
		}
	})

	Describe("the regional quota", func() {
		It("never lets the region exceed it: at the cap nothing starts or grows, nothing stops, and capacity that frees is used", func(ctx SpecContext) {
			ns1 := readyWorkspace(ctx, b.Workspace(framework.Name("q1")).Region(quotaRegion).Obj())
			ns2 := readyWorkspace(ctx, b.Workspace(framework.Name("q2")).Region(quotaRegion).Obj())
			first := b.Warehouse(ns1, "first").Clusters(1, 3).AutoStop(0).Obj()
			second := b.Warehouse(ns2, "second").AutoStop(0).Obj()
			third := b.Warehouse(ns2, "third").AutoStop(0).Obj()
			for _, w := range []*computev1.ServerlessWarehouse{first, second, third} {
				setLoad(w, 1, 0)
			}
			Expect(k8s.Create(ctx, first)).To(Succeed())
			expectState(first, computev1.WarehouseRunning, 1)
			Expect(k8s.Create(ctx, second)).To(Succeed())
			expectState(second, computev1.WarehouseRunning, 1)

			By("the third cannot start: 24 of 24 DBU/h are used")
			Expect(k8s.Create(ctx, third)).To(Succeed())
			c := expectCondition(third, computev1.ConditionReady, metav1.ConditionFalse, warehouse.ReasonQuotaExceeded)
			Expect(c.Message).To(And(ContainSubstring("24 DBU/h used"), ContainSubstring("12 DBU/h requested"), ContainSubstring("quota 24 DBU/h")))
			Expect(third.Status.State).To(Equal(computev1.WarehouseStarting))
			expectKStatus(third, status.InProgressStatus)

			By("the first cannot grow, and keeps what it runs")
			setLoad(first, 20, 10)
			advance(61 * time.Second)
			c = expectCondition(first, warehouse.ConditionQuotaExceeded, metav1.ConditionTrue, warehouse.ReasonQuotaExceeded)
			Expect(c.Message).To(ContainSubstring("quota 24 DBU/h"))
			Consistently(func(g Gomega) {
				g.Expect(ledger(g, quotaRegion).Used("")).To(BeNumerically("<=", 24))
				g.Expect(clustersOf(g, first)).To(HaveLen(1))
				g.Expect(clustersOf(g, second)).To(HaveLen(1))
				g.Expect(clustersOf(g, third)).To(BeEmpty())
			}).Should(Succeed())

			By("deleting the second frees 12 DBU/h, and the third starts")
			setLoad(first, 1, 0)
			advance(61 * time.Second)
			Expect(k8s.Delete(ctx, second)).To(Succeed())
			expectState(third, computev1.WarehouseRunning, 1)
			Eventually(func(g Gomega) {
				g.Expect(ledger(g, quotaRegion)).To(Equal(quota.Ledger{quota.Key(ns1, "first"): 12, quota.Key(ns2, "third"): 12}))
			}).Should(Succeed())
		})

		It("gives the last capacity to exactly one of two warehouses reconciled at once", func(ctx SpecContext) {
			ns := readyWorkspace(ctx, b.Workspace(framework.Name("race")).Region(raceRegion).Obj())
			// 24 DBU/h: one warehouse of 2 Small clusters fits, two of them do not, and a warehouse
			// starts with all of its minimum clusters or none.
			a := b.Warehouse(ns, "a").Clusters(2, 2).AutoStop(0).Obj()
			c := b.Warehouse(ns, "c").Clusters(2, 2).AutoStop(0).Obj()
			var wg sync.WaitGroup
			for _, w := range []*computev1.ServerlessWarehouse{a, c} {
				wg.Go(func() { defer GinkgoRecover(); Expect(k8s.Create(ctx, w)).To(Succeed()) })
			}
			wg.Wait()
			counts := func(g Gomega) []int { return []int{len(clustersOf(g, a)), len(clustersOf(g, c))} }
			Eventually(counts).Should(ConsistOf(2, 0))
			Consistently(func(g Gomega) {
				g.Expect(ledger(g, raceRegion).Used("")).To(BeNumerically("<=", 24))
				g.Expect(counts(g)).To(ConsistOf(2, 0))
			}).Should(Succeed())
		})

		It("releases a warehouse deleted without its finalizer, and rebuilds a damaged or deleted ledger from the live clusters", func(ctx SpecContext) {
			ns := readyWorkspace(ctx, b.Workspace(framework.Name("ledger")).Region(ledgerRegion).Obj())
			keep := b.Warehouse(ns, "keep").Clusters(1, 1).AutoStop(0).Obj()
			strip := b.Warehouse(ns, "strip").Clusters(1, 1).AutoStop(0).Obj()
			Expect(k8s.Create(ctx, keep)).To(Succeed())
			Expect(k8s.Create(ctx, strip)).To(Succeed())
			held := func(g Gomega) quota.Ledger { return ledger(g, ledgerRegion) }
			Eventually(held).Should(Equal(quota.Ledger{quota.Key(ns, "keep"): 12, quota.Key(ns, "strip"): 12}))

			By("a workspace admin strips the finalizer and deletes a warehouse; garbage collection removes its clusters")
			Expect(update(strip, func(w *computev1.ServerlessWarehouse) { w.Finalizers = nil })).To(Succeed())
			Expect(k8s.Delete(ctx, strip)).To(Succeed())
			Expect(k8s.DeleteAllOf(ctx, &appsv1.Deployment{}, client.InNamespace(ns), client.MatchingLabels{computev1.LabelWarehouse: "strip"})).To(Succeed())
			Eventually(held).Should(Equal(quota.Ledger{quota.Key(ns, "keep"): 12}), "its quota is released")

			By("an edit that damages the region's total")
			cm := &corev1.ConfigMap{}
			key := client.ObjectKey{Namespace: env.OperatorConfig.OperatorNamespace, Name: naming.QuotaLedger(ledgerRegion)}
			Expect(k8s.Get(ctx, key, cm)).To(Succeed())
			cm.Data = map[string]string{"dbuPerHour": "lots", "stray": "7"}
			Expect(k8s.Update(ctx, cm)).To(Succeed())
			Eventually(held).Should(Equal(quota.Ledger{quota.Key(ns, "keep"): 12}), "rebuilt from the reservations")

			By("an edit that lowers a reservation below what its clusters cost")
			res := &corev1.ConfigMap{}
			resKey := client.ObjectKey{Namespace: env.OperatorConfig.OperatorNamespace, Name: naming.QuotaReservation(ns, "keep")}
			Expect(k8s.Get(ctx, resKey, res)).To(Succeed())
			res.Data["dbuPerHour"] = "1"
			Expect(k8s.Update(ctx, res)).To(Succeed())
			Eventually(held).Should(Equal(quota.Ledger{quota.Key(ns, "keep"): 12}), "raised to the live clusters")

			By("deleting the whole ledger")
			Expect(k8s.Delete(ctx, cm)).To(Succeed())
			Expect(k8s.Delete(ctx, res)).To(Succeed())
			Eventually(held).Should(Equal(quota.Ledger{quota.Key(ns, "keep"): 12}), "rebuilt from the live clusters")

			By("a ledger of the old layout, one entry per warehouse in the region's ConfigMap")
			Expect(k8s.Get(ctx, key, cm)).To(Succeed())
			cm.Data = map[string]string{ns + ".keep": "12", ns + ".gone": "24", "stray": "7"}
			Expect(k8s.Update(ctx, cm)).To(Succeed())
			Eventually(held).Should(Equal(quota.Ledger{quota.Key(ns, "keep"): 12}), "rebuilt in the new layout")
		})

		It("keeps the ledger within the quota under concurrent reservations", func(ctx SpecContext) {
			l := &warehouse.Ledger{Client: env.Client, Reader: env.Client, Namespace: env.OperatorConfig.OperatorNamespace, Config: env.OperatorConfig}
			region := "concurrency-" + framework.Name("r")
			const limit, step, workers = 120, 12, 25
			// The region's total, which every reservation is checked against. (Its repair would
			// release the reservations below, of warehouses that do not exist.)
			Expect(l.Repair(ctx, region)).To(Succeed())
			var wg sync.WaitGroup
			granted := make([]int32, workers)
			for i := range workers {
				wg.Go(func() {
					defer GinkgoRecover()
					key := quota.Key("ns", framework.Name("w"))
					_, err := l.Update(ctx, region, key, func(others, _ int64) int64 {
						granted[i] = quota.Fit(limit, others, 0, step, 1)
						return int64(granted[i]) * step
					})
					Expect(err).NotTo(HaveOccurred())
				})
			}
			wg.Wait()
			total := int32(0)
			for _, g := range granted {
				total += g
			}
			Expect(total).To(BeEquivalentTo(limit/step), "exactly as many reservations as fit")
			Expect(ledger(Default, region).Used("")).To(BeEquivalentTo(limit))
		})
	})
})

// ledger reads a region's reservations from the API server; the region's total must be their
// sum.
func ledger(g Gomega, region string) quota.Ledger {
	total, ok, held, err := warehouse.Snapshot(bg(), k8s, env.OperatorConfig.OperatorNamespace, region)
	g.Expect(err).NotTo(HaveOccurred())
	if len(held) > 0 {
		g.Expect(ok).To(BeTrue(), "the region's total parses")
	}
	g.Expect(total).To(Equal(held.Used("")), "the region's total is the sum of its reservations %v", held)
	return held
}

// operatorSeries counts the operator's series about the warehouse.
func operatorSeries(ns, name string) int {
	families, err := ctrlmetrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	n := 0
	for _, f := range families {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["namespace"] == ns && (labels["name"] == name || labels["warehouse"] == name) {
				n++
			}
		}
	}
	return n
}
