package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ResourceType is the kind of cloud resource a private endpoint rule reaches.
// +kubebuilder:validation:Enum=S3;DynamoDB;RDS;Redshift;Kinesis;Generic
type ResourceType string

const (
	// ResourceS3 is an S3 bucket or access point.
	ResourceS3 ResourceType = "S3"
	// ResourceDynamoDB is a DynamoDB table. NCC rules do not support it: DynamoDB is reached
	// through the region's gateway endpoint, which is always allowed.
	ResourceDynamoDB ResourceType = "DynamoDB"
	// ResourceRDS is an RDS database.
	ResourceRDS ResourceType = "RDS"
	// ResourceRedshift is a Redshift cluster.
	ResourceRedshift ResourceType = "Redshift"
	// ResourceKinesis is a Kinesis stream.
	ResourceKinesis ResourceType = "Kinesis"
	// ResourceGeneric is any other service reachable at fixed addresses.
	ResourceGeneric ResourceType = "Generic"
)

// IPOrCIDR is an IPv4 or IPv6 address or CIDR, for example 10.20.0.15 or 10.20.0.0/24. It is
// never loopback, unspecified (0.0.0.0, ::, and so 0.0.0.0/0) or link-local (the metadata
// address): an EndpointSlice cannot hold such an address, and egress to it is never opened.
// +kubebuilder:validation:MaxLength=43
// +kubebuilder:validation:XValidation:rule="isIP(self) || isCIDR(self)",message="must be an IP address or a CIDR such as 10.0.0.0/16"
// +kubebuilder:validation:XValidation:rule="!isIP(self) || !(ip(self).isLoopback() || ip(self).isUnspecified() || ip(self).isLinkLocalUnicast() || ip(self).isLinkLocalMulticast())",message="must not be a loopback, unspecified (0.0.0.0, ::) or link-local address: use the resource's own address"
// +kubebuilder:validation:XValidation:rule="!isCIDR(self) || !(cidr(self).ip().isLoopback() || cidr(self).ip().isUnspecified() || cidr(self).ip().isLinkLocalUnicast() || cidr(self).ip().isLinkLocalMulticast())",message="must not be a loopback, unspecified (0.0.0.0/0, ::/0) or link-local range: use the resource's own range"
type IPOrCIDR string

// DomainName is a DNS name, optionally with a leading wildcard label, for example
// db.example.internal or *.s3.us-east-1.amazonaws.com.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=253
// +kubebuilder:validation:Pattern=`^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
type DomainName string

// PrivateEndpointRule is a private connection from every bound workspace to a customer resource.
// It is materialized in each bound workspace namespace as a selectorless Service with an
// EndpointSlice and an egress allowance for exactly its addresses and ports.
type PrivateEndpointRule struct {
	// name identifies the rule and names its Service (pe-<name>) in every bound workspace
	// namespace, so it is a DNS label of at most 60 characters starting with a letter.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=60
	// +kubebuilder:validation:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// resourceType is the kind of resource: S3, DynamoDB, RDS, Redshift, Kinesis or Generic.
	// DynamoDB rules are rejected: DynamoDB is reached through the region's gateway endpoint.
	// +required
	ResourceType ResourceType `json:"resourceType"`

	// resourceRegion is the region the resource lives in. Defaults to the NCC's region; a rule
	// for another region is allowed but flagged CrossRegion (it incurs data-transfer cost).
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	ResourceRegion string `json:"resourceRegion,omitempty"`

	// addresses are the IP addresses or CIDRs of the resource (IPv4 or IPv6), for example
	// 10.20.0.15 or 10.20.0.0/24. Single addresses become the endpoints of the rule's Service.
	// An address in one of the operator's protected ranges (controlPlane.protectedCIDRs: the
	// cluster's own networks) is never reachable: it is left out of the Service and named in
	// the rule's status, and a rule whose every address is protected is Rejected.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	Addresses []IPOrCIDR `json:"addresses"`

	// ports are the destination ports of the resource.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	Ports []NetworkPort `json:"ports"`

	// domainNames are the DNS names the resource is known by, recorded on the rule's Service.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	DomainNames []DomainName `json:"domainNames,omitempty"`
}

// AllowedDestination is an egress allowance for every workspace bound to the NCC.
type AllowedDestination struct {
	// cidr is the destination network, for example 203.0.113.0/24.
	// +required
	// +kubebuilder:validation:MaxLength=43
	// +kubebuilder:validation:XValidation:rule="isCIDR(self)",message="cidr must be a CIDR such as 203.0.113.0/24"
	CIDR string `json:"cidr"`

	// ports are the destination ports allowed. Empty allows every port.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Ports []NetworkPort `json:"ports,omitempty"`
}

