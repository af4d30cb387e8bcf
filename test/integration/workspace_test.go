package integration

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/controllers/modelendpoint"
	"github.com/serverlessplane/operator/controllers/workspace"
	"github.com/serverlessplane/operator/pkg/naming"
	"github.com/serverlessplane/operator/pkg/netpolicy"
	b "github.com/serverlessplane/operator/test/builders"
	"github.com/serverlessplane/operator/test/framework"
)

var _ = Describe("Workspace", func() {
	It("creates an isolated namespace it owns, with quota, limits, admins and a workload identity", func(ctx SpecContext) {
		name := framework.Name("ws")
		ws := b.Workspace(name).
			Admin(computev1.SubjectUser, "alice@example.com", "").
			Admin(computev1.SubjectServiceAccount, "deployer", "ci").
			Quota(corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("64")}).
			Defaults(corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")}, corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}).
			Obj()
		Expect(k8s.Create(ctx, ws)).To(Succeed())
		expectCondition(ws, computev1.ConditionReady, metav1.ConditionTrue, workspace.ReasonReady)
		Expect(ws.Status.Namespace).To(Equal(name))
		Expect(ws.Status.ObservedGeneration).To(Equal(ws.Generation))

		ns := &corev1.Namespace{}
		Expect(k8s.Get(ctx, client.ObjectKey{Name: name}, ns)).To(Succeed())
		Expect(ws.Status.NamespaceUID).To(Equal(ns.UID), "the namespace it created is recorded")
		Expect(ns.Labels).To(HaveKeyWithValue("pod-security.kubernetes.io/enforce", "restricted"))
		Expect(ns.Labels).To(HaveKeyWithValue(computev1.LabelWorkspace, name))
		Expect(ns.Labels).To(HaveKeyWithValue(computev1.LabelManagedBy, computev1.ManagedByValue))
		expectControlledBy(ns, ws)

		sa := &corev1.ServiceAccount{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: name, Name: naming.WorkloadServiceAccount}, sa)).To(Succeed())
		Expect(sa.AutomountServiceAccountToken).To(HaveValue(BeFalse()))
		expectControlledBy(sa, ws)

		quota := &corev1.ResourceQuota{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: name, Name: naming.ResourceQuota}, quota)).To(Succeed())
		Expect(quota.Spec.Hard).To(HaveLen(1), "only requests.cpu is set")
		Expect(quota.Spec.Hard[corev1.ResourceRequestsCPU]).To(Equal(resource.MustParse("64")))

		lr := &corev1.LimitRange{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: name, Name: naming.LimitRange}, lr)).To(Succeed())
		Expect(lr.Spec.Limits).To(HaveLen(1))
		Expect(lr.Spec.Limits[0].DefaultRequest.Cpu().String()).To(Equal("250m"))
		Expect(lr.Spec.Limits[0].Default.Memory().String()).To(Equal("1Gi"))

		rb := &rbacv1.RoleBinding{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: name, Name: naming.AdminsRoleBinding}, rb)).To(Succeed())
		Expect(rb.RoleRef.Name).To(Equal(naming.WorkspaceAdminClusterRole))
		Expect(rb.Subjects).To(ConsistOf(
			rbacv1.Subject{Kind: "ServiceAccount", Name: "deployer", Namespace: "ci"},
			rbacv1.Subject{Kind: "User", APIGroup: rbacv1.GroupName, Name: "alice@example.com"},
		))

		policies := &networkingv1.NetworkPolicyList{}
		Expect(k8s.List(ctx, policies, client.InNamespace(name))).To(Succeed())
		Expect(names(ptrs(policies.Items))).To(ConsistOf(
			netpolicy.DefaultDeny, netpolicy.AllowDNS, netpolicy.EgressStorage, netpolicy.IngressWarehouses, netpolicy.IngressModels))
		for i := range policies.Items {
			expectControlledBy(&policies.Items[i], ws)
		}

		By("a workspace provisioned before namespace UIDs were recorded records the namespace it reports")
		legacy := ws.DeepCopy()
		legacy.Status.NamespaceUID = ""
		Expect(k8s.Status().Patch(ctx, legacy, client.MergeFrom(ws))).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(ws), ws)).To(Succeed())
			g.Expect(ws.Status.NamespaceUID).To(Equal(ns.UID))
		}).Should(Succeed())
		expectCondition(ws, computev1.ConditionReady, metav1.ConditionTrue, workspace.ReasonReady)

		By("removing admins, quota and defaults from the spec removes their objects")
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(ws), ws)).To(Succeed())
		ws.Spec.Admins, ws.Spec.ResourceQuota, ws.Spec.DefaultContainerResources = nil, nil, nil
		Expect(k8s.Update(ctx, ws)).To(Succeed())
		for _, o := range []client.Object{
			&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: name, Name: naming.AdminsRoleBinding}},
			&corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: name, Name: naming.ResourceQuota}},
			&corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Namespace: name, Name: naming.LimitRange}},
		} {
			Eventually(func() bool {
				return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(o), o))
			}).Should(BeTrue(), "%T %s", o, o.GetName())
		}

		// envtest runs no garbage collector: that it removes the namespace the workspace controls
		// (checked above) is proven in test/e2e (deleteSamples). Here: nothing holds the deletion.
		By("deleting the workspace waits for no finalizer of the operator")
		Expect(k8s.Delete(ctx, ws)).To(Succeed())
		Eventually(func() bool { return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(ws), ws)) }).Should(BeTrue())
	})

	It("never adopts, changes or deletes a namespace it did not create", func(ctx SpecContext) {
		name := framework.Name("taken")
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"team": "data"}}}
		Expect(k8s.Create(ctx, ns)).To(Succeed())
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(ns), ns)).To(Succeed())
		rv := ns.ResourceVersion

		ws := b.Workspace(name).Obj()
		Expect(k8s.Create(ctx, ws)).To(Succeed())
		c := expectCondition(ws, computev1.ConditionStalled, metav1.ConditionTrue, workspace.ReasonNamespaceConflict)
		Expect(c.Message).To(ContainSubstring("was not created for this workspace"))
		expectCondition(ws, computev1.ConditionReady, metav1.ConditionFalse, workspace.ReasonNamespaceConflict)
		expectKStatus(ws, status.FailedStatus)
		Expect(ws.Status.Namespace).To(BeEmpty())

		expectUntouched(ns.Name, rv)

		Expect(k8s.Delete(ctx, ws)).To(Succeed())
		Eventually(func() bool { return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(ws), ws)) }).Should(BeTrue())
		got := &corev1.Namespace{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(ns), got)).To(Succeed())
		Expect(got.DeletionTimestamp).To(BeNil(), "the namespace survives the workspace")
		Expect(got.ResourceVersion).To(Equal(rv))
	})

	It("never takes a namespace forged with an owner reference to the workspace", func(ctx SpecContext) {
		name := framework.Name("forged")
		By("an admission policy stands in for losing the race: the operator cannot create the namespace, the forger can")
		denyByPolicy(ctx, name, namespaces, fmt.Sprintf(
			"object.metadata.name != %q || (has(object.metadata.labels) && 'forged' in object.metadata.labels)", name),
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
		ws := b.Workspace(name).Obj()
		Expect(k8s.Create(ctx, ws)).To(Succeed())
		forged := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			"forged": "true", computev1.LabelWorkspace: name, computev1.LabelManagedBy: computev1.ManagedByValue,
		}}}
		Expect(controllerutil.SetControllerReference(ws, forged, k8s.Scheme())).To(Succeed())
		Expect(k8s.Create(ctx, forged)).To(Succeed())
		rv := forged.ResourceVersion

		c := expectCondition(ws, computev1.ConditionStalled, metav1.ConditionTrue, workspace.ReasonNamespaceConflict)
		Expect(c.Message).To(ContainSubstring("was not created for this workspace"))
		Expect(ws.Status.Namespace).To(BeEmpty())
		expectUntouched(name, rv)
		Expect(k8s.Delete(ctx, ws)).To(Succeed())
	})

	It("writes status on a failed pass and recovers once the failure is gone", func(ctx SpecContext) {
		name := framework.Name("refused")
		labels := map[string]string{computev1.LabelWorkspace: name}
		lift := denyByPolicy(ctx, name, networkPolicies, fmt.Sprintf(
			"!has(object.metadata.labels) || !(%[1]q in object.metadata.labels) || object.metadata.labels[%[1]q] != %[2]q", computev1.LabelWorkspace, name),
			&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: "default", Labels: labels}})
		ws := b.Workspace(name).Obj()
		Expect(k8s.Create(ctx, ws)).To(Succeed())
		expectFailedPass(ws, "denied request")

		lift()
		expectCondition(ws, computev1.ConditionReady, metav1.ConditionTrue, workspace.ReasonReady)
		Expect(ws.Status.ObservedGeneration).To(Equal(ws.Generation))
		Expect(meta.FindStatusCondition(ws.Status.Conditions, computev1.ConditionReconciling)).To(BeNil())
	})

	It("stalls on a region the operator does not know, creating nothing", func(ctx SpecContext) {
		ws := b.Workspace(framework.Name("mars")).Region("mars-north-1").Obj()
		Expect(k8s.Create(ctx, ws)).To(Succeed())
		c := expectCondition(ws, computev1.ConditionStalled, metav1.ConditionTrue, workspace.ReasonUnknownRegion)
		Expect(c.Message).To(And(ContainSubstring("spec.region"), ContainSubstring("us-east-1")))
		Consistently(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Name: ws.Name}, &corev1.Namespace{}))
		}).Should(BeTrue())
	})

	It("reports kstatus InProgress right after a spec change and Current once reconciled", func(ctx SpecContext) {
		ws := b.Workspace(framework.Name("ks")).Obj()
		Expect(k8s.Create(ctx, ws)).To(Succeed())
		expectCondition(ws, computev1.ConditionReady, metav1.ConditionTrue, workspace.ReasonReady)
		expectKStatus(ws, status.CurrentStatus)

		ws.Spec.Metastore.Type = computev1.MetastoreGlue
		Expect(k8s.Update(ctx, ws)).To(Succeed())
		got, _, err := framework.KStatus(ws) // the object as the update returned it
		Expect(err).NotTo(HaveOccurred())
		Expect(got).To(Equal(status.InProgressStatus), "generation %d, observed %d", ws.Generation, ws.Status.ObservedGeneration)
		expectKStatus(ws, status.CurrentStatus)
	})

	It("makes no write when it reconciles an unchanged workspace again", func(ctx SpecContext) {
		n := b.NCC(framework.Name("quiet")).Rule("db", computev1.ResourceRDS, []string{"10.0.0.5"}, 5432).Allow("203.0.113.0/24", 443).Obj()
		Expect(k8s.Create(ctx, n)).To(Succeed())
		ws := b.Workspace(framework.Name("quiet")).NCC(n.Name).Admin(computev1.SubjectGroup, "analysts", "").
			Quota(corev1.ResourceList{corev1.ResourcePods: resource.MustParse("100")}).Obj()
		Expect(k8s.Create(ctx, ws)).To(Succeed())
		expectCondition(ws, computev1.ConditionReady, metav1.ConditionTrue, workspace.ReasonReady)
		expectBound(n, ws.Name)
		expectCondition(n, computev1.ConditionReady, metav1.ConditionTrue, "Ready")
		mine := inNamespaceOrNamed(ws.Name, ws.Name)

		quiet(mine)
		mark := env.Writes.Len()
		passes := reconciles("workspace")
		nccPasses := reconciles("networkconnectivityconfig")
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(ws), ws)).To(Succeed())
		ws.Annotations = map[string]string{"example.com/touched": "yes"}
		Expect(k8s.Update(ctx, ws)).To(Succeed()) // metadata only: triggers both controllers
		Eventually(func() float64 { return reconciles("workspace") }).Should(BeNumerically(">", passes))
		Eventually(func() float64 { return reconciles("networkconnectivityconfig") }).Should(BeNumerically(">", nccPasses))
		Consistently(func() string { return joinWrites(env.Writes.Since(mark, mine)) }).Should(BeEmpty())
	})
})

