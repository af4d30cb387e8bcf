package modelendpoint

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/pkg/certs"
	"github.com/serverlessplane/operator/pkg/naming"
	"github.com/serverlessplane/operator/test/builders"
)

func TestHTTPRoute(t *testing.T) {
	// backend is the Service of entity of the endpoint churn, on the port its Service serves.
	backend := func(entity string, weight int32) gatewayv1.HTTPBackendRef {
		return gatewayv1.HTTPBackendRef{BackendRef: gatewayv1.BackendRef{
			BackendObjectReference: gatewayv1.BackendObjectReference{
				Name: gatewayv1.ObjectName(naming.ServedEntity("churn", entity)), Port: ptr.To(gatewayv1.PortNumber(443)),
			},
			Weight: ptr.To(weight),
		}}
	}
	// route is the HTTPRoute of the endpoint churn in workspace ws on the default gateway.
	route := func(annotations map[string]string, refs ...gatewayv1.HTTPBackendRef) *gatewayv1.HTTPRoute {
		return &gatewayv1.HTTPRoute{
			ObjectMeta: metav1.ObjectMeta{Name: "churn", Namespace: "ws", Annotations: annotations, Labels: map[string]string{
				computev1.LabelEndpoint: "churn", computev1.LabelWorkspace: "ws",
			}},
			Spec: gatewayv1.HTTPRouteSpec{
				CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: []gatewayv1.ParentReference{{
					Group: ptr.To(gatewayv1.Group("gateway.networking.k8s.io")), Kind: ptr.To(gatewayv1.Kind("Gateway")),
					Namespace: ptr.To(gatewayv1.Namespace("serverlessplane-system")), Name: "serverlessplane-gateway",
				}}},
				Hostnames: []gatewayv1.Hostname{"serving.serverlessplane.local"},
				Rules: []gatewayv1.HTTPRouteRule{{
					// The prefix the gateway serves a workspace's endpoints under (docs/gateway.md).
					Matches: []gatewayv1.HTTPRouteMatch{{Path: &gatewayv1.HTTPPathMatch{
						Type: ptr.To(gatewayv1.PathMatchPathPrefix), Value: ptr.To("/workspaces/ws/serving-endpoints/churn/"),
					}}},
					BackendRefs: refs,
				}},
			},
		}
	}
	tests := []struct {
		name   string
		ep     *computev1.ModelEndpoint
		active []computev1.TrafficRoute
		config func(*configv1.OperatorConfig)
		want   *gatewayv1.HTTPRoute
	}{
		{
			name:   "a single entity takes all the traffic",
			ep:     builders.Endpoint("ws", "churn").Entity("champion", "m", "1").Obj(),
			active: routes("champion", 100),
			want:   route(nil, backend("champion", 100)),
		},
		{
			name:   "a split sends each entity its percent, in the order of the active routes",
			ep:     builders.Endpoint("ws", "churn").Entity("champion", "m", "1").Entity("challenger", "m", "2").Obj(),
			active: routes("challenger", 20, "champion", 80),
			want:   route(nil, backend("challenger", 20), backend("champion", 80)),
		},
		{
			name:   "an entity routed 0% stays a backend of weight 0, which the gateway sends nothing",
			ep:     builders.Endpoint("ws", "churn").Entity("champion", "m", "1").Entity("challenger", "m", "2").Obj(),
			active: routes("champion", 100, "challenger", 0),
			want:   route(nil, backend("champion", 100), backend("challenger", 0)),
		},
		{
			name: "the active routes are routed, not the spec's traffic",
			ep: builders.Endpoint("ws", "churn").Entity("champion", "m", "1").Entity("challenger", "m", "2").
				Route("champion", 50).Route("challenger", 50).Obj(),
			active: routes("champion", 100),
			want:   route(nil, backend("champion", 100)),
		},
		{
			name:   "rate limits are carried as an annotation",
			ep:     builders.Endpoint("ws", "churn").Entity("champion", "m", "1").RateLimit(computev1.RateLimitEndpoint, 600).Obj(),
			active: routes("champion", 100),
			want: route(map[string]string{"compute.serverlessplane.io/rate-limits": "Endpoint=600/Minute"},
				backend("champion", 100)),
		},
		{
			name:   "the gateway and host name come from the configuration",
			ep:     builders.Endpoint("ws", "churn").Entity("champion", "m", "1").Obj(),
			active: routes("champion", 100),
			config: func(cfg *configv1.OperatorConfig) {
				cfg.ControlPlane.Gateway.Name, cfg.ControlPlane.Gateway.Namespace = "edge", "ingress"
				cfg.ControlPlane.Gateway.Hostname = "models.example.com"
			},
			want: func() *gatewayv1.HTTPRoute {
				r := route(nil, backend("champion", 100))
				r.Spec.ParentRefs[0].Name, r.Spec.ParentRefs[0].Namespace = "edge", ptr.To(gatewayv1.Namespace("ingress"))
				r.Spec.Hostnames = []gatewayv1.Hostname{"models.example.com"}
				return r
			}(),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := configv1.Default()
			if tc.config != nil {
				tc.config(cfg)
			}
			if diff := cmp.Diff(tc.want, httpRoute(tc.ep, tc.active, cfg)); diff != "" {
				t.Errorf("httpRoute (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBackendTLSPolicy(t *testing.T) {
	ep := builders.Endpoint("ws", "churn").Entity("champion", "m", "1").Entity("challenger", "m", "2").Obj()
	for _, entity := range []string{"champion", "challenger"} {
		t.Run(entity, func(t *testing.T) {
			svc := naming.ServedEntity("churn", entity)
			want := &gatewayv1.BackendTLSPolicy{
				ObjectMeta: metav1.ObjectMeta{Name: svc, Namespace: "ws", Labels: map[string]string{
					computev1.LabelEndpoint: "churn", computev1.LabelServedEntity: entity, computev1.LabelWorkspace: "ws",
				}},
				Spec: gatewayv1.BackendTLSPolicySpec{
					TargetRefs: []gatewayv1.LocalPolicyTargetReferenceWithSectionName{{LocalPolicyTargetReference: gatewayv1.LocalPolicyTargetReference{
						Group: "", Kind: "Service", Name: gatewayv1.ObjectName(svc),
					}}},
					Validation: gatewayv1.BackendTLSPolicyValidation{
						CACertificateRefs: []gatewayv1.LocalObjectReference{{Group: "", Kind: "ConfigMap", Name: "churn-ca"}},
						Hostname:          gatewayv1.PreciseHostname(svc + ".ws.svc"),
					},
				},
			}
			got := backendTLSPolicy(ep, entity)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("backendTLSPolicy (-want +got):\n%s", diff)
			}

			// The gateway verifies the entity's certificate: the host name must be one the
			// serving certificate names, and the CA the bundle the operator writes.
			names := servingRequest(ep, configv1.Default()).DNSNames
			if !slices.Contains(names, string(got.Spec.Validation.Hostname)) {
				t.Errorf("hostname %s is not a name of the serving certificate %v", got.Spec.Validation.Hostname, names)
			}
			if bundle := caBundle(ep, certs.Authority{}); string(got.Spec.Validation.CACertificateRefs[0].Name) != bundle.Name {
				t.Errorf("CA reference %s, want the CA bundle %s", got.Spec.Validation.CACertificateRefs[0].Name, bundle.Name)
			}
		})
	}
}

func TestRateLimits(t *testing.T) {
	tests := []struct {
		name   string
		limits []computev1.RateLimit
		want   string
	}{
		{name: "none", want: ""},
		{name: "one", limits: []computev1.RateLimit{{Key: computev1.RateLimitEndpoint, Calls: 100, Period: computev1.RateLimitMinute}}, want: "Endpoint=100/Minute"},
		{name: "an unset period is a minute", limits: []computev1.RateLimit{{Key: computev1.RateLimitUser, Calls: 10}}, want: "User=10/Minute"},
		{
			name: "several, sorted whatever the spec's order",
			limits: []computev1.RateLimit{
				{Key: computev1.RateLimitUser, Calls: 10, Period: computev1.RateLimitMinute},
				{Key: computev1.RateLimitEndpoint, Calls: 1000000, Period: computev1.RateLimitMinute},
			},
			want: "Endpoint=1000000/Minute,User=10/Minute",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ep := &computev1.ModelEndpoint{Spec: computev1.ModelEndpointSpec{RateLimits: tc.limits}}
			if got := rateLimits(ep); got != tc.want {
				t.Errorf("rateLimits = %q, want %q", got, tc.want)
			}
		})
	}
}
