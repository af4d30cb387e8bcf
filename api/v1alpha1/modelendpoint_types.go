package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WorkloadSize is the concurrency range of a served entity: Small serves 0-4 concurrent
// requests, Medium 8-16 and Large 16-64. The operator configuration turns it into replica bounds
// through the per-replica concurrency.
// +kubebuilder:validation:Enum=Small;Medium;Large
type WorkloadSize string

// Workload sizes.
const (
	WorkloadSmall  WorkloadSize = "Small"
	WorkloadMedium WorkloadSize = "Medium"
	WorkloadLarge  WorkloadSize = "Large"
)

// WorkloadType is the compute a served entity runs on; the operator configuration maps it to
// resources, GPU count, tolerations and node selectors.
// +kubebuilder:validation:Enum=CPU;GPU_SMALL;GPU_MEDIUM;GPU_LARGE;MULTIGPU_MEDIUM
type WorkloadType string

// Workload types.
const (
	WorkloadCPU            WorkloadType = "CPU"
	WorkloadGPUSmall       WorkloadType = "GPU_SMALL"
	WorkloadGPUMedium      WorkloadType = "GPU_MEDIUM"
	WorkloadGPULarge       WorkloadType = "GPU_LARGE"
	WorkloadMultiGPUMedium WorkloadType = "MULTIGPU_MEDIUM"
)

// ScaleToZero says whether a served entity may scale to zero replicas when idle.
// +kubebuilder:validation:Enum=Enabled;Disabled
type ScaleToZero string

const (
	// ScaleToZeroEnabled lets an idle entity scale to zero; the first request brings it back.
	ScaleToZeroEnabled ScaleToZero = "Enabled"
	// ScaleToZeroDisabled keeps at least the workload size's minimum replicas.
	ScaleToZeroDisabled ScaleToZero = "Disabled"
)

// ModelRef names a registered model version.
type ModelRef struct {
	// name is the registered model's name, for example main.default.churn.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Name string `json:"name"`

	// version is the model version, as a string, for example "3".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	Version string `json:"version"`
}

// ServedEntity is a model version served by an endpoint, with its own compute.
type ServedEntity struct {
	// name identifies the entity within the endpoint and names its Deployment and Service, so it
	// is a DNS label of at most 20 characters starting with a letter.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=20
	// +kubebuilder:validation:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// model is the model version the entity serves.
	// +required
	Model ModelRef `json:"model"`

	// image is the model server image. Defaults to the operator configuration's model server
	// image.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image,omitempty"`

	// workloadSize is Small (0-4 concurrent requests), Medium (8-16) or Large (16-64).
	// With scaleToZero Enabled every size's lower bound is 0. Defaults to Small.
	// +optional
	// +kubebuilder:default=Small
	WorkloadSize WorkloadSize `json:"workloadSize,omitempty"`

	// workloadType is CPU, GPU_SMALL, GPU_MEDIUM, GPU_LARGE or MULTIGPU_MEDIUM. Defaults to CPU.
	// +optional
	// +kubebuilder:default=CPU
	WorkloadType WorkloadType `json:"workloadType,omitempty"`

	// scaleToZero is Enabled or Disabled. When Enabled, an idle entity scales to zero replicas
	// and the first request brings it back. Defaults to Disabled.
	// +optional
	// +kubebuilder:default=Disabled
	ScaleToZero ScaleToZero `json:"scaleToZero,omitempty"`

	// env are extra environment variables for the model server container: literal values, or the
	// pod's own fields and resources (fieldRef, resourceFieldRef). Names the operator sets are
	// reserved.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:XValidation:rule="self.all(e, !e.name.startsWith('SERVERLESSPLANE_') && !(['MODEL_NAME', 'MODEL_VERSION', 'PORT', 'METRICS_PORT'].exists(n, n == e.name)))",message="env names must not start with SERVERLESSPLANE_ or be MODEL_NAME, MODEL_VERSION, PORT or METRICS_PORT: the operator sets those"
	// +kubebuilder:validation:XValidation:rule="self.all(e, !has(e.valueFrom) || ((has(e.valueFrom.fieldRef) || has(e.valueFrom.resourceFieldRef)) && !has(e.valueFrom.secretKeyRef) && !has(e.valueFrom.configMapKeyRef) && !has(e.valueFrom.fileKeyRef)))",message="env valueFrom may only be fieldRef or resourceFieldRef: a workload cannot read the namespace's Secrets or ConfigMaps, which workspace admins cannot read either; put the value in value"
	Env []corev1.EnvVar `json:"env,omitempty"`
}

