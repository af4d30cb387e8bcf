// Package netpolicy compiles a workspace's network boundary into NetworkPolicies. It has no
// client: the controllers apply what it returns, and the tests evaluate it with an independent
// policy engine.
//
// The boundary, in the order of the policies:
//   - default deny for ingress and egress of every pod in the namespace;
//   - DNS egress to the cluster DNS pods only;
//   - egress to the region's storage gateway endpoints (HTTPS), always allowed;
//   - egress to the NCC's allowed destinations;
//   - ingress to warehouse pods on their SQL port only from the control-plane namespace, and to
//     model pods on their TLS port only from the control-plane gateway pods; metrics ports only
//     from the control-plane namespace;
//   - per warehouse and per served entity, its pods may reach each other and nothing else's;
//   - per private endpoint rule (compiled for the NCC controller), egress to exactly its
//     addresses and ports.
//
// Namespaces are selected by kubernetes.io/metadata.name, which the API server sets and a
// tenant cannot change; pods by labels the operator sets on pods it creates.
package netpolicy

import (
	"net/netip"
	"sort"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/pkg/naming"
)

// Named container ports. Policies refer to ports by name, so a warehouse that overrides its
// engine port stays covered.
const (
	PortSQL     = "sql"
	PortHTTPS   = "https"
	PortMetrics = "metrics"
)

// Names of the workspace-level policies.
const (
	DefaultDeny        = "sp-default-deny"
	AllowDNS           = "sp-allow-dns"
	EgressStorage      = "sp-egress-storage-gateway"
	EgressAllowed      = "sp-egress-allowed-destinations"
	IngressWarehouses  = "sp-ingress-warehouses"
	IngressModels      = "sp-ingress-models"
	peersPrefix        = "sp-peers-"
	privateEndpointPfx = "sp-pe-"
)

// NamespaceNameLabel is set by the API server on every namespace to its name.
const NamespaceNameLabel = "kubernetes.io/metadata.name"

// Workspace is what a workspace's boundary depends on.
type Workspace struct {
	// Name is the workspace; Namespace its namespace.
	Name, Namespace string
	// Region is the workspace's region from the operator configuration.
	Region *configv1.Region
	// ControlPlane and OperatorNamespace come from the operator configuration.
	ControlPlane      configv1.ControlPlane
	OperatorNamespace string
	// AllowedDestinations are the bound NCC's, if any.
	AllowedDestinations []computev1.AllowedDestination
	// Warehouses and Endpoints in the namespace: each gets a peer policy.
	Warehouses []string
	Endpoints  []Endpoint
}

// Endpoint is a model endpoint and its served entities.
type Endpoint struct {
	Name     string
	Entities []string
}

