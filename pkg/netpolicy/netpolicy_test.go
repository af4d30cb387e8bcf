package netpolicy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	networkingv1 "k8s.io/api/networking/v1"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
)

func workspace() Workspace {
	cfg := configv1.Default()
	return Workspace{
		Name: "ws", Namespace: "ws", Region: &cfg.Regions[0],
		ControlPlane: cfg.ControlPlane, OperatorNamespace: cfg.OperatorNamespace,
	}
}

func byName(ps []*networkingv1.NetworkPolicy) map[string]*networkingv1.NetworkPolicy {
	m := map[string]*networkingv1.NetworkPolicy{}
	for _, p := range ps {
		m[p.Name] = p
	}
	return m
}

func TestCompilePolicySet(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Workspace)
		want   []string
	}{
		{name: "baseline", want: []string{AllowDNS, DefaultDeny, EgressStorage, IngressModels, IngressWarehouses}},
		{
			name:   "an NCC's allowed destinations",
			modify: func(w *Workspace) { w.AllowedDestinations = []computev1.AllowedDestination{{CIDR: "203.0.113.0/24"}} },
			want:   []string{AllowDNS, DefaultDeny, EgressAllowed, EgressStorage, IngressModels, IngressWarehouses},
		},
		{
			name: "a peer policy per warehouse and served entity",
			modify: func(w *Workspace) {
				w.Warehouses = []string{"bi"}
				w.Endpoints = []Endpoint{{Name: "churn", Entities: []string{"a", "b"}}}
			},
			want: []string{AllowDNS, DefaultDeny, EgressStorage, IngressModels, IngressWarehouses,
				EntityPeersName("churn", "a"), EntityPeersName("churn", "b"), WarehousePeersName("bi")},
		},
		{
			name:   "a region without storage gateway ranges",
			modify: func(w *Workspace) { w.Region = &configv1.Region{Name: "x"} },
			want:   []string{AllowDNS, DefaultDeny, IngressModels, IngressWarehouses},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := workspace()
			if tc.modify != nil {
				tc.modify(&w)
			}
			var got []string
			for _, p := range Compile(w) {
				got = append(got, p.Name)
				if p.Namespace != "ws" || p.Labels[computev1.LabelWorkspace] != "ws" {
					t.Errorf("%s: namespace %q labels %v", p.Name, p.Namespace, p.Labels)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("policies (-want +got):\n%s", diff)
			}
		})
	}
}

// Namespaces are selected by their name label only: nothing a tenant can set.
func TestNamespaceSelectorsUseTheNameLabelOnly(t *testing.T) {
	w := workspace()
	w.Warehouses = []string{"bi"}
	for _, p := range Compile(w) {
		var peers []networkingv1.NetworkPolicyPeer
		for _, r := range p.Spec.Ingress {
			peers = append(peers, r.From...)
		}
		for _, r := range p.Spec.Egress {
			peers = append(peers, r.To...)
		}
		for _, peer := range peers {
			if peer.NamespaceSelector == nil {
				continue
			}
			if len(peer.NamespaceSelector.MatchExpressions) > 0 || len(peer.NamespaceSelector.MatchLabels) != 1 ||
				peer.NamespaceSelector.MatchLabels[NamespaceNameLabel] == "" {
				t.Errorf("%s selects namespaces by %v", p.Name, peer.NamespaceSelector)
			}
		}
	}
}