// TrafficRoute sends a share of the endpoint's requests to one served entity.
type TrafficRoute struct {
	// servedEntity is the name of an entity in spec.servedEntities.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=20
	ServedEntity string `json:"servedEntity"`

	// percent is the share of requests, 0 to 100. The percents of all routes sum to 100.
	// +required
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Percent int32 `json:"percent"`
}

// TrafficConfig splits an endpoint's requests between its served entities.
type TrafficConfig struct {
	// routes are the shares per served entity; each entity appears at most once and the percents
	// sum to 100.
	// +required
	// +listType=map
	// +listMapKey=servedEntity
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=10
	// +kubebuilder:validation:XValidation:rule="self.map(r, r.percent).sum() == 100",message="spec.traffic.routes percents must sum to 100"
	Routes []TrafficRoute `json:"routes"`
}

// RateLimitKey is what a rate limit counts calls by.
// +kubebuilder:validation:Enum=Endpoint;User
type RateLimitKey string

const (
	// RateLimitEndpoint counts every call to the endpoint.
	RateLimitEndpoint RateLimitKey = "Endpoint"
	// RateLimitUser counts calls per caller.
	RateLimitUser RateLimitKey = "User"
)

// RateLimitPeriod is the window a rate limit counts calls over.
// +kubebuilder:validation:Enum=Minute
type RateLimitPeriod string

const (
	// RateLimitMinute counts calls per minute.
	RateLimitMinute RateLimitPeriod = "Minute"
)

// RateLimit caps the calls an endpoint accepts. Limits are carried to the gateway route.
type RateLimit struct {
	// key is Endpoint (all calls) or User (calls per caller).
	// +required
	Key RateLimitKey `json:"key"`

	// calls is the number of calls allowed per period, at least 1.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	Calls int32 `json:"calls"`

	// period is the window calls are counted over. Only Minute. Defaults to Minute.
	// +optional
	// +kubebuilder:default=Minute
	Period RateLimitPeriod `json:"period,omitempty"`
}

// ModelEndpointSpec is the desired state of a ModelEndpoint.
// +kubebuilder:validation:XValidation:rule="has(self.traffic) || size(self.servedEntities) == 1",message="spec.traffic is required when there is more than one served entity",fieldPath=".traffic"
// +kubebuilder:validation:XValidation:rule="!has(self.traffic) || self.traffic.routes.all(r, self.servedEntities.exists(e, e.name == r.servedEntity))",message="spec.traffic.routes[].servedEntity must name an entity of spec.servedEntities",fieldPath=".traffic.routes"
type ModelEndpointSpec struct {
	// servedEntities are the model versions the endpoint serves, 1 to 10, each with a unique
	// name.
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=10
	ServedEntities []ServedEntity `json:"servedEntities"`

	// traffic splits requests between the served entities. It may be omitted when there is one
	// entity, which then gets 100%.
	// +optional
	Traffic *TrafficConfig `json:"traffic,omitempty"`

	// rateLimits cap the calls the endpoint accepts, per endpoint or per user.
	// +optional
	// +listType=map
	// +listMapKey=key
	// +kubebuilder:validation:MaxItems=2
	RateLimits []RateLimit `json:"rateLimits,omitempty"`
}

// EndpointReadiness says whether an endpoint serves its whole active config.
// +kubebuilder:validation:Enum=Ready;NotReady
type EndpointReadiness string

const (
	// EndpointReady means every served entity of the active config is ready.
	EndpointReady EndpointReadiness = "Ready"
	// EndpointNotReady means some served entity of the active config is not ready.
	EndpointNotReady EndpointReadiness = "NotReady"
)

// ConfigUpdateState says whether a config change is rolling out.
// +kubebuilder:validation:Enum=NotUpdating;InProgress;UpdateFailed
type ConfigUpdateState string

const (
	// ConfigNotUpdating means the active config is the spec.
	ConfigNotUpdating ConfigUpdateState = "NotUpdating"
	// ConfigInProgress means a config change is rolling out; the previous config serves.
	ConfigInProgress ConfigUpdateState = "InProgress"
	// ConfigUpdateFailed means a config change failed to roll out; the previous config serves.
	ConfigUpdateFailed ConfigUpdateState = "UpdateFailed"
)

