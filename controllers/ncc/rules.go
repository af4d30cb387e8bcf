package ncc

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/pkg/naming"
	"github.com/serverlessplane/operator/pkg/netpolicy"
)

// AnnotationDomainNames records a private endpoint rule's domain names on its Service.
const AnnotationDomainNames = "compute.serverlessplane.io/domain-names"

// endpointSliceManager marks the EndpointSlices the operator writes, so the EndpointSlice
// controller leaves them alone.
const endpointSliceManager = "operator.serverlessplane.io"

// ruleCheck is the verdict on one rule before it is materialized anywhere.
type ruleCheck struct {
	rejected    string // why the rule is rejected; empty when it is valid
	crossRegion bool
	note        string // something the user should know about a valid rule
}

// checkRule validates a rule against what admission cannot know: the NCC's region, how the
// resource type is reached and the operator's protected ranges (controlPlane.protectedCIDRs:
// the pod and service networks, node addresses), which no workspace may reach. Admission
// refuses link-local and loopback addresses; an address in a protected range is left out of
// the rule's Service and named, and a rule whose every address is protected is rejected.
func checkRule(nccRegion string, rule *computev1.PrivateEndpointRule, protected []string) ruleCheck {
	if rule.ResourceType == computev1.ResourceDynamoDB {
		return ruleCheck{rejected: "DynamoDB is not supported by NCC private endpoint rules: it is reached through the region's " +
			"gateway endpoint, which every workspace may always use; remove this rule"}
	}
	var guarded, ranges []string
	for i, a := range rule.Addresses {
		if g, ok := netpolicy.Protected(string(a), protected); ok {
			guarded = append(guarded, fmt.Sprintf("addresses[%d] %s is in %s", i, a, g))
		} else if p, err := configv1.ParsePrefix(string(a)); err == nil && !p.IsSingleIP() {
			ranges = append(ranges, p.String())
		}
	}
	if len(guarded) > 0 && len(guarded) == len(rule.Addresses) {
		return ruleCheck{rejected: fmt.Sprintf("every address is in a protected range of the operator's controlPlane.protectedCIDRs, "+
			"which no workspace may reach (%s); name the resource's own private address", strings.Join(guarded, ", "))}
	}
	var c ruleCheck
	var notes []string
	if len(guarded) > 0 {
		notes = append(notes, fmt.Sprintf("%s, a protected range of the operator's controlPlane.protectedCIDRs: not reachable and not behind Service %s; remove it",
			strings.Join(guarded, ", "), naming.PrivateEndpointService(rule.Name)))
	}
	if rule.ResourceRegion != "" && rule.ResourceRegion != nccRegion {
		c.crossRegion = true
		notes = append(notes, fmt.Sprintf("CrossRegion: the resource is in %s and the NCC in %s, so traffic incurs cross-region data-transfer charges; "+
			"keep resources in the workspace's region to avoid them", rule.ResourceRegion, nccRegion))
	}
	if len(ranges) > 0 {
		notes = append(notes, fmt.Sprintf("%s reachable by egress but not behind Service %s, which lists single addresses only",
			strings.Join(ranges, ", "), naming.PrivateEndpointService(rule.Name)))
	}
	c.note = strings.Join(notes, "; ")
	return c
}

// materialized are the objects of one rule in one workspace namespace.
type materialized struct {
	service *corev1.Service
	slices  []*discoveryv1.EndpointSlice
	policy  *networkingv1.NetworkPolicy
}

// materialize compiles a valid rule into a workspace namespace: a selectorless Service with
// EndpointSlices of its single addresses outside the protected ranges, and an egress allowance
// for exactly its addresses and ports, protected ranges cut out.
func materialize(nccName, workspace string, rule *computev1.PrivateEndpointRule, protected []string) materialized {
	labels := func() map[string]string {
		return map[string]string{computev1.LabelNCC: nccName, computev1.LabelWorkspace: workspace}
	}
	svcName := naming.PrivateEndpointService(rule.Name)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: svcName, Namespace: workspace, Labels: labels()},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP},
	}
	if len(rule.DomainNames) > 0 {
		names := make([]string, 0, len(rule.DomainNames))
		for _, d := range rule.DomainNames {
			names = append(names, string(d))
		}
		svc.Annotations = map[string]string{AnnotationDomainNames: strings.Join(names, ",")}
	}
	var slicePorts []discoveryv1.EndpointPort
	for _, p := range rule.Ports {
		proto := protocol(p.Protocol)
		name := strings.ToLower(string(proto)) + "-" + strconv.Itoa(int(p.Port))
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{
			Name: name, Protocol: proto, Port: p.Port, TargetPort: intstr.FromInt32(p.Port),
		})
		slicePorts = append(slicePorts, discoveryv1.EndpointPort{Name: ptr.To(name), Protocol: ptr.To(proto), Port: ptr.To(p.Port)})
	}
	byFamily := map[discoveryv1.AddressType][]string{}
	for _, a := range rule.Addresses {
		p, err := configv1.ParsePrefix(string(a))
		if err != nil || !p.IsSingleIP() {
			continue
		}
		if _, guarded := netpolicy.Protected(string(a), protected); guarded {
			continue
		}
		family := discoveryv1.AddressTypeIPv4
		if p.Addr().Is6() {
			family = discoveryv1.AddressTypeIPv6
		}
		byFamily[family] = append(byFamily[family], p.Addr().String())
	}
	m := materialized{service: svc}
	for _, family := range []discoveryv1.AddressType{discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6} {
		addrs := byFamily[family]
		if len(addrs) == 0 {
			continue
		}
		sort.Slice(addrs, func(i, j int) bool {
			return netip.MustParseAddr(addrs[i]).Less(netip.MustParseAddr(addrs[j]))
		})
		l := labels()
		l[discoveryv1.LabelServiceName] = svcName
		l[discoveryv1.LabelManagedBy] = endpointSliceManager
		slice := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: svcName + "-" + strings.ToLower(string(family)), Namespace: workspace, Labels: l},
			AddressType: family,
			Ports:       slicePorts,
		}
		for _, a := range addrs {
			slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
				Addresses: []string{a}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			})
		}
		m.slices = append(m.slices, slice)
	}
	m.policy = netpolicy.PrivateEndpoint(workspace, rule, protected)
	m.policy.Labels = labels()
	return m
}

func protocol(p computev1.Protocol) corev1.Protocol {
	if p == computev1.ProtocolUDP {
		return corev1.ProtocolUDP
	}
	return corev1.ProtocolTCP
}