var _ = Describe("Child objects edited by hand", func() {
	// The operator's cache keeps lean copies of Deployments and NetworkPolicies (no pod spec,
	// no rules): the apply compares them with the API server's copy, and must still see an edit.
	It("puts back a NetworkPolicy's rules and a Deployment's pod spec that someone changed", func(ctx SpecContext) {
		ns := readyWorkspace(ctx, b.Workspace(framework.Name("drift")).Obj())
		deny := &networkingv1.NetworkPolicy{}
		key := client.ObjectKey{Namespace: ns, Name: netpolicy.DefaultDeny}
		Expect(k8s.Get(ctx, key, deny)).To(Succeed())
		want := deny.Spec.DeepCopy()
		deny.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress} // egress no longer denied
		Expect(k8s.Update(ctx, deny)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, key, deny)).To(Succeed())
			g.Expect(deny.Spec).To(Equal(*want))
		}).Should(Succeed(), "the default-deny policy denies egress again")

		ep := b.Endpoint(ns, "churn").Entity("champion", "main.default.churn", "3").Obj()
		load.SetInFlight(ns, "churn", "champion", 1)
		Expect(k8s.Create(ctx, ep)).To(Succeed())
		expectCondition(ep, computev1.ConditionReady, metav1.ConditionTrue, modelendpoint.ReasonReady)
		d := deploymentOf(Default, ep, "champion")
		image := d.Spec.Template.Spec.Containers[0].Image
		d.Spec.Template.Spec.Containers[0].Image = "example.com/not-the-model-server:1"
		Expect(k8s.Update(ctx, d)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(deploymentOf(g, ep, "champion").Spec.Template.Spec.Containers[0].Image).To(Equal(image))
		}).Should(Succeed(), "the model server's image is back")
	})
})

