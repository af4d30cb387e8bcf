package integration

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/controllers/ncc"
	"github.com/serverlessplane/operator/controllers/workspace"
	"github.com/serverlessplane/operator/pkg/conditions"
	"github.com/serverlessplane/operator/pkg/naming"
	"github.com/serverlessplane/operator/pkg/netpolicy"
	b "github.com/serverlessplane/operator/test/builders"
	"github.com/serverlessplane/operator/test/framework"
)

var _ = Describe("NetworkConnectivityConfig", func() {
	It("materializes each rule in every bound workspace and removes a rule's objects with the rule", func(ctx SpecContext) {
		n := b.NCC(framework.Name("net")).
			Rule("orders-db", computev1.ResourceRDS, []string{"10.20.0.15", "10.20.0.16", "10.21.0.0/24"}, 5432).RuleDomains("orders.db.internal").
			Rule("lake", computev1.ResourceS3, []string{"10.30.0.10"}, 443).
			Obj()
		Expect(k8s.Create(ctx, n)).To(Succeed())
		a := b.Workspace(framework.Name("a")).NCC(n.Name).Obj()
		c := b.Workspace(framework.Name("c")).NCC(n.Name).Obj()
		Expect(k8s.Create(ctx, a)).To(Succeed())
		Expect(k8s.Create(ctx, c)).To(Succeed())

		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(n), n)).To(Succeed())
			g.Expect(n.Status.BoundWorkspaces).To(ConsistOf(a.Name, c.Name))
			g.Expect(n.Status.BoundWorkspaceCount).To(BeEquivalentTo(2))
			g.Expect(n.Status.Rules).To(HaveLen(2))
			for _, r := range n.Status.Rules {
				g.Expect(r.ConnectionState).To(Equal(computev1.ConnectionEstablished), r.Message)
			}
		}).Should(Succeed())
		expectCondition(n, computev1.ConditionReady, metav1.ConditionTrue, ncc.ReasonReady)
		Expect(n.Status.EgressCIDRs).To(Equal(env.OperatorConfig.Regions[0].StableEgressCIDRs))
		Expect(n.Status.Rules[0].Message).To(ContainSubstring("10.21.0.0/24 reachable by egress but not behind Service"))

		expectCondition(a, computev1.ConditionReady, metav1.ConditionTrue, workspace.ReasonReady)
		Expect(a.Status.EgressCIDRs).To(Equal(n.Status.EgressCIDRs))

		for _, ws := range []string{a.Name, c.Name} {
			svc := &corev1.Service{}
			Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ws, Name: "pe-orders-db"}, svc)).To(Succeed())
			Expect(svc.Spec.Selector).To(BeEmpty(), "a private endpoint Service has no selector")
			Expect(svc.Spec.Ports).To(ConsistOf(HaveField("Port", BeEquivalentTo(5432))))
			Expect(svc.Annotations).To(HaveKeyWithValue(ncc.AnnotationDomainNames, "orders.db.internal"))
			expectControlledBy(svc, n)

			slice := &discoveryv1.EndpointSlice{}
			Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ws, Name: "pe-orders-db-ipv4"}, slice)).To(Succeed())
			Expect(slice.Labels).To(HaveKeyWithValue(discoveryv1.LabelServiceName, "pe-orders-db"))
			var addrs []string
			for _, e := range slice.Endpoints {
				addrs = append(addrs, e.Addresses...)
			}
			Expect(addrs).To(Equal([]string{"10.20.0.15", "10.20.0.16"}))

			pol := &networkingv1.NetworkPolicy{}
			Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ws, Name: netpolicy.PrivateEndpointName("orders-db")}, pol)).To(Succeed())
			Expect(pol.Spec.Egress).To(HaveLen(1))
			Expect(pol.Spec.Egress[0].To).To(ConsistOf(
				HaveField("IPBlock.CIDR", "10.20.0.15/32"), HaveField("IPBlock.CIDR", "10.20.0.16/32"), HaveField("IPBlock.CIDR", "10.21.0.0/24")))
			Expect(pol.Spec.Egress[0].Ports).To(ConsistOf(HaveField("Port", HaveValue(Equal(intstr.FromInt32(5432))))))
		}

		By("removing a rule removes its Service, EndpointSlice and egress allowance everywhere")
		Expect(update(n, func(n *computev1.NetworkConnectivityConfig) {
			n.Spec.PrivateEndpointRules = n.Spec.PrivateEndpointRules[1:]
		})).To(Succeed())
		for _, ws := range []string{a.Name, c.Name} {
			for _, o := range []client.Object{
				&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ws, Name: "pe-orders-db"}},
				&discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: ws, Name: "pe-orders-db-ipv4"}},
				&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ws, Name: netpolicy.PrivateEndpointName("orders-db")}},
			} {
				Eventually(func() bool { return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(o), o)) }).
					Should(BeTrue(), "%T %s/%s", o, ws, o.GetName())
			}
			Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ws, Name: "pe-lake"}, &corev1.Service{})).To(Succeed(), "the other rule stays")
		}

		By("unbinding a workspace removes the NCC's objects from its namespace")
		Expect(update(c, func(w *computev1.Workspace) { w.Spec.NetworkConnectivityConfig = "" })).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: c.Name, Name: "pe-lake"}, &corev1.Service{}))
		}).Should(BeTrue())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(n), n)).To(Succeed())
			g.Expect(n.Status.BoundWorkspaces).To(Equal([]string{a.Name}))
		}).Should(Succeed())
	})

	It("opens a rule's egress only once its Service and EndpointSlices exist", func(ctx SpecContext) {
		ws := b.Workspace(framework.Name("guarded")).NCC(framework.Name("net")).Obj()
		Expect(k8s.Create(ctx, ws)).To(Succeed())
		Eventually(func() error { return k8s.Get(ctx, client.ObjectKey{Name: ws.Name}, &corev1.Namespace{}) }).Should(Succeed())
		probe := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: ws.Name, Name: "probe"},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.20.0.15"}}},
		}
		lift := denyByPolicy(ctx, framework.Name("deny-slices"), endpointSlices, "object.metadata.namespace != '"+ws.Name+"'", probe)

		n := b.NCC(ws.Spec.NetworkConnectivityConfig).Rule("orders-db", computev1.ResourceRDS, []string{"10.20.0.15"}, 5432).Obj()
		Expect(k8s.Create(ctx, n)).To(Succeed())
		expectCondition(n, computev1.ConditionReady, metav1.ConditionFalse, conditions.ReasonReconcileError)
		policy := client.ObjectKey{Namespace: ws.Name, Name: netpolicy.PrivateEndpointName("orders-db")}
		Consistently(func() bool { return apierrors.IsNotFound(k8s.Get(ctx, policy, &networkingv1.NetworkPolicy{})) }).
			Should(BeTrue(), "no egress to an endpoint whose EndpointSlice could not be written")

		By("once the EndpointSlices can be written, the egress follows")
		lift()
		Eventually(func() error { return k8s.Get(ctx, policy, &networkingv1.NetworkPolicy{}) }).Should(Succeed())
		expectCondition(n, computev1.ConditionReady, metav1.ConditionTrue, ncc.ReasonReady)
	})

	It("recompiles egress in every bound workspace when allowed destinations change", func(ctx SpecContext) {
		n := b.NCC(framework.Name("egress")).Allow("203.0.113.0/24", 443).Obj()
		Expect(k8s.Create(ctx, n)).To(Succeed())
		ws := b.Workspace(framework.Name("egress")).NCC(n.Name).Obj()
		Expect(k8s.Create(ctx, ws)).To(Succeed())
		pol := &networkingv1.NetworkPolicy{}
		key := client.ObjectKey{Namespace: ws.Name, Name: netpolicy.EgressAllowed}
		Eventually(func() error { return k8s.Get(ctx, key, pol) }).Should(Succeed())
		Expect(pol.Spec.Egress).To(ConsistOf(HaveField("To", ConsistOf(HaveField("IPBlock.CIDR", "203.0.113.0/24")))))

		Expect(update(n, func(n *computev1.NetworkConnectivityConfig) {
			n.Spec.AllowedDestinations = []computev1.AllowedDestination{{CIDR: "198.18.0.0/15"}}
		})).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, key, pol)).To(Succeed())
			g.Expect(pol.Spec.Egress).To(ConsistOf(HaveField("To", ConsistOf(HaveField("IPBlock.CIDR", "198.18.0.0/15")))))
		}).Should(Succeed())

		Expect(update(n, func(n *computev1.NetworkConnectivityConfig) { n.Spec.AllowedDestinations = nil })).To(Succeed())
		Eventually(func() bool { return apierrors.IsNotFound(k8s.Get(ctx, key, pol)) }).Should(BeTrue())
	})

	It("rejects a DynamoDB rule, flags a cross-region rule, and keeps the valid rules in force", func(ctx SpecContext) {
		n := b.NCC(framework.Name("ddb")).
			Rule("sessions", computev1.ResourceDynamoDB, []string{"52.94.0.10"}, 443).
			Rule("eu-db", computev1.ResourceRDS, []string{"10.40.0.5"}, 5432).RuleRegion("eu-central-1").
			Obj()
		Expect(k8s.Create(ctx, n)).To(Succeed())
		ws := b.Workspace(framework.Name("ddb")).NCC(n.Name).Obj()
		Expect(k8s.Create(ctx, ws)).To(Succeed())

		cond := expectCondition(n, computev1.ConditionStalled, metav1.ConditionTrue, ncc.ReasonRulesRejected)
		Expect(cond.Message).To(ContainSubstring("sessions"))
		expectKStatus(n, status.FailedStatus)
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(n), n)).To(Succeed())
			g.Expect(n.Status.Rules).To(ConsistOf(
				And(HaveField("Name", "sessions"), HaveField("ConnectionState", computev1.ConnectionRejected),
					HaveField("Message", ContainSubstring("gateway endpoint"))),
				And(HaveField("Name", "eu-db"), HaveField("ConnectionState", computev1.ConnectionEstablished),
					HaveField("CrossRegion", true), HaveField("Message", ContainSubstring("cross-region data-transfer"))),
			))
		}).Should(Succeed())
		Eventually(func() error {
			return k8s.Get(ctx, client.ObjectKey{Namespace: ws.Name, Name: "pe-eu-db"}, &corev1.Service{})
		}).Should(Succeed())
		Consistently(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: ws.Name, Name: naming.PrivateEndpointService("sessions")}, &corev1.Service{}))
		}).Should(BeTrue(), "nothing is materialized for the rejected rule")
	})

	It("keeps a protected address out of a rule's Service and rejects a rule that names only protected addresses", func(ctx SpecContext) {
		n := b.NCC(framework.Name("guard")).
			Rule("mixed", computev1.ResourceRDS, []string{"10.40.0.6", "10.96.0.10"}, 5432).
			Rule("kube-api", computev1.ResourceGeneric, []string{"10.96.0.1"}, 443).
			Obj()
		Expect(k8s.Create(ctx, n)).To(Succeed())
		ws := b.Workspace(framework.Name("guard")).NCC(n.Name).Obj()
		Expect(k8s.Create(ctx, ws)).To(Succeed())

		cond := expectCondition(n, computev1.ConditionStalled, metav1.ConditionTrue, ncc.ReasonRulesRejected)
		Expect(cond.Message).To(ContainSubstring("kube-api"))
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(n), n)).To(Succeed())
			g.Expect(n.Status.Rules).To(ConsistOf(
				And(HaveField("Name", "mixed"), HaveField("ConnectionState", computev1.ConnectionEstablished),
					HaveField("Message", ContainSubstring("addresses[1] 10.96.0.10 is in "+protectedServiceCIDR))),
				And(HaveField("Name", "kube-api"), HaveField("ConnectionState", computev1.ConnectionRejected),
					HaveField("Message", ContainSubstring("controlPlane.protectedCIDRs"))),
			))
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			slices := &discoveryv1.EndpointSliceList{}
			g.Expect(k8s.List(ctx, slices, client.InNamespace(ws.Name), client.MatchingLabels{discoveryv1.LabelServiceName: naming.PrivateEndpointService("mixed")})).To(Succeed())
			g.Expect(slices.Items).To(ConsistOf(HaveField("Endpoints", ConsistOf(HaveField("Addresses", ConsistOf("10.40.0.6"))))))
		}).Should(Succeed(), "the Service lists the reachable address only")
		Consistently(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: ws.Name, Name: naming.PrivateEndpointService("kube-api")}, &corev1.Service{}))
		}).Should(BeTrue(), "nothing is materialized for the rejected rule")
	})

	It("refuses to bind a workspace of another region or a missing NCC, keeping baseline egress", func(ctx SpecContext) {
		missing := b.Workspace(framework.Name("nonccc")).NCC(framework.Name("absent")).Obj()
		Expect(k8s.Create(ctx, missing)).To(Succeed())
		c := expectCondition(missing, computev1.ConditionReady, metav1.ConditionFalse, workspace.ReasonNCCNotFound)
		Expect(c.Message).To(ContainSubstring("spec.networkConnectivityConfig"))
		expectKStatus(missing, status.InProgressStatus)
		Eventually(func() error {
			return k8s.Get(ctx, client.ObjectKey{Namespace: missing.Name, Name: netpolicy.DefaultDeny}, &networkingv1.NetworkPolicy{})
		}).Should(Succeed(), "the boundary exists while the NCC is missing")

		By("creating the NCC binds the workspace")
		n := b.NCC(missing.Spec.NetworkConnectivityConfig).Allow("192.0.2.0/24").Obj()
		Expect(k8s.Create(ctx, n)).To(Succeed())
		expectCondition(missing, computev1.ConditionReady, metav1.ConditionTrue, workspace.ReasonReady)
		Expect(missing.Status.EgressCIDRs).NotTo(BeEmpty())

		west := b.NCC(framework.Name("west")).Region("us-west-2").Obj()
		Expect(k8s.Create(ctx, west)).To(Succeed())
		ws := b.Workspace(framework.Name("east")).NCC(west.Name).Obj()
		Expect(k8s.Create(ctx, ws)).To(Succeed())
		c = expectCondition(ws, computev1.ConditionStalled, metav1.ConditionTrue, workspace.ReasonNCCRegionMismatch)
		Expect(c.Message).To(And(ContainSubstring("us-west-2"), ContainSubstring("us-east-1")))
		expectKStatus(ws, status.FailedStatus)
		Expect(ws.Status.EgressCIDRs).To(BeEmpty())
		expectCondition(west, computev1.ConditionReady, metav1.ConditionTrue, ncc.ReasonReady)
		Expect(west.Status.BoundWorkspaces).To(BeEmpty())
	})

	It("waits to be deleted while workspaces are bound, naming them", func(ctx SpecContext) {
		n := b.NCC(framework.Name("held")).Rule("db", computev1.ResourceRDS, []string{"10.0.0.9"}, 5432).Obj()
		Expect(k8s.Create(ctx, n)).To(Succeed())
		ws := b.Workspace(framework.Name("held")).NCC(n.Name).Obj()
		Expect(k8s.Create(ctx, ws)).To(Succeed())
		expectBound(n, ws.Name)
		Eventually(func() error {
			return k8s.Get(ctx, client.ObjectKey{Namespace: ws.Name, Name: "pe-db"}, &corev1.Service{})
		}).Should(Succeed())

		Expect(k8s.Delete(ctx, n)).To(Succeed())
		c := expectCondition(n, computev1.ConditionReconciling, metav1.ConditionTrue, ncc.ReasonDeletionBlocked)
		Expect(c.Message).To(ContainSubstring(ws.Name))
		Consistently(func() error { return k8s.Get(ctx, client.ObjectKeyFromObject(n), n) }).Should(Succeed())
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ws.Name, Name: "pe-db"}, &corev1.Service{})).To(Succeed(),
			"the bound workspace keeps its private endpoint meanwhile")

		Expect(update(ws, func(w *computev1.Workspace) { w.Spec.NetworkConnectivityConfig = "" })).To(Succeed())
		Eventually(func() bool { return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(n), n)) }).Should(BeTrue())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: ws.Name, Name: "pe-db"}, &corev1.Service{}))
		}).Should(BeTrue())
	})

	It("publishes legacy stable IPs until the decommission date and says how to migrate after it", func(ctx SpecContext) {
		start := env.Clock.Now()
		DeferCleanup(func() { env.Clock.SetTime(start) })
		region := env.OperatorConfig.Regions[0]
		env.Clock.SetTime(time.Date(2026, time.March, 2, 9, 0, 0, 0, time.UTC))

		n := b.NCC(framework.Name("legacy")).StableIPs(computev1.StableIPsLegacy).Obj()
		Expect(k8s.Create(ctx, n)).To(Succeed())
		c := expectCondition(n, ncc.ConditionLegacyStableIPs, metav1.ConditionTrue, ncc.ReasonLegacyPublished)
		Expect(c.Message).To(ContainSubstring("until 2026-05-25"))
		Expect(n.Status.LegacyStableIPs).To(Equal(region.LegacyStableIPs))

		By("after 2026-05-25 the list is gone and the condition says how to migrate")
		env.Clock.SetTime(time.Date(2026, time.May, 25, 0, 0, 1, 0, time.UTC))
		Expect(update(n, func(n *computev1.NetworkConnectivityConfig) {
			n.Annotations = map[string]string{"example.com/poke": "1"} // a pass, as the requeue at the date would make
		})).To(Succeed())
		c = expectCondition(n, ncc.ConditionLegacyStableIPs, metav1.ConditionFalse, ncc.ReasonLegacyDecommission)
		Expect(c.Message).To(And(ContainSubstring("decommissioned on 2026-05-25"), ContainSubstring(region.StableEgressCIDRs[0]),
			ContainSubstring("spec.stableIPs to Current")))
		Expect(n.Status.LegacyStableIPs).To(BeEmpty())
		Expect(n.Status.EgressCIDRs).To(Equal(region.StableEgressCIDRs))
		expectCondition(n, computev1.ConditionReady, metav1.ConditionTrue, ncc.ReasonReady)
	})
})

// expectBound waits until the NCC lists exactly the workspaces as bound.
func expectBound(n *computev1.NetworkConnectivityConfig, workspaces ...string) {
	EventuallyWithOffset(1, func(g Gomega) {
		g.Expect(k8s.Get(bg(), client.ObjectKeyFromObject(n), n)).To(Succeed())
		g.Expect(n.Status.BoundWorkspaces).To(ConsistOf(workspaces))
	}).Should(Succeed())
}
