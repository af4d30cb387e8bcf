package integration

import (
	"github.com/mattfenwick/cyclonus/pkg/matcher"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/controllers/workspace"
	"github.com/serverlessplane/operator/pkg/netpolicy"
	b "github.com/serverlessplane/operator/test/builders"
	"github.com/serverlessplane/operator/test/framework"
)

// The network boundary is checked by an independent oracle: the NetworkPolicies are read back
// from the API server and evaluated by cyclonus's policy matcher, for a matrix of pods in two
// workspaces, the control plane, the cluster DNS and external addresses.
var _ = Describe("Workspace isolation (cyclonus matcher)", Ordered, func() {
	const (
		peIP       = "10.50.0.5"    // the NCC's private endpoint
		otherIP    = "10.50.0.6"    // next to it, not in the rule
		allowedIP  = "203.0.113.7"  // in the NCC's allowed destinations
		s3IP       = "52.216.10.10" // the region's S3 gateway range
		internetIP = "8.8.8.8"
	)
	var (
		nsA, nsB string
		cp       *configv1.OperatorConfig
		pods     map[string]*matcher.TrafficPeer
	)

	BeforeAll(func(ctx SpecContext) {
		cp = env.OperatorConfig
		n := b.NCC(framework.Name("iso")).Rule("orders-db", computev1.ResourceRDS, []string{peIP}, 5432).Allow("203.0.113.0/24", 443).Obj()
		Expect(k8s.Create(ctx, n)).To(Succeed())
		a := b.Workspace(framework.Name("iso-a")).NCC(n.Name).Obj()
		bw := b.Workspace(framework.Name("iso-b")).Obj()
		Expect(k8s.Create(ctx, a)).To(Succeed())
		Expect(k8s.Create(ctx, bw)).To(Succeed())
		nsA, nsB = a.Name, bw.Name
		expectCondition(a, computev1.ConditionReady, metav1.ConditionTrue, workspace.ReasonReady)
		expectCondition(bw, computev1.ConditionReady, metav1.ConditionTrue, workspace.ReasonReady)
		for _, o := range []client.Object{
			b.Warehouse(nsA, "w1").Obj(), b.Warehouse(nsA, "w2").Obj(), b.Warehouse(nsB, "w3").Obj(),
			b.Endpoint(nsA, "m1").Entity("e1", "churn", "1").Entity("e2", "churn", "2").Route("e1", 50).Route("e2", 50).Obj(),
		} {
			Expect(k8s.Create(ctx, o)).To(Succeed())
		}
		Eventually(func() error { // the peer policies follow the warehouses and endpoints
			return k8s.Get(ctx, client.ObjectKey{Namespace: nsA, Name: netpolicy.EntityPeersName("m1", "e2")}, &networkingv1.NetworkPolicy{})
		}).Should(Succeed())
		Eventually(func() error {
			return k8s.Get(ctx, client.ObjectKey{Namespace: nsA, Name: netpolicy.PrivateEndpointName("orders-db")}, &networkingv1.NetworkPolicy{})
		}).Should(Succeed())
		Eventually(func() error {
			return k8s.Get(ctx, client.ObjectKey{Namespace: nsB, Name: netpolicy.WarehousePeersName("w3")}, &networkingv1.NetworkPolicy{})
		}).Should(Succeed())
	})

	// peers builds the matrix's pods with the labels the operator (and a tenant) would set and
	// the namespace labels the API server holds.
	peers := func(ctx SpecContext) map[string]*matcher.TrafficPeer {
		nsLabels := func(ns string) map[string]string {
			n := &corev1.Namespace{}
			if err := k8s.Get(ctx, client.ObjectKey{Name: ns}, n); err != nil {
				// Namespaces the test does not create: labelled as the API server labels them.
				return map[string]string{netpolicy.NamespaceNameLabel: ns}
			}
			return n.Labels
		}
		pod := func(ip, ns string, labels map[string]string) *matcher.TrafficPeer {
			return &matcher.TrafficPeer{IP: ip, Internal: &matcher.InternalPeer{Namespace: ns, NamespaceLabels: nsLabels(ns), PodLabels: labels}}
		}
		// Workload pods carry the labels of the pod templates the operator wrote.
		template := func(ns string, selector client.MatchingLabels) map[string]string {
			var labels map[string]string
			Eventually(func(g Gomega) {
				list := &appsv1.DeploymentList{}
				g.Expect(k8s.List(ctx, list, client.InNamespace(ns), selector)).To(Succeed())
				g.Expect(list.Items).NotTo(BeEmpty(), "deployments %v in %s", selector, ns)
				labels = list.Items[0].Spec.Template.Labels
			}).Should(Succeed())
			return labels
		}
		warehouse := func(ns, name string) map[string]string {
			return template(ns, client.MatchingLabels{computev1.LabelWarehouse: name})
		}
		entity := func(ns, ep, e string) map[string]string {
			return template(ns, client.MatchingLabels{computev1.LabelEndpoint: ep, computev1.LabelServedEntity: e})
		}
		return map[string]*matcher.TrafficPeer{
			"A/w1":       pod("10.244.1.1", nsA, warehouse(nsA, "w1")),
			"A/w1-peer":  pod("10.244.1.2", nsA, warehouse(nsA, "w1")),
			"A/w2":       pod("10.244.1.3", nsA, warehouse(nsA, "w2")),
			"A/m1-e1":    pod("10.244.1.4", nsA, entity(nsA, "m1", "e1")),
			"A/m1-e1b":   pod("10.244.1.5", nsA, entity(nsA, "m1", "e1")),
			"A/m1-e2":    pod("10.244.1.6", nsA, entity(nsA, "m1", "e2")),
			"B/w3":       pod("10.244.2.1", nsB, warehouse(nsB, "w3")),
			"B/fake-gw":  pod("10.244.2.2", nsB, cp.ControlPlane.GatewayPodLabels),
			"cp/gateway": pod("10.244.0.1", cp.OperatorNamespace, cp.ControlPlane.GatewayPodLabels),
			"cp/other":   pod("10.244.0.2", cp.OperatorNamespace, map[string]string{"app": "operator"}),
			"dns":        pod("10.244.0.10", cp.ControlPlane.DNSNamespace, cp.ControlPlane.DNSPodLabels),
			"default":    pod("10.244.3.1", "default", map[string]string{"app": "curl"}),
			"pe":         {IP: peIP},
			"pe-next":    {IP: otherIP},
			"allowed":    {IP: allowedIP},
			"s3":         {IP: s3IP},
			"internet":   {IP: internetIP},
		}
	}

	type flow struct {
		from, to string
		port     int
		name     string // the destination's container port name, when it has one
		proto    corev1.Protocol
		allowed  bool
	}
	tcp := func(from, to string, port int, name string, allowed bool) flow {
		return flow{from: from, to: to, port: port, name: name, proto: corev1.ProtocolTCP, allowed: allowed}
	}
	matrix := []flow{
		// Workspace A and workspace B cannot reach each other, either way.
		tcp("A/w1", "B/w3", 8080, netpolicy.PortSQL, false),
		tcp("B/w3", "A/w1", 8080, netpolicy.PortSQL, false),
		tcp("B/w3", "A/m1-e1", 8443, netpolicy.PortHTTPS, false),
		// Only the control-plane gateway reaches a model's TLS port.
		tcp("cp/gateway", "A/m1-e1", 8443, netpolicy.PortHTTPS, true),
		tcp("cp/other", "A/m1-e1", 8443, netpolicy.PortHTTPS, false),
		tcp("A/w1", "A/m1-e1", 8443, netpolicy.PortHTTPS, false),
		tcp("default", "A/m1-e1", 8443, netpolicy.PortHTTPS, false),
		tcp("B/fake-gw", "A/m1-e1", 8443, netpolicy.PortHTTPS, false),
		tcp("cp/gateway", "A/m1-e1", 8080, "admin", false),
		// Warehouses accept SQL only from the control-plane namespace.
		tcp("cp/other", "A/w1", 8080, netpolicy.PortSQL, true),
		tcp("cp/gateway", "A/w1", 8080, netpolicy.PortSQL, true),
		tcp("default", "A/w1", 8080, netpolicy.PortSQL, false),
		tcp("cp/other", "A/w1", 22, "ssh", false),
		tcp("cp/other", "A/w1", 9090, netpolicy.PortMetrics, true),
		// A warehouse's or entity's pods reach each other, not another's.
		tcp("A/w1", "A/w1-peer", 7077, "", true),
		tcp("A/w1", "A/w2", 8080, netpolicy.PortSQL, false),
		tcp("A/w2", "A/w1", 7077, "", false),
		tcp("A/m1-e1", "A/m1-e1b", 9000, "", true),
		tcp("A/m1-e1", "A/m1-e2", 8443, netpolicy.PortHTTPS, false),
		tcp("A/m1-e1", "A/w1", 8080, netpolicy.PortSQL, false),
		// Egress: the cluster DNS only for DNS.
		{from: "A/w1", to: "dns", port: 53, proto: corev1.ProtocolUDP, allowed: true},
		tcp("A/w1", "dns", 53, "", true),
		tcp("A/w1", "dns", 80, "", false),
		{from: "A/w1", to: "internet", port: 53, proto: corev1.ProtocolUDP, allowed: false},
		// Egress: the storage gateway, always; the NCC's addresses and ports, exactly.
		tcp("A/w1", "s3", 443, "", true),
		tcp("B/w3", "s3", 443, "", true),
		tcp("A/w1", "s3", 80, "", false),
		tcp("A/m1-e1", "allowed", 443, "", true),
		tcp("A/w1", "allowed", 80, "", false),
		tcp("A/w1", "pe", 5432, "", true),
		tcp("A/w1", "pe", 22, "", false),
		tcp("A/w1", "pe-next", 5432, "", false),
		tcp("A/w1", "internet", 443, "", false),
		// Workspace B is not bound to the NCC.
		tcp("B/w3", "allowed", 443, "", false),
		tcp("B/w3", "pe", 5432, "", false),
	}

	evaluate := func(ctx SpecContext) {
		var policies []*networkingv1.NetworkPolicy
		for _, ns := range []string{nsA, nsB} {
			list := &networkingv1.NetworkPolicyList{}
			Expect(k8s.List(ctx, list, client.InNamespace(ns))).To(Succeed())
			for i := range list.Items {
				policies = append(policies, &list.Items[i])
			}
		}
		engine := matcher.BuildNetworkPolicies(true, policies)
		pods = peers(ctx)
		for _, f := range matrix {
			traffic := &matcher.Traffic{
				Source: pods[f.from], Destination: pods[f.to],
				ResolvedPort: f.port, ResolvedPortName: f.name, Protocol: f.proto,
			}
			got := engine.IsTrafficAllowed(traffic)
			Expect(got.IsAllowed()).To(Equal(f.allowed), "%s -> %s %d/%s (%s): want allowed=%t\n%s",
				f.from, f.to, f.port, f.proto, f.name, f.allowed, got.Table())
		}
	}

	It("denies everything but the control plane, DNS, the storage gateway and the NCC's destinations", func(ctx SpecContext) {
		evaluate(ctx)
	})

	It("gives a tenant nothing for labelling its namespace like the control plane or another workspace", func(ctx SpecContext) {
		ns := &corev1.Namespace{}
		Expect(k8s.Get(ctx, client.ObjectKey{Name: nsB}, ns)).To(Succeed())
		for k, v := range cp.ControlPlane.GatewayPodLabels {
			ns.Labels[k] = v
		}
		ns.Labels[computev1.LabelWorkspace] = nsA
		ns.Labels["k8s-app"] = "kube-dns"
		ns.Labels[netpolicy.NamespaceNameLabel] = cp.OperatorNamespace
		Expect(k8s.Update(ctx, ns)).To(Succeed())
		Expect(k8s.Get(ctx, client.ObjectKey{Name: nsB}, ns)).To(Succeed())
		Expect(ns.Labels).To(HaveKeyWithValue(netpolicy.NamespaceNameLabel, nsB), "the API server keeps the name label true")
		evaluate(ctx)
		Expect(pods["B/fake-gw"].Internal.NamespaceLabels).To(HaveKeyWithValue("k8s-app", "kube-dns"),
			"the matrix ran with the tenant's labels")
	})
})
