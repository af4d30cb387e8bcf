// Package builders makes test objects fluently, for every test tier:
//
//	builders.Workspace("a").Region("us-east-1").NCC("net").Obj()
package builders

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
)

// WorkspaceBuilder builds a Workspace.
type WorkspaceBuilder struct{ obj computev1.Workspace }

// Workspace starts a Workspace in us-east-1.
func Workspace(name string) *WorkspaceBuilder {
	return &WorkspaceBuilder{obj: computev1.Workspace{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       computev1.WorkspaceSpec{Region: "us-east-1"},
	}}
}

// Region sets spec.region.
func (b *WorkspaceBuilder) Region(r string) *WorkspaceBuilder { b.obj.Spec.Region = r; return b }

// NCC sets spec.networkConnectivityConfig.
func (b *WorkspaceBuilder) NCC(name string) *WorkspaceBuilder {
	b.obj.Spec.NetworkConnectivityConfig = name
	return b
}

// Metastore sets spec.metastore.type.
func (b *WorkspaceBuilder) Metastore(t computev1.MetastoreType) *WorkspaceBuilder {
	b.obj.Spec.Metastore.Type = t
	return b
}

// Admin adds a subject to spec.admins.
func (b *WorkspaceBuilder) Admin(kind computev1.SubjectKind, name, namespace string) *WorkspaceBuilder {
	b.obj.Spec.Admins = append(b.obj.Spec.Admins, computev1.WorkspaceAdmin{Kind: kind, Name: name, Namespace: namespace})
	return b
}

// Quota sets spec.resourceQuota.
func (b *WorkspaceBuilder) Quota(list corev1.ResourceList) *WorkspaceBuilder {
	b.obj.Spec.ResourceQuota = list
	return b
}

// Defaults sets spec.defaultContainerResources.
func (b *WorkspaceBuilder) Defaults(requests, limits corev1.ResourceList) *WorkspaceBuilder {
	b.obj.Spec.DefaultContainerResources = &computev1.ContainerResourceDefaults{Requests: requests, Limits: limits}
	return b
}

// Obj returns the Workspace.
func (b *WorkspaceBuilder) Obj() *computev1.Workspace { return b.obj.DeepCopy() }

// NCCBuilder builds a NetworkConnectivityConfig.
type NCCBuilder struct {
	obj computev1.NetworkConnectivityConfig
}

// NCC starts a NetworkConnectivityConfig in us-east-1.
func NCC(name string) *NCCBuilder {
	return &NCCBuilder{obj: computev1.NetworkConnectivityConfig{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       computev1.NetworkConnectivityConfigSpec{Region: "us-east-1"},
	}}
}

// Region sets spec.region.
func (b *NCCBuilder) Region(r string) *NCCBuilder { b.obj.Spec.Region = r; return b }

// Rule adds a private endpoint rule reaching addresses on TCP ports.
func (b *NCCBuilder) Rule(name string, t computev1.ResourceType, addresses []string, ports ...int32) *NCCBuilder {
	rule := computev1.PrivateEndpointRule{Name: name, ResourceType: t}
	for _, a := range addresses {
		rule.Addresses = append(rule.Addresses, computev1.IPOrCIDR(a))
	}
	for _, p := range ports {
		rule.Ports = append(rule.Ports, computev1.NetworkPort{Port: p, Protocol: computev1.ProtocolTCP})
	}
	b.obj.Spec.PrivateEndpointRules = append(b.obj.Spec.PrivateEndpointRules, rule)
	return b
}

// RuleRegion sets the resource region of the last rule.
func (b *NCCBuilder) RuleRegion(region string) *NCCBuilder {
	b.obj.Spec.PrivateEndpointRules[len(b.obj.Spec.PrivateEndpointRules)-1].ResourceRegion = region
	return b
}

// RuleDomains sets the domain names of the last rule.
func (b *NCCBuilder) RuleDomains(names ...string) *NCCBuilder {
	r := &b.obj.Spec.PrivateEndpointRules[len(b.obj.Spec.PrivateEndpointRules)-1]
	for _, n := range names {
		r.DomainNames = append(r.DomainNames, computev1.DomainName(n))
	}
	return b
}

// Allow adds an allowed destination on TCP ports (every port when none).
func (b *NCCBuilder) Allow(cidr string, ports ...int32) *NCCBuilder {
	d := computev1.AllowedDestination{CIDR: cidr}
	for _, p := range ports {
		d.Ports = append(d.Ports, computev1.NetworkPort{Port: p, Protocol: computev1.ProtocolTCP})
	}
	b.obj.Spec.AllowedDestinations = append(b.obj.Spec.AllowedDestinations, d)
	return b
}

// StableIPs sets spec.stableIPs.
func (b *NCCBuilder) StableIPs(mode computev1.StableIPMode) *NCCBuilder {
	b.obj.Spec.StableIPs = mode
	return b
}

