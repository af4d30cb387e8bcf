package modelendpoint

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/pkg/naming"
)

// AnnotationRateLimits carries an endpoint's rate limits to its route, for the gateway to
// enforce: "Endpoint=100/Minute,User=10/Minute".
const AnnotationRateLimits = "compute.serverlessplane.io/rate-limits"

// ConditionWeightedRouting says whether the endpoint's traffic split is routed by the gateway.
const ConditionWeightedRouting = "WeightedRouting"

// gatewayAPIInstalled reports whether the cluster serves HTTPRoutes and BackendTLSPolicies.
func gatewayAPIInstalled(mapper meta.RESTMapper) bool {
	for _, kind := range []string{"HTTPRoute", "BackendTLSPolicy"} {
		if _, err := mapper.RESTMapping(schema.GroupKind{Group: gatewayv1.GroupName, Kind: kind}, "v1"); err != nil {
			return false
		}
	}
	return true
}

// route sets the endpoint's URL, the control-plane gateway's, and applies the weighted
// HTTPRoute and the BackendTLSPolicies when the Gateway API is installed.
func (r *Reconciler) route(ctx context.Context, ep *computev1.ModelEndpoint, obs *observation) error {
	obs.url = endpointURL(ep, r.Config)
	if !r.gatewayAPI {
		return nil
	}
	if len(obs.rollout.Active) > 0 {
		if err := r.applier.ApplyOwned(ctx, ep, httpRoute(ep, obs.rollout.Active, r.Config)); err != nil {
			return err
		}
	}
	for _, name := range obs.order {
		if slices.Contains(obs.rollout.Remove, name) {
			continue
		}
		if err := r.applier.ApplyOwned(ctx, ep, backendTLSPolicy(ep, name)); err != nil {
			return err
		}
	}
	return nil
}

// endpointPath is where the gateway serves an endpoint: under its workspace's prefix, as the
// control-plane gateway (docs/gateway.md) and the HTTPRoute agree.
func endpointPath(ep *computev1.ModelEndpoint) string {
	return fmt.Sprintf("/workspaces/%s/serving-endpoints/%s/", ep.Namespace, ep.Name)
}

// endpointURL is the endpoint's invocation URL through the control-plane gateway.
func endpointURL(ep *computev1.ModelEndpoint, cfg *configv1.OperatorConfig) string {
	return "https://" + cfg.ControlPlane.Gateway.Hostname + endpointPath(ep) + "invocations"
}

// httpRoute sends the endpoint's path on the control-plane gateway to its entities' Services,
// weighted by the active traffic.
func httpRoute(ep *computev1.ModelEndpoint, active []computev1.TrafficRoute, cfg *configv1.OperatorConfig) *gatewayv1.HTTPRoute {
	gw := cfg.ControlPlane.Gateway
	var refs []gatewayv1.HTTPBackendRef
	for _, r := range active {
		refs = append(refs, gatewayv1.HTTPBackendRef{BackendRef: gatewayv1.BackendRef{
			BackendObjectReference: gatewayv1.BackendObjectReference{
				Name: gatewayv1.ObjectName(naming.ServedEntity(ep.Name, r.ServedEntity)), Port: ptr.To(gatewayv1.PortNumber(ServicePort)),
			},
			Weight: ptr.To(r.Percent),
		}})
	}
	route := &gatewayv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Name: ep.Name, Namespace: ep.Namespace, Labels: map[string]string{
			computev1.LabelEndpoint: ep.Name, computev1.LabelWorkspace: ep.Namespace,
		}},
		Spec: gatewayv1.HTTPRouteSpec{
			CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: []gatewayv1.ParentReference{{
				Group: ptr.To(gatewayv1.Group(gatewayv1.GroupName)), Kind: ptr.To(gatewayv1.Kind("Gateway")),
				Namespace: ptr.To(gatewayv1.Namespace(gw.Namespace)), Name: gatewayv1.ObjectName(gw.Name),
			}}},
			Hostnames: []gatewayv1.Hostname{gatewayv1.Hostname(gw.Hostname)},
			Rules: []gatewayv1.HTTPRouteRule{{
				Matches: []gatewayv1.HTTPRouteMatch{{Path: &gatewayv1.HTTPPathMatch{
					Type: ptr.To(gatewayv1.PathMatchPathPrefix), Value: ptr.To(endpointPath(ep)),
				}}},
				BackendRefs: refs,
			}},
		},
	}
	if limits := rateLimits(ep); limits != "" {
		route.Annotations = map[string]string{AnnotationRateLimits: limits}
	}
	return route
}

// backendTLSPolicy tells the gateway to reach an entity's Service over TLS and to verify it
// against the operator CA for the Service's DNS name.
func backendTLSPolicy(ep *computev1.ModelEndpoint, entity string) *gatewayv1.BackendTLSPolicy {
	svc := naming.ServedEntity(ep.Name, entity)
	return &gatewayv1.BackendTLSPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: svc, Namespace: ep.Namespace, Labels: map[string]string{
			computev1.LabelEndpoint: ep.Name, computev1.LabelServedEntity: entity, computev1.LabelWorkspace: ep.Namespace,
		}},
		Spec: gatewayv1.BackendTLSPolicySpec{
			TargetRefs: []gatewayv1.LocalPolicyTargetReferenceWithSectionName{{LocalPolicyTargetReference: gatewayv1.LocalPolicyTargetReference{
				Group: "", Kind: "Service", Name: gatewayv1.ObjectName(svc),
			}}},
			Validation: gatewayv1.BackendTLSPolicyValidation{
				CACertificateRefs: []gatewayv1.LocalObjectReference{{Group: "", Kind: "ConfigMap", Name: gatewayv1.ObjectName(caBundleName(ep))}},
				Hostname:          gatewayv1.PreciseHostname(svc + "." + ep.Namespace + ".svc"),
			},
		},
	}
}

func rateLimits(ep *computev1.ModelEndpoint) string {
	var parts []string
	for _, l := range ep.Spec.RateLimits {
		period := l.Period
		if period == "" {
			period = computev1.RateLimitMinute
		}
		parts = append(parts, fmt.Sprintf("%s=%d/%s", l.Key, l.Calls, period))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}