// NetworkConnectivityConfigSpec is the desired state of a NetworkConnectivityConfig.
type NetworkConnectivityConfigSpec struct {
	// region is the region the NCC serves; only workspaces of this region can bind to it. It must
	// be one of the regions of the operator configuration and cannot change after creation.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="region is immutable; create a new NetworkConnectivityConfig in the other region"
	Region string `json:"region"`

	// privateEndpointRules are private connections to customer resources, materialized in every
	// bound workspace namespace.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	PrivateEndpointRules []PrivateEndpointRule `json:"privateEndpointRules,omitempty"`

	// allowedDestinations are networks every bound workspace may reach, beyond DNS and the
	// region's storage gateway endpoints, one entry per CIDR (a CIDR listed twice is refused;
	// server-side apply merges entries of several field managers by CIDR).
	// +optional
	// +listType=map
	// +listMapKey=cidr
	// +kubebuilder:validation:MaxItems=32
	AllowedDestinations []AllowedDestination `json:"allowedDestinations,omitempty"`

	// stableIPs says which stable egress IPs the NCC publishes: Current (the default) publishes
	// status.egressCIDRs; Legacy also publishes the region's legacy stable IP list in status
	// until its decommission date (2026-05-25), after which the list is gone and the
	// LegacyStableIPs condition says how to migrate.
	// +optional
	// +kubebuilder:default=Current
	StableIPs StableIPMode `json:"stableIPs,omitempty"`
}

// StableIPMode is which stable egress IPs an NCC publishes.
// +kubebuilder:validation:Enum=Current;Legacy
type StableIPMode string

const (
	// StableIPsCurrent publishes the region's stable egress CIDRs.
	StableIPsCurrent StableIPMode = "Current"
	// StableIPsLegacy also publishes the legacy stable IP list until it is decommissioned.
	StableIPsLegacy StableIPMode = "Legacy"
)

// ConnectionState is the state of a private endpoint rule.
// +kubebuilder:validation:Enum=Pending;Established;Rejected
type ConnectionState string

const (
	// ConnectionPending means the rule is accepted but not yet materialized in every bound
	// workspace.
	ConnectionPending ConnectionState = "Pending"
	// ConnectionEstablished means the rule is materialized in every bound workspace.
	ConnectionEstablished ConnectionState = "Established"
	// ConnectionRejected means the rule is invalid; its message says why.
	ConnectionRejected ConnectionState = "Rejected"
)

// PrivateEndpointRuleStatus is the observed state of a private endpoint rule.
type PrivateEndpointRuleStatus struct {
	// name is the rule's name.
	// +required
	Name string `json:"name"`

	// connectionState is Pending, Established or Rejected.
	// +required
	ConnectionState ConnectionState `json:"connectionState"`

	// crossRegion is true when the resource is in another region than the NCC: traffic to it
	// incurs cross-region data-transfer cost.
	// +optional
	CrossRegion bool `json:"crossRegion,omitempty"`

	// message explains the state, for example why the rule was rejected.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
}

// NetworkConnectivityConfigStatus is the observed state of a NetworkConnectivityConfig.
type NetworkConnectivityConfigStatus struct {
	// observedGeneration is the metadata.generation of the last pass that succeeded. A pass that
	// fails leaves it, and sets Ready False and Reconciling True with reason ReconcileError.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions are Ready, Reconciling, Stalled and LegacyStableIPs.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// egressCIDRs are the region's stable egress addresses: put them on resource firewalls.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	EgressCIDRs []string `json:"egressCIDRs,omitempty"`

	// legacyStableIPs is the region's legacy stable IP list, published while
	// spec.stableIPs is Legacy and the decommission date has not passed.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	LegacyStableIPs []string `json:"legacyStableIPs,omitempty"`

	// rules is the state of each private endpoint rule.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	Rules []PrivateEndpointRuleStatus `json:"rules,omitempty"`

	// boundWorkspaces are the workspaces that use this NCC, sorted by name: the first
	// MaxListedWorkspaces of them when more are bound (boundWorkspaceCount counts them all).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=1024
	BoundWorkspaces []string `json:"boundWorkspaces,omitempty"`

	// boundWorkspaceCount is how many workspaces use this NCC.
	// +optional
	BoundWorkspaceCount int32 `json:"boundWorkspaceCount,omitempty"`
}

// MaxListedWorkspaces is how many bound workspaces an NCC's status lists.
const MaxListedWorkspaces = 1024

// NetworkConnectivityConfig is a regional set of egress rules and private endpoints shared by
// the workspaces bound to it, and the source of their stable egress IPs.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=ncc,categories=serverless
// +kubebuilder:printcolumn:name="Region",type=string,JSONPath=`.spec.region`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Workspaces",type=integer,JSONPath=`.status.boundWorkspaceCount`
// +kubebuilder:printcolumn:name="Egress",type=string,JSONPath=`.status.egressCIDRs`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type NetworkConnectivityConfig struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state of the NCC.
	// +required
	Spec NetworkConnectivityConfigSpec `json:"spec"`

	// status is the observed state of the NCC.
	// +optional
	Status NetworkConnectivityConfigStatus `json:"status,omitempty"`
}

// NetworkConnectivityConfigList is a list of NetworkConnectivityConfigs.
//
// +kubebuilder:object:root=true
type NetworkConnectivityConfigList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NetworkConnectivityConfig `json:"items"`
}

func init() {
	SchemeBuilder.Register(&NetworkConnectivityConfig{}, &NetworkConnectivityConfigList{})
}
