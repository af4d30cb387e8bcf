package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// MetastoreType is the kind of metastore a workspace uses.
// +kubebuilder:validation:Enum=UnityCatalog;Glue;ExternalHive
type MetastoreType string

const (
	// MetastoreUnityCatalog is the Unity Catalog metastore.
	MetastoreUnityCatalog MetastoreType = "UnityCatalog"
	// MetastoreGlue is the AWS Glue catalog; serverless compute supports it.
	MetastoreGlue MetastoreType = "Glue"
	// MetastoreExternalHive is an external Hive metastore; serverless compute does not support it.
	MetastoreExternalHive MetastoreType = "ExternalHive"
)

// SubjectKind is the kind of an RBAC subject.
// +kubebuilder:validation:Enum=User;Group;ServiceAccount
type SubjectKind string

const (
	// SubjectUser is a user as authenticated by the API server.
	SubjectUser SubjectKind = "User"
	// SubjectGroup is a group as authenticated by the API server.
	SubjectGroup SubjectKind = "Group"
	// SubjectServiceAccount is a Kubernetes ServiceAccount.
	SubjectServiceAccount SubjectKind = "ServiceAccount"
)

// WorkspaceAdmin is an RBAC subject that administers a workspace.
// +kubebuilder:validation:XValidation:rule="self.kind == 'ServiceAccount' ? has(self.namespace) : !has(self.namespace)",message="namespace is required for a ServiceAccount and must be empty for a User or Group"
type WorkspaceAdmin struct {
	// kind is User, Group or ServiceAccount.
	// +required
	Kind SubjectKind `json:"kind"`

	// name is the user, group or ServiceAccount name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// namespace is the namespace of a ServiceAccount; empty for users and groups.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`
}

// MetastoreSpec selects the workspace's metastore.
type MetastoreSpec struct {
	// type is UnityCatalog (the default), Glue or ExternalHive. Serverless SQL warehouses need
	// UnityCatalog or Glue.
	// +optional
	// +kubebuilder:default=UnityCatalog
	Type MetastoreType `json:"type,omitempty"`
}

// ContainerResourceDefaults are the defaults the workspace namespace's LimitRange applies to
// containers that do not set their own requests or limits.
type ContainerResourceDefaults struct {
	// requests are the default resource requests of a container, for example cpu: 250m.
	// +optional
	Requests corev1.ResourceList `json:"requests,omitempty"`

	// limits are the default resource limits of a container, for example memory: 1Gi.
	// +optional
	Limits corev1.ResourceList `json:"limits,omitempty"`
}

// WorkspaceSpec is the desired state of a Workspace.
type WorkspaceSpec struct {
	// region is the region the workspace's compute runs in. It must be one of the regions of the
	// operator configuration and cannot change after creation.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="region is immutable; create a new workspace in the other region"
	Region string `json:"region"`

	// networkConnectivityConfig is the name of the NetworkConnectivityConfig that governs the
	// workspace's egress and private endpoints. It must be in the workspace's region. Empty means
	// egress only to DNS and the region's storage gateway endpoints.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	NetworkConnectivityConfig string `json:"networkConnectivityConfig,omitempty"`

	// metastore selects the workspace's metastore. Defaults to Unity Catalog.
	// +optional
	// +kubebuilder:default={type: UnityCatalog}
	Metastore MetastoreSpec `json:"metastore,omitempty"`

	// admins are bound to the workspace-admin ClusterRole in the workspace namespace: they manage
	// warehouses and model endpoints and read events, but cannot read pods or Secrets or exec.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	Admins []WorkspaceAdmin `json:"admins,omitempty"`

	// resourceQuota are the hard limits of the workspace namespace's ResourceQuota, for example
	// requests.cpu: "64". Empty means no ResourceQuota.
	// +optional
	ResourceQuota corev1.ResourceList `json:"resourceQuota,omitempty"`

	// defaultContainerResources are applied by a LimitRange to containers in the workspace
	// namespace that set no requests or limits. Empty means no LimitRange.
	// +optional
	DefaultContainerResources *ContainerResourceDefaults `json:"defaultContainerResources,omitempty"`
}

// WorkspaceStatus is the observed state of a Workspace.
type WorkspaceStatus struct {
	// observedGeneration is the metadata.generation of the last pass that succeeded. A pass that
	// fails leaves it, and sets Ready False and Reconciling True with reason ReconcileError.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions are Ready, Reconciling and Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// namespace is the namespace that holds the workspace's compute plane.
	// +optional
	Namespace string `json:"namespace,omitempty"`

	// namespaceUID is the UID of the namespace the operator created for this workspace. Only
	// that namespace is the workspace's: one created by anyone else is a conflict, even with an
	// owner reference to this workspace (its UID is readable by anyone who can view workspaces).
	// +optional
	NamespaceUID types.UID `json:"namespaceUID,omitempty"`

	// egressCIDRs are the stable egress addresses of the workspace's compute, copied from its
	// NetworkConnectivityConfig: put them on resource firewalls.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	EgressCIDRs []string `json:"egressCIDRs,omitempty"`
}

// Workspace is an isolated compute plane: a namespace, created and owned by the operator, that
// holds the workspace's serverless SQL warehouses and model serving endpoints behind a
// default-deny network boundary.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=ws,categories=serverless
// +kubebuilder:printcolumn:name="Region",type=string,JSONPath=`.spec.region`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="NCC",type=string,JSONPath=`.spec.networkConnectivityConfig`
// +kubebuilder:printcolumn:name="Metastore",type=string,JSONPath=`.spec.metastore.type`,priority=1
// +kubebuilder:printcolumn:name="Namespace",type=string,JSONPath=`.status.namespace`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 63 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be a DNS label (at most 63 lowercase letters, digits and '-'): it names the workspace namespace"
// +kubebuilder:validation:XValidation:rule="self.metadata.name != 'default' && !self.metadata.name.startsWith('kube-') && self.metadata.name != 'serverlessplane-system'",message="metadata.name is reserved: 'default', 'kube-*' and the operator namespace 'serverlessplane-system' cannot be workspaces; choose another name"
type Workspace struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata; the name is also the workspace namespace.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state of the workspace.
	// +required
	Spec WorkspaceSpec `json:"spec"`

	// status is the observed state of the workspace.
	// +optional
	Status WorkspaceStatus `json:"status,omitempty"`
}

// WorkspaceList is a list of Workspaces.
//
// +kubebuilder:object:root=true
type WorkspaceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Workspace `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Workspace{}, &WorkspaceList{})
}