func TestPrivateEndpointAllowsExactlyTheRule(t *testing.T) {
	rule := &computev1.PrivateEndpointRule{
		Name: "db", Addresses: []computev1.IPOrCIDR{"10.0.0.5", "10.1.0.0/16"},
		Ports: []computev1.NetworkPort{{Port: 5432}, {Port: 53, Protocol: computev1.ProtocolUDP}},
	}
	p := PrivateEndpoint("ws", rule, nil)
	if p.Name != "sp-pe-db" || len(p.Spec.Egress) != 1 || len(p.Spec.Ingress) != 0 {
		t.Fatalf("policy %s: %+v", p.Name, p.Spec)
	}
	var cidrs, ports []string
	for _, to := range p.Spec.Egress[0].To {
		cidrs = append(cidrs, to.IPBlock.CIDR)
	}
	for _, port := range p.Spec.Egress[0].Ports {
		ports = append(ports, string(*port.Protocol)+"/"+port.Port.String())
	}
	if diff := cmp.Diff([]string{"10.0.0.5/32", "10.1.0.0/16"}, cidrs); diff != "" {
		t.Errorf("cidrs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"TCP/5432", "UDP/53"}, ports); diff != "" {
		t.Errorf("ports (-want +got):\n%s", diff)
	}
}

// No egress allowance opens a protected destination (the metadata address, the cluster's own
// ranges), whatever an NCC says, and a destination that compiles to nothing allows nothing:
// an egress rule without peers would allow every destination.
func TestEgressNeverOpensProtectedDestinations(t *testing.T) {
	protected := []string{"169.254.0.0/16", "fe80::/10", "10.96.0.0/12", "10.244.0.0/16"}
	type block struct {
		CIDR   string
		Except []string
	}
	for _, c := range []struct {
		name  string
		addrs []string
		want  []block
	}{
		{"everything, IPv4", []string{"0.0.0.0/0"}, []block{{"0.0.0.0/0", []string{"169.254.0.0/16", "10.96.0.0/12", "10.244.0.0/16"}}}},
		{"everything, IPv6", []string{"::/0"}, []block{{"::/0", []string{"fe80::/10"}}}},
		{"a range around one", []string{"10.0.0.0/8"}, []block{{"10.0.0.0/8", []string{"10.96.0.0/12", "10.244.0.0/16"}}}},
		{"the metadata address itself", []string{"169.254.169.254"}, nil},
		{"a range inside the pods'", []string{"10.244.3.0/24"}, nil},
		{"the protected range exactly", []string{"10.96.0.0/12"}, nil},
		{"a range beside them", []string{"203.0.113.0/24"}, []block{{"203.0.113.0/24", nil}}},
		{"host bits are masked", []string{"10.1.2.3/8"}, []block{{"10.0.0.0/8", []string{"10.96.0.0/12", "10.244.0.0/16"}}}},
		{"unparseable", []string{"not-an-address"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got []block
			for _, p := range ipBlocks(c.addrs, protected) {
				got = append(got, block{p.IPBlock.CIDR, p.IPBlock.Except})
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("ipBlocks(%v) (-want +got):\n%s", c.addrs, diff)
			}
		})
	}

	t.Run("a private endpoint of protected addresses only allows nothing", func(t *testing.T) {
		rule := &computev1.PrivateEndpointRule{Name: "meta", Addresses: []computev1.IPOrCIDR{"169.254.169.254"},
			Ports: []computev1.NetworkPort{{Port: 80}}}
		if p := PrivateEndpoint("ws", rule, protected); len(p.Spec.Egress) != 0 {
			t.Errorf("egress = %+v, want no rule", p.Spec.Egress)
		}
	})
	t.Run("an NCC destination of protected addresses gets no rule; the others keep theirs", func(t *testing.T) {
		w := workspace()
		w.ControlPlane.ProtectedCIDRs = protected
		w.AllowedDestinations = []computev1.AllowedDestination{
			{CIDR: "169.254.169.254/32", Ports: []computev1.NetworkPort{{Port: 80}}},
			{CIDR: "0.0.0.0/0", Ports: []computev1.NetworkPort{{Port: 443}}},
		}
		p := byName(Compile(w))[EgressAllowed]
		if p == nil || len(p.Spec.Egress) != 1 || p.Spec.Egress[0].To[0].IPBlock.CIDR != "0.0.0.0/0" ||
			len(p.Spec.Egress[0].To[0].IPBlock.Except) != 3 {
			t.Fatalf("egress allowed = %+v", p)
		}
		w.AllowedDestinations = w.AllowedDestinations[:1]
		if p := byName(Compile(w))[EgressAllowed]; p != nil {
			t.Fatalf("a destination that compiles to nothing made %+v", p.Spec)
		}
	})
}

func TestProtected(t *testing.T) {
	protected := []string{"10.96.0.0/12", "fd00:10::/64", "not-a-cidr"}
	tests := []struct {
		addr, want string
		ok         bool
	}{
		{addr: "10.96.0.1", want: "10.96.0.0/12", ok: true},
		{addr: "10.100.4.0/24", want: "10.96.0.0/12", ok: true},
		{addr: "10.96.0.0/12", want: "10.96.0.0/12", ok: true},
		{addr: "fd00:10::5", want: "fd00:10::/64", ok: true},
		// A range around a protected range is reachable outside it: ipBlocks cuts the range out.
		{addr: "10.0.0.0/8"},
		{addr: "10.112.0.1"},
		{addr: "fd00:11::5"},
		{addr: "garbage"},
	}
	for _, tc := range tests {
		got, ok := Protected(tc.addr, protected)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("Protected(%q) = %q, %v; want %q, %v", tc.addr, got, ok, tc.want, tc.ok)
		}
	}
}