// Obj returns the NetworkConnectivityConfig.
func (b *NCCBuilder) Obj() *computev1.NetworkConnectivityConfig { return b.obj.DeepCopy() }

// WarehouseBuilder builds a ServerlessWarehouse.
type WarehouseBuilder struct{ obj computev1.ServerlessWarehouse }

// Warehouse starts a ServerlessWarehouse in namespace ns.
func Warehouse(ns, name string) *WarehouseBuilder {
	return &WarehouseBuilder{obj: computev1.ServerlessWarehouse{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}}
}

// Size sets spec.clusterSize.
func (b *WarehouseBuilder) Size(s computev1.ClusterSize) *WarehouseBuilder {
	b.obj.Spec.ClusterSize = s
	return b
}

// Clusters sets spec.minClusters and spec.maxClusters.
func (b *WarehouseBuilder) Clusters(minimum, maximum int32) *WarehouseBuilder {
	b.obj.Spec.MinClusters, b.obj.Spec.MaxClusters = minimum, maximum
	return b
}

// AutoStop sets spec.autoStopMinutes.
func (b *WarehouseBuilder) AutoStop(minutes int32) *WarehouseBuilder {
	b.obj.Spec.AutoStopMinutes = ptr.To(minutes)
	return b
}

// Image sets spec.engine.image.
func (b *WarehouseBuilder) Image(image string) *WarehouseBuilder {
	if b.obj.Spec.Engine == nil {
		b.obj.Spec.Engine = &computev1.WarehouseEngine{}
	}
	b.obj.Spec.Engine.Image = image
	return b
}

// Spot sets spec.spotInstancePolicy.
func (b *WarehouseBuilder) Spot(p computev1.SpotInstancePolicy) *WarehouseBuilder {
	b.obj.Spec.SpotInstancePolicy = p
	return b
}

// Tag adds a tag.
func (b *WarehouseBuilder) Tag(k, v string) *WarehouseBuilder {
	if b.obj.Spec.Tags == nil {
		b.obj.Spec.Tags = map[string]string{}
	}
	b.obj.Spec.Tags[k] = v
	return b
}

// Obj returns the ServerlessWarehouse.
func (b *WarehouseBuilder) Obj() *computev1.ServerlessWarehouse { return b.obj.DeepCopy() }

// EndpointBuilder builds a ModelEndpoint.
type EndpointBuilder struct{ obj computev1.ModelEndpoint }

// Endpoint starts a ModelEndpoint in namespace ns.
func Endpoint(ns, name string) *EndpointBuilder {
	return &EndpointBuilder{obj: computev1.ModelEndpoint{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}}
}

// Entity adds a served entity of model version.
func (b *EndpointBuilder) Entity(name, model, version string) *EndpointBuilder {
	b.obj.Spec.ServedEntities = append(b.obj.Spec.ServedEntities, computev1.ServedEntity{
		Name: name, Model: computev1.ModelRef{Name: model, Version: version},
	})
	return b
}

func (b *EndpointBuilder) last() *computev1.ServedEntity {
	return &b.obj.Spec.ServedEntities[len(b.obj.Spec.ServedEntities)-1]
}

// Size sets the last entity's workload size.
func (b *EndpointBuilder) Size(s computev1.WorkloadSize) *EndpointBuilder {
	b.last().WorkloadSize = s
	return b
}

// Type sets the last entity's workload type.
func (b *EndpointBuilder) Type(t computev1.WorkloadType) *EndpointBuilder {
	b.last().WorkloadType = t
	return b
}

// ScaleToZero enables scale to zero on the last entity.
func (b *EndpointBuilder) ScaleToZero() *EndpointBuilder {
	b.last().ScaleToZero = computev1.ScaleToZeroEnabled
	return b
}

// Image sets the last entity's image.
func (b *EndpointBuilder) Image(image string) *EndpointBuilder {
	b.last().Image = image
	return b
}

// Route adds a traffic route.
func (b *EndpointBuilder) Route(entity string, percent int32) *EndpointBuilder {
	if b.obj.Spec.Traffic == nil {
		b.obj.Spec.Traffic = &computev1.TrafficConfig{}
	}
	b.obj.Spec.Traffic.Routes = append(b.obj.Spec.Traffic.Routes, computev1.TrafficRoute{ServedEntity: entity, Percent: percent})
	return b
}

// RateLimit adds a rate limit per minute.
func (b *EndpointBuilder) RateLimit(key computev1.RateLimitKey, calls int32) *EndpointBuilder {
	b.obj.Spec.RateLimits = append(b.obj.Spec.RateLimits, computev1.RateLimit{Key: key, Calls: calls, Period: computev1.RateLimitMinute})
	return b
}

// Obj returns the ModelEndpoint.
func (b *EndpointBuilder) Obj() *computev1.ModelEndpoint { return b.obj.DeepCopy() }