// expectControlledBy asserts that owner is obj's controller, so garbage collection deletes obj
// with it.
func expectControlledBy(obj client.Object, owner client.Object) {
	ref := metav1.GetControllerOf(obj)
	ExpectWithOffset(1, ref).NotTo(BeNil(), "%T %s has no controller", obj, obj.GetName())
	ExpectWithOffset(1, ref.UID).To(Equal(owner.GetUID()))
	ExpectWithOffset(1, ref.BlockOwnerDeletion).To(HaveValue(BeTrue()))
}

func ptrs[T any](items []T) []*T {
	out := make([]*T, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}

// expectUntouched checks that the namespace name keeps resourceVersion rv and that the operator
// creates nothing in it.
func expectUntouched(name, rv string) {
	ConsistentlyWithOffset(1, func(g Gomega) {
		got := &corev1.Namespace{}
		g.Expect(k8s.Get(bg(), client.ObjectKey{Name: name}, got)).To(Succeed())
		g.Expect(got.ResourceVersion).To(Equal(rv), "the namespace is not changed")
		policies := &networkingv1.NetworkPolicyList{}
		g.Expect(k8s.List(bg(), policies, client.InNamespace(name))).To(Succeed())
		g.Expect(policies.Items).To(BeEmpty(), "nothing is created in it")
	}).Should(Succeed())
}