// EndpointState is the summary state of an endpoint.
type EndpointState struct {
	// ready is Ready when every served entity of the active config is ready, else NotReady.
	// +optional
	Ready EndpointReadiness `json:"ready,omitempty"`

	// configUpdate is NotUpdating, InProgress while a change rolls out, or UpdateFailed.
	// +optional
	ConfigUpdate ConfigUpdateState `json:"configUpdate,omitempty"`
}

// ServedEntityState is the state of one served entity.
// +kubebuilder:validation:Enum=Ready;NotReady;Updating;ScaledToZero;Failed
type ServedEntityState string

// Served entity states.
const (
	EntityReady        ServedEntityState = "Ready"
	EntityNotReady     ServedEntityState = "NotReady"
	EntityUpdating     ServedEntityState = "Updating"
	EntityScaledToZero ServedEntityState = "ScaledToZero"
	EntityFailed       ServedEntityState = "Failed"
)

// ServedEntityStatus is the observed state of one served entity.
type ServedEntityStatus struct {
	// name is the served entity's name.
	// +required
	Name string `json:"name"`

	// replicas is the number of model server pods.
	// +optional
	Replicas int32 `json:"replicas"`

	// readyReplicas is the number of model server pods that are ready.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas"`

	// desiredReplicas is what the autoscaler wants, within the workload size's bounds.
	// +optional
	DesiredReplicas int32 `json:"desiredReplicas"`

	// state is Ready, NotReady, Updating, ScaledToZero or Failed.
	// +optional
	State ServedEntityState `json:"state,omitempty"`

	// message explains the state.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`

	// inFlightRequests is the last observed number of requests in flight.
	// +optional
	InFlightRequests *int32 `json:"inFlightRequests,omitempty"`

	// autoscaling is the autoscaler's last decision for this entity.
	// +optional
	Autoscaling *AutoscalingStatus `json:"autoscaling,omitempty"`
}

// ModelEndpointStatus is the observed state of a ModelEndpoint.
type ModelEndpointStatus struct {
	// observedGeneration is the metadata.generation of the last pass that succeeded. A pass that
	// fails leaves it, and sets Ready False and Reconciling True with reason ReconcileError.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions are Ready, Reconciling, Stalled, WeightedRouting (whether the gateway routes
	// the traffic split) and MetricsAvailable (whether the autoscaler reads the load).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// state summarizes readiness and config updates.
	// +optional
	State EndpointState `json:"state,omitempty"`

	// url is where the endpoint is invoked: the control-plane gateway's
	// https://<controlPlane.gateway.hostname>/workspaces/<workspace>/serving-endpoints/<name>/invocations
	// (docs/gateway.md).
	// +optional
	URL string `json:"url,omitempty"`

	// servedEntities is the state of each served entity.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=20
	ServedEntities []ServedEntityStatus `json:"servedEntities,omitempty"`

	// activeTraffic is the traffic split currently routed: the spec's once every entity it names
	// is ready, the previous one while a change rolls out or after it failed.
	// +optional
	ActiveTraffic *TrafficConfig `json:"activeTraffic,omitempty"`
}

// ModelEndpoint serves one or more model versions behind one URL, with weighted traffic between
// them, mutual TLS from the control plane, and autoscaling down to zero where allowed.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=mep,categories=serverless
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.state.ready`
// +kubebuilder:printcolumn:name="Update",type=string,JSONPath=`.status.state.configUpdate`
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.status.url`
// +kubebuilder:printcolumn:name="Entities",type=string,JSONPath=`.spec.servedEntities[*].name`,priority=1
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 42 && self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be a DNS label of at most 42 characters starting with a letter: with a served entity's name it names a Service"
type ModelEndpoint struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state of the endpoint.
	// +required
	Spec ModelEndpointSpec `json:"spec"`

	// status is the observed state of the endpoint.
	// +optional
	Status ModelEndpointStatus `json:"status,omitempty"`
}

// ModelEndpointList is a list of ModelEndpoints.
//
// +kubebuilder:object:root=true
type ModelEndpointList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ModelEndpoint `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ModelEndpoint{}, &ModelEndpointList{})
}