// Compile returns the workspace-level policies, sorted by name.
func Compile(w Workspace) []*networkingv1.NetworkPolicy {
	var out []*networkingv1.NetworkPolicy
	add := func(name string, spec networkingv1.NetworkPolicySpec) {
		out = append(out, &networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: w.Namespace, Labels: map[string]string{computev1.LabelWorkspace: w.Name}},
			Spec:       spec,
		})
	}
	all := metav1.LabelSelector{}
	both := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
	egress := []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}
	ingress := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
	controlPlane := []networkingv1.NetworkPolicyPeer{{NamespaceSelector: namespace(w.OperatorNamespace)}}

	add(DefaultDeny, networkingv1.NetworkPolicySpec{PodSelector: all, PolicyTypes: both})
	add(AllowDNS, networkingv1.NetworkPolicySpec{
		PodSelector: all, PolicyTypes: egress,
		Egress: []networkingv1.NetworkPolicyEgressRule{{
			To: []networkingv1.NetworkPolicyPeer{{
				NamespaceSelector: namespace(w.ControlPlane.DNSNamespace),
				PodSelector:       &metav1.LabelSelector{MatchLabels: copyMap(w.ControlPlane.DNSPodLabels)},
			}},
			Ports: []networkingv1.NetworkPolicyPort{port(corev1.ProtocolUDP, intstr.FromInt32(53)), port(corev1.ProtocolTCP, intstr.FromInt32(53))},
		}},
	})
	protected := w.ControlPlane.ProtectedCIDRs
	if to := ipBlocks(storageCIDRs(w.Region), protected); len(to) > 0 {
		add(EgressStorage, networkingv1.NetworkPolicySpec{
			PodSelector: all, PolicyTypes: egress,
			Egress: []networkingv1.NetworkPolicyEgressRule{{
				To: to, Ports: []networkingv1.NetworkPolicyPort{port(corev1.ProtocolTCP, intstr.FromInt32(443))},
			}},
		})
	}
	var allowed []networkingv1.NetworkPolicyEgressRule
	for _, d := range w.AllowedDestinations {
		// An egress rule without peers allows every destination: a destination that compiles to
		// nothing gets no rule at all.
		if to := ipBlocks([]string{d.CIDR}, protected); len(to) > 0 {
			allowed = append(allowed, networkingv1.NetworkPolicyEgressRule{To: to, Ports: ports(d.Ports)})
		}
	}
	if len(allowed) > 0 {
		add(EgressAllowed, networkingv1.NetworkPolicySpec{PodSelector: all, PolicyTypes: egress, Egress: allowed})
	}
	add(IngressWarehouses, networkingv1.NetworkPolicySpec{
		PodSelector: exists(computev1.LabelWarehouse), PolicyTypes: ingress,
		Ingress: []networkingv1.NetworkPolicyIngressRule{{
			From:  controlPlane,
			Ports: []networkingv1.NetworkPolicyPort{port(corev1.ProtocolTCP, intstr.FromString(PortSQL)), port(corev1.ProtocolTCP, intstr.FromString(PortMetrics))},
		}},
	})
	add(IngressModels, networkingv1.NetworkPolicySpec{
		PodSelector: exists(computev1.LabelEndpoint), PolicyTypes: ingress,
		Ingress: []networkingv1.NetworkPolicyIngressRule{{
			From: []networkingv1.NetworkPolicyPeer{{
				NamespaceSelector: namespace(w.OperatorNamespace),
				PodSelector:       &metav1.LabelSelector{MatchLabels: copyMap(w.ControlPlane.GatewayPodLabels)},
			}},
			Ports: []networkingv1.NetworkPolicyPort{port(corev1.ProtocolTCP, intstr.FromString(PortHTTPS))},
		}, {
			From:  controlPlane,
			Ports: []networkingv1.NetworkPolicyPort{port(corev1.ProtocolTCP, intstr.FromString(PortMetrics))},
		}},
	})
	for _, wh := range w.Warehouses {
		add(WarehousePeersName(wh), peers(map[string]string{computev1.LabelWarehouse: wh}))
	}
	for _, e := range w.Endpoints {
		for _, entity := range e.Entities {
			add(EntityPeersName(e.Name, entity), peers(map[string]string{computev1.LabelEndpoint: e.Name, computev1.LabelServedEntity: entity}))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// WarehousePeersName names the policy that lets a warehouse's pods reach each other.
func WarehousePeersName(warehouse string) string { return peersPrefix + "swh-" + warehouse }

// EntityPeersName names the policy that lets a served entity's pods reach each other.
func EntityPeersName(endpoint, entity string) string {
	return peersPrefix + "mep-" + naming.ServedEntity(endpoint, entity)
}

// PrivateEndpointName names a private endpoint rule's policy.
func PrivateEndpointName(rule string) string { return privateEndpointPfx + rule }

// PrivateEndpoint compiles the egress allowance of a private endpoint rule: every pod of the
// namespace may reach exactly the rule's addresses on exactly its ports, never a protected
// destination. Addresses that compile to nothing allow nothing (the policy has no egress rule).
func PrivateEndpoint(namespace string, rule *computev1.PrivateEndpointRule, protected []string) *networkingv1.NetworkPolicy {
	addrs := make([]string, 0, len(rule.Addresses))
	for _, a := range rule.Addresses {
		addrs = append(addrs, string(a))
	}
	var egress []networkingv1.NetworkPolicyEgressRule
	if to := ipBlocks(addrs, protected); len(to) > 0 {
		egress = []networkingv1.NetworkPolicyEgressRule{{To: to, Ports: ports(rule.Ports)}}
	}
	return &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: PrivateEndpointName(rule.Name), Namespace: namespace},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress:      egress,
		},
	}
}

