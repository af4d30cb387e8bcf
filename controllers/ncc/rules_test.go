package ncc

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
)

func TestCheckRule(t *testing.T) {
	dynamo := "DynamoDB is not supported by NCC private endpoint rules: it is reached through the region's " +
		"gateway endpoint, which every workspace may always use; remove this rule"
	cross := "CrossRegion: the resource is in eu-west-1 and the NCC in us-east-1, so traffic incurs cross-region data-transfer charges; " +
		"keep resources in the workspace's region to avoid them"
	protected := []string{"10.96.0.0/12", "172.20.0.0/16"}
	tests := []struct {
		name string
		rule computev1.PrivateEndpointRule
		want ruleCheck
	}{
		{name: "single addresses in the NCC's region need no note",
			rule: computev1.PrivateEndpointRule{Name: "db", ResourceType: computev1.ResourceRDS, Addresses: []computev1.IPOrCIDR{"10.0.0.1", "10.0.0.2/32", "fd00::1"}}},
		{name: "the NCC's own region named explicitly is not cross-region",
			rule: computev1.PrivateEndpointRule{Name: "db", ResourceType: computev1.ResourceRDS, ResourceRegion: "us-east-1", Addresses: []computev1.IPOrCIDR{"10.0.0.1"}}},
		{name: "DynamoDB is rejected",
			rule: computev1.PrivateEndpointRule{Name: "t", ResourceType: computev1.ResourceDynamoDB, Addresses: []computev1.IPOrCIDR{"10.0.0.1"}},
			want: ruleCheck{rejected: dynamo}},
		{name: "DynamoDB in another region is rejected without notes",
			rule: computev1.PrivateEndpointRule{Name: "t", ResourceType: computev1.ResourceDynamoDB, ResourceRegion: "eu-west-1", Addresses: []computev1.IPOrCIDR{"10.0.0.0/24"}},
			want: ruleCheck{rejected: dynamo}},
		{name: "another region is flagged",
			rule: computev1.PrivateEndpointRule{Name: "lake", ResourceType: computev1.ResourceS3, ResourceRegion: "eu-west-1", Addresses: []computev1.IPOrCIDR{"10.0.0.1"}},
			want: ruleCheck{crossRegion: true, note: cross}},
		{name: "ranges are named as not behind the Service",
			rule: computev1.PrivateEndpointRule{Name: "lake", ResourceType: computev1.ResourceS3, Addresses: []computev1.IPOrCIDR{"10.0.0.1", "10.0.1.7/24", "fd00::/64"}},
			want: ruleCheck{note: "10.0.1.0/24, fd00::/64 reachable by egress but not behind Service pe-lake, which lists single addresses only"}},
		{name: "both notes are joined",
			rule: computev1.PrivateEndpointRule{Name: "lake", ResourceType: computev1.ResourceS3, ResourceRegion: "eu-west-1", Addresses: []computev1.IPOrCIDR{"10.0.0.0/24"}},
			want: ruleCheck{crossRegion: true, note: cross + "; 10.0.0.0/24 reachable by egress but not behind Service pe-lake, which lists single addresses only"}},
		{name: "an address in a protected range is named, and a range inside one is not called reachable",
			rule: computev1.PrivateEndpointRule{Name: "db", ResourceType: computev1.ResourceRDS, Addresses: []computev1.IPOrCIDR{"10.0.0.1", "172.20.0.5", "10.96.4.0/24"}},
			want: ruleCheck{note: "addresses[1] 172.20.0.5 is in 172.20.0.0/16, addresses[2] 10.96.4.0/24 is in 10.96.0.0/12, " +
				"a protected range of the operator's controlPlane.protectedCIDRs: not reachable and not behind Service pe-db; remove it"}},
		{name: "a range around a protected range is reachable outside it",
			rule: computev1.PrivateEndpointRule{Name: "vpc", ResourceType: computev1.ResourceGeneric, Addresses: []computev1.IPOrCIDR{"10.0.0.0/8"}},
			want: ruleCheck{note: "10.0.0.0/8 reachable by egress but not behind Service pe-vpc, which lists single addresses only"}},
		{name: "a rule whose every address is protected is rejected",
			rule: computev1.PrivateEndpointRule{Name: "svc", ResourceType: computev1.ResourceGeneric, ResourceRegion: "eu-west-1", Addresses: []computev1.IPOrCIDR{"10.96.0.10", "172.20.1.0/24"}},
			want: ruleCheck{rejected: "every address is in a protected range of the operator's controlPlane.protectedCIDRs, which no workspace may reach " +
				"(addresses[0] 10.96.0.10 is in 10.96.0.0/12, addresses[1] 172.20.1.0/24 is in 172.20.0.0/16); name the resource's own private address"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, checkRule("us-east-1", &tc.rule, protected), cmp.AllowUnexported(ruleCheck{})); diff != "" {
				t.Errorf("checkRule (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMaterialize(t *testing.T) {
	labels := func(extra ...string) map[string]string {
		l := map[string]string{computev1.LabelNCC: "net", computev1.LabelWorkspace: "team"}
		for i := 0; i+1 < len(extra); i += 2 {
			l[extra[i]] = extra[i+1]
		}
		return l
	}
	sliceLabels := labels(discoveryv1.LabelServiceName, "pe-db", discoveryv1.LabelManagedBy, endpointSliceManager)
	tcp := []computev1.NetworkPort{{Port: 5432}}
	endpoints := func(addrs ...string) []discoveryv1.Endpoint {
		var out []discoveryv1.Endpoint
		for _, a := range addrs {
			out = append(out, discoveryv1.Endpoint{Addresses: []string{a}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}})
		}
		return out
	}
	pgSlicePorts := []discoveryv1.EndpointPort{{Name: ptr.To("tcp-5432"), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To[int32](5432)}}
	pgServicePorts := []corev1.ServicePort{{Name: "tcp-5432", Protocol: corev1.ProtocolTCP, Port: 5432, TargetPort: intstr.FromInt32(5432)}}
	service := func(ports []corev1.ServicePort, annotations map[string]string) *corev1.Service {
		return &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "pe-db", Namespace: "team", Labels: labels(), Annotations: annotations},
			Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Ports: ports},
		}
	}
	type egress struct {
		CIDRs  []string
		Except [][]string
		Ports  []string
	}
	// got is what a test compares: the whole Service and slices, and of the policy what
	// materialize decides (its name, labels and the destinations it allows).
	type got struct {
		Service       *corev1.Service
		Slices        []*discoveryv1.EndpointSlice
		PolicyName    string
		PolicyLabels  map[string]string
		PolicyEgress  []egress
		PolicySelects metav1.LabelSelector
	}
	tests := []struct {
		name      string
		rule      computev1.PrivateEndpointRule
		protected []string
		want      got
	}{
		{
			name: "single IPv4 addresses become one slice, sorted as addresses, not as strings",
			rule: computev1.PrivateEndpointRule{Name: "db", ResourceType: computev1.ResourceRDS, Ports: tcp,
				Addresses: []computev1.IPOrCIDR{"10.0.0.10", "10.0.0.9", "10.0.0.100/32"}},
			want: got{
				Service: service(pgServicePorts, nil),
				Slices: []*discoveryv1.EndpointSlice{{
					ObjectMeta:  metav1.ObjectMeta{Name: "pe-db-ipv4", Namespace: "team", Labels: sliceLabels},
					AddressType: discoveryv1.AddressTypeIPv4, Ports: pgSlicePorts, Endpoints: endpoints("10.0.0.9", "10.0.0.10", "10.0.0.100"),
				}},
				PolicyName: "sp-pe-db", PolicyLabels: labels(),
				PolicyEgress: []egress{{CIDRs: []string{"10.0.0.10/32", "10.0.0.9/32", "10.0.0.100/32"}, Except: [][]string{nil, nil, nil}, Ports: []string{"TCP/5432"}}},
			},
		},
		{
			name: "each family gets its slice, IPv4 first; ranges are allowed but not endpoints",
			rule: computev1.PrivateEndpointRule{Name: "db", ResourceType: computev1.ResourceRDS, Ports: tcp,
				Addresses: []computev1.IPOrCIDR{"fd00::2", "10.1.0.0/16", "fd00::1", "10.0.0.1"}},
			want: got{
				Service: service(pgServicePorts, nil),
				Slices: []*discoveryv1.EndpointSlice{{
					ObjectMeta:  metav1.ObjectMeta{Name: "pe-db-ipv4", Namespace: "team", Labels: sliceLabels},
					AddressType: discoveryv1.AddressTypeIPv4, Ports: pgSlicePorts, Endpoints: endpoints("10.0.0.1"),
				}, {
					ObjectMeta:  metav1.ObjectMeta{Name: "pe-db-ipv6", Namespace: "team", Labels: sliceLabels},
					AddressType: discoveryv1.AddressTypeIPv6, Ports: pgSlicePorts, Endpoints: endpoints("fd00::1", "fd00::2"),
				}},
				PolicyName: "sp-pe-db", PolicyLabels: labels(),
				PolicyEgress: []egress{{CIDRs: []string{"fd00::2/128", "10.1.0.0/16", "fd00::1/128", "10.0.0.1/32"}, Except: [][]string{nil, nil, nil, nil}, Ports: []string{"TCP/5432"}}},
			},
		},
		{
			name: "only ranges: a Service with no slices",
			rule: computev1.PrivateEndpointRule{Name: "db", ResourceType: computev1.ResourceS3, Ports: tcp,
				Addresses: []computev1.IPOrCIDR{"10.1.0.0/16"}},
			want: got{
				Service: service(pgServicePorts, nil), PolicyName: "sp-pe-db", PolicyLabels: labels(),
				PolicyEgress: []egress{{CIDRs: []string{"10.1.0.0/16"}, Except: [][]string{nil}, Ports: []string{"TCP/5432"}}},
			},
		},
		{
			name: "ports keep their protocol and domain names are recorded in order",
			rule: computev1.PrivateEndpointRule{Name: "db", ResourceType: computev1.ResourceGeneric,
				Ports:       []computev1.NetworkPort{{Port: 53, Protocol: computev1.ProtocolUDP}, {Port: 53, Protocol: computev1.ProtocolTCP}, {Port: 443}},
				Addresses:   []computev1.IPOrCIDR{"10.0.0.1"},
				DomainNames: []computev1.DomainName{"db.internal", "db.example.com"}},
			want: got{
				Service: service([]corev1.ServicePort{
					{Name: "udp-53", Protocol: corev1.ProtocolUDP, Port: 53, TargetPort: intstr.FromInt32(53)},
					{Name: "tcp-53", Protocol: corev1.ProtocolTCP, Port: 53, TargetPort: intstr.FromInt32(53)},
					{Name: "tcp-443", Protocol: corev1.ProtocolTCP, Port: 443, TargetPort: intstr.FromInt32(443)},
				}, map[string]string{AnnotationDomainNames: "db.internal,db.example.com"}),
				Slices: []*discoveryv1.EndpointSlice{{
					ObjectMeta:  metav1.ObjectMeta{Name: "pe-db-ipv4", Namespace: "team", Labels: sliceLabels},
					AddressType: discoveryv1.AddressTypeIPv4, Endpoints: endpoints("10.0.0.1"),
					Ports: []discoveryv1.EndpointPort{
						{Name: ptr.To("udp-53"), Protocol: ptr.To(corev1.ProtocolUDP), Port: ptr.To[int32](53)},
						{Name: ptr.To("tcp-53"), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To[int32](53)},
						{Name: ptr.To("tcp-443"), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To[int32](443)},
					},
				}},
				PolicyName: "sp-pe-db", PolicyLabels: labels(),
				PolicyEgress: []egress{{CIDRs: []string{"10.0.0.1/32"}, Except: [][]string{nil}, Ports: []string{"UDP/53", "TCP/53", "TCP/443"}}},
			},
		},
		{
			name: "a protected range is cut out of the allowance and a protected address is neither allowed nor behind the Service",
			rule: computev1.PrivateEndpointRule{Name: "db", ResourceType: computev1.ResourceGeneric, Ports: tcp,
				Addresses: []computev1.IPOrCIDR{"10.0.0.0/8", "172.20.0.5"}},
			protected: []string{"10.96.0.0/12", "172.20.0.0/16"},
			want: got{
				// The protected address is not behind the Service either.
				Service:    service(pgServicePorts, nil),
				PolicyName: "sp-pe-db", PolicyLabels: labels(),
				PolicyEgress: []egress{{CIDRs: []string{"10.0.0.0/8"}, Except: [][]string{{"10.96.0.0/12"}}, Ports: []string{"TCP/5432"}}},
			},
		},
		{
			name: "addresses that are all protected allow nothing",
			rule: computev1.PrivateEndpointRule{Name: "db", ResourceType: computev1.ResourceGeneric, Ports: tcp,
				Addresses: []computev1.IPOrCIDR{"10.96.0.0/16"}},
			protected: []string{"10.96.0.0/12"},
			want:      got{Service: service(pgServicePorts, nil), PolicyName: "sp-pe-db", PolicyLabels: labels()},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := materialize("net", "team", &tc.rule, tc.protected)
			g := got{Service: m.service, Slices: m.slices, PolicyName: m.policy.Name, PolicyLabels: m.policy.Labels, PolicySelects: m.policy.Spec.PodSelector}
			if m.policy.Namespace != "team" || !cmp.Equal(m.policy.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}) {
				t.Errorf("policy %s/%s has types %v, want an egress policy in team", m.policy.Namespace, m.policy.Name, m.policy.Spec.PolicyTypes)
			}
			for _, r := range m.policy.Spec.Egress {
				var e egress
				for _, to := range r.To {
					if to.IPBlock == nil || to.PodSelector != nil || to.NamespaceSelector != nil {
						t.Fatalf("egress peer %+v is not an ipBlock alone", to)
					}
					e.CIDRs = append(e.CIDRs, to.IPBlock.CIDR)
					e.Except = append(e.Except, to.IPBlock.Except)
				}
				for _, p := range r.Ports {
					e.Ports = append(e.Ports, string(*p.Protocol)+"/"+p.Port.String())
				}
				g.PolicyEgress = append(g.PolicyEgress, e)
			}
			if diff := cmp.Diff(tc.want, g); diff != "" {
				t.Errorf("materialize (-want +got):\n%s", diff)
			}
		})
	}
}