// peers lets the pods selected by labels reach each other on any port, both ways.
func peers(labels map[string]string) networkingv1.NetworkPolicySpec {
	self := []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: labels}}}
	return networkingv1.NetworkPolicySpec{
		PodSelector: metav1.LabelSelector{MatchLabels: copyMap(labels)},
		PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
		Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: self}},
		Egress:      []networkingv1.NetworkPolicyEgressRule{{To: self}},
	}
}

func storageCIDRs(r *configv1.Region) []string {
	if r == nil {
		return nil
	}
	services := make([]string, 0, len(r.StorageGatewayCIDRs))
	for svc := range r.StorageGatewayCIDRs {
		services = append(services, svc)
	}
	sort.Strings(services)
	var cidrs []string
	for _, svc := range services {
		cidrs = append(cidrs, r.StorageGatewayCIDRs[svc]...)
	}
	return cidrs
}

// ipBlocks turns addresses and CIDRs into ipBlock peers, single addresses as /32 or /128, with
// every protected range inside a block cut out of it, and a block that lies inside a protected
// range dropped. What does not parse is dropped: fail closed.
func ipBlocks(addrs, protected []string) []networkingv1.NetworkPolicyPeer {
	guard := guards(protected)
	out := make([]networkingv1.NetworkPolicyPeer, 0, len(addrs))
	for _, a := range addrs {
		p, err := configv1.ParsePrefix(a)
		if err != nil {
			continue
		}
		p = p.Masked()
		if _, inside := within(p, guard); inside {
			continue
		}
		block := &networkingv1.IPBlock{CIDR: p.String()}
		for _, g := range guard {
			if p.Bits() < g.Bits() && p.Contains(g.Addr()) {
				block.Except = append(block.Except, g.String())
			}
		}
		out = append(out, networkingv1.NetworkPolicyPeer{IPBlock: block})
	}
	return out
}

// Protected returns the protected range that holds all of addr, an address or a CIDR: no
// egress policy the operator writes ever reaches it. A protected range that does not parse
// is ignored, as ipBlocks ignores it.
func Protected(addr string, protected []string) (string, bool) {
	p, err := configv1.ParsePrefix(addr)
	if err != nil {
		return "", false
	}
	g, ok := within(p.Masked(), guards(protected))
	return g.String(), ok
}

func guards(protected []string) []netip.Prefix {
	var out []netip.Prefix
	for _, c := range protected {
		if p, err := configv1.ParsePrefix(c); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

// within returns the guard that holds all of p.
func within(p netip.Prefix, guard []netip.Prefix) (netip.Prefix, bool) {
	for _, g := range guard {
		if g.Bits() <= p.Bits() && g.Contains(p.Addr()) {
			return g, true
		}
	}
	return netip.Prefix{}, false
}

func ports(ps []computev1.NetworkPort) []networkingv1.NetworkPolicyPort {
	out := make([]networkingv1.NetworkPolicyPort, 0, len(ps))
	for _, p := range ps {
		proto := corev1.ProtocolTCP
		if p.Protocol == computev1.ProtocolUDP {
			proto = corev1.ProtocolUDP
		}
		out = append(out, port(proto, intstr.FromInt32(p.Port)))
	}
	return out
}

func port(proto corev1.Protocol, p intstr.IntOrString) networkingv1.NetworkPolicyPort {
	return networkingv1.NetworkPolicyPort{Protocol: &proto, Port: &p}
}

func namespace(name string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{NamespaceNameLabel: name}}
}

func exists(key string) metav1.LabelSelector {
	return metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: key, Operator: metav1.LabelSelectorOpExists}}}
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
