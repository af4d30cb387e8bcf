package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ClusterSize is the size of each cluster of a warehouse. The operator configuration maps it to
// a number of worker pods, their resources and the DBU/h the cluster consumes.
// +kubebuilder:validation:Enum="2X-Small";"X-Small";"Small";"Medium";"Large";"X-Large";"2X-Large";"3X-Large";"4X-Large"
type ClusterSize string

// Cluster sizes, smallest first.
const (
	ClusterSize2XSmall ClusterSize = "2X-Small"
	ClusterSizeXSmall  ClusterSize = "X-Small"
	ClusterSizeSmall   ClusterSize = "Small"
	ClusterSizeMedium  ClusterSize = "Medium"
	ClusterSizeLarge   ClusterSize = "Large"
	ClusterSizeXLarge  ClusterSize = "X-Large"
	ClusterSize2XLarge ClusterSize = "2X-Large"
	ClusterSize3XLarge ClusterSize = "3X-Large"
	ClusterSize4XLarge ClusterSize = "4X-Large"
)

// ClusterSizes lists every cluster size, smallest first.
var ClusterSizes = []ClusterSize{
	ClusterSize2XSmall, ClusterSizeXSmall, ClusterSizeSmall, ClusterSizeMedium, ClusterSizeLarge,
	ClusterSizeXLarge, ClusterSize2XLarge, ClusterSize3XLarge, ClusterSize4XLarge,
}

// Channel is the release channel of the warehouse engine.
// +kubebuilder:validation:Enum=Current;Preview
type Channel string

const (
	// ChannelCurrent is the generally available engine.
	ChannelCurrent Channel = "Current"
	// ChannelPreview is the preview engine.
	ChannelPreview Channel = "Preview"
)

// SpotInstancePolicy chooses between cheaper interruptible capacity and reliable capacity.
// +kubebuilder:validation:Enum=CostOptimized;ReliabilityOptimized
type SpotInstancePolicy string

const (
	// SpotCostOptimized prefers spot nodes.
	SpotCostOptimized SpotInstancePolicy = "CostOptimized"
	// SpotReliabilityOptimized uses on-demand nodes only.
	SpotReliabilityOptimized SpotInstancePolicy = "ReliabilityOptimized"
)

// WarehouseEngine overrides the SQL engine the warehouse runs. Every field defaults from the
// operator configuration.
type WarehouseEngine struct {
	// image is the engine container image. Defaults to the operator configuration's image for
	// the warehouse's channel.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image,omitempty"`

	// port is the SQL port the engine listens on. Defaults to the operator configuration's port.
	// +optional
	// +kubebuilder:validation:Minimum=1024
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`

	// args are extra arguments for the engine container.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=1024
	Args []string `json:"args,omitempty"`

	// env are extra environment variables for the engine container: literal values, or the
	// pod's own fields and resources (fieldRef, resourceFieldRef). Names the operator sets are
	// reserved.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:XValidation:rule="self.all(e, !e.name.startsWith('SERVERLESSPLANE_'))",message="env names must not start with SERVERLESSPLANE_: the operator sets those, and the engine's file access and sizing follow them"
	// +kubebuilder:validation:XValidation:rule="self.all(e, !has(e.valueFrom) || ((has(e.valueFrom.fieldRef) || has(e.valueFrom.resourceFieldRef)) && !has(e.valueFrom.secretKeyRef) && !has(e.valueFrom.configMapKeyRef) && !has(e.valueFrom.fileKeyRef)))",message="env valueFrom may only be fieldRef or resourceFieldRef: a workload cannot read the namespace's Secrets or ConfigMaps, which workspace admins cannot read either; put the value in value"
	Env []corev1.EnvVar `json:"env,omitempty"`
}

// ServerlessWarehouseSpec is the desired state of a ServerlessWarehouse.
// +kubebuilder:validation:XValidation:rule="self.minClusters <= self.maxClusters",message="spec.minClusters must be less than or equal to spec.maxClusters",fieldPath=".minClusters"
type ServerlessWarehouseSpec struct {
	// clusterSize is the size of each cluster: 2X-Small, X-Small, Small, Medium, Large, X-Large,
	// 2X-Large, 3X-Large or 4X-Large. Defaults to Small.
	// +optional
	// +kubebuilder:default=Small
	ClusterSize ClusterSize `json:"clusterSize,omitempty"`

	// minClusters is the number of clusters kept while the warehouse runs, 1 to 40. Defaults to 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=40
	MinClusters int32 `json:"minClusters,omitempty"`

	// maxClusters is the most clusters the autoscaler adds under load, minClusters to 40.
	// Defaults to 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=40
	MaxClusters int32 `json:"maxClusters,omitempty"`

	// autoStopMinutes is how long, in minutes, the warehouse may be idle (no running or queued
	// queries) before it stops and releases every cluster. 0 means never stop. Defaults to 10.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10080
	AutoStopMinutes *int32 `json:"autoStopMinutes,omitempty"`

	// engine overrides the SQL engine image, port, arguments and environment.
	// +optional
	Engine *WarehouseEngine `json:"engine,omitempty"`

	// data is what the warehouse's statements can read besides the tables they create: TPC-H
	// demo data and a read-only volume of files.
	// +optional
	Data *WarehouseData `json:"data,omitempty"`

	// channel is the engine release channel, Current or Preview. Defaults to Current.
	// +optional
	// +kubebuilder:default=Current
	Channel Channel `json:"channel,omitempty"`

	// spotInstancePolicy is CostOptimized (prefer spot nodes) or ReliabilityOptimized (on-demand
	// nodes only); the operator configuration maps it to node affinity and tolerations.
	// Defaults to CostOptimized.
	// +optional
	// +kubebuilder:default=CostOptimized
	SpotInstancePolicy SpotInstancePolicy `json:"spotInstancePolicy,omitempty"`

	// tags are key-value pairs copied as annotations onto the warehouse's pods, for cost
	// attribution. At most 45; each key becomes the annotation
	// tags.compute.serverlessplane.io/<key>, so it is at most 63 letters, digits, '-', '_' and
	// '.', starting and ending with a letter or digit; each value is at most 256 characters.
	// +optional
	// +kubebuilder:validation:MaxProperties=45
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.size() <= 63 && k.matches('^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$'))",message="spec.tags keys must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit: each key becomes the pod annotation tags.compute.serverlessplane.io/<key>"
	// +kubebuilder:validation:XValidation:rule="self.all(k, self[k].size() <= 256)",message="spec.tags values must be at most 256 characters"
	Tags map[string]string `json:"tags,omitempty"`
}

// WarehouseData is what a warehouse's engines show to its statements.
type WarehouseData struct {
	// tpchScaleFactor shows TPC-H data of this scale factor as the schema tpch (tpch.lineitem,
	// tpch.orders, ...), for demos and benchmarks: for example "0.01" (about 60,000 line items)
	// or "1". Empty takes the operator configuration's warehouses.tpchScaleFactor; "0" shows
	// none. Scales the engine image does not carry are generated when a pod starts, which
	// delays its readiness (about 15 s plus the data at scale 0.01).
	// +optional
	// +kubebuilder:validation:MaxLength=8
	// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]+)?$`
	// +kubebuilder:validation:XValidation:rule="double(self) <= 10.0",message="tpchScaleFactor must be at most 10: larger TPC-H data does not fit a warehouse worker's memory"
	TPCHScaleFactor string `json:"tpchScaleFactor,omitempty"`

	// persistentVolumeClaim names a claim in the workspace namespace whose files are mounted
	// read-only into every engine at /data: each Parquet or CSV file (and each directory of
	// Parquet files) at its top is the view data.<name>, each DuckDB file is attached read-only
	// as the catalog <name>. Names that are not SQL identifiers are left out.
	// +optional
	PersistentVolumeClaim *WarehouseDataVolume `json:"persistentVolumeClaim,omitempty"`
}

// WarehouseDataVolume names a PersistentVolumeClaim in the warehouse's namespace.
type WarehouseDataVolume struct {
	// claimName is the claim's name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	ClaimName string `json:"claimName"`
}

// WarehouseState is the lifecycle state of a warehouse.
// +kubebuilder:validation:Enum=Starting;Running;Stopping;Stopped;Deleting
type WarehouseState string

const (
	// WarehouseStarting means clusters are being placed and are not all ready yet.
	WarehouseStarting WarehouseState = "Starting"
	// WarehouseRunning means at least minClusters clusters are ready.
	WarehouseRunning WarehouseState = "Running"
	// WarehouseStopping means the warehouse was idle and its clusters are being removed.
	WarehouseStopping WarehouseState = "Stopping"
	// WarehouseStopped means the warehouse has no clusters; queued queries start it again.
	WarehouseStopped WarehouseState = "Stopped"
	// WarehouseDeleting means the warehouse is being deleted.
	WarehouseDeleting WarehouseState = "Deleting"
)

// WarehouseLoad is the last load the operator observed for a warehouse.
type WarehouseLoad struct {
	// runningQueries is the number of queries executing.
	// +optional
	RunningQueries int32 `json:"runningQueries"`

	// queuedQueries is the number of queries waiting for a cluster.
	// +optional
	QueuedQueries int32 `json:"queuedQueries"`

	// queueWaitSeconds is how long, in seconds, the oldest queued query has waited.
	// +optional
	QueueWaitSeconds int32 `json:"queueWaitSeconds,omitempty"`

	// observedTime is when the load was sampled.
	// +optional
	ObservedTime *metav1.Time `json:"observedTime,omitempty"`
}

// AutoscalingStatus records the autoscaler's last decision.
type AutoscalingStatus struct {
	// reason explains the last decision, for example "load 34 over target 10 per cluster".
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Reason string `json:"reason,omitempty"`

	// lastScaleTime is when the desired count last changed.
	// +optional
	LastScaleTime *metav1.Time `json:"lastScaleTime,omitempty"`
}

// ServerlessWarehouseStatus is the observed state of a ServerlessWarehouse.
type ServerlessWarehouseStatus struct {
	// observedGeneration is the metadata.generation of the last pass that succeeded. A pass that
	// fails leaves it, and sets Ready False and Reconciling True with reason ReconcileError.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions are Ready, Reconciling and Stalled, QuotaExceeded while the regional quota holds
	// the warehouse back, and MetricsAvailable for the load the autoscaler reads.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// state is Starting, Running, Stopping, Stopped or Deleting.
	// +optional
	State WarehouseState `json:"state,omitempty"`

	// clusters is the number of clusters placed, ready or not.
	// +optional
	Clusters int32 `json:"clusters"`

	// readyClusters is the number of clusters whose every worker is ready.
	// +optional
	ReadyClusters int32 `json:"readyClusters"`

	// desiredClusters is the number of clusters the autoscaler wants, after the regional quota.
	// +optional
	DesiredClusters int32 `json:"desiredClusters"`

	// endpoint is the in-cluster address of the warehouse's SQL Service, host:port.
	// +optional
	Endpoint string `json:"endpoint,omitempty"`

	// lastActiveTime is the last time the warehouse had running or queued queries; auto-stop
	// counts idle time from it.
	// +optional
	LastActiveTime *metav1.Time `json:"lastActiveTime,omitempty"`

	// load is the last observed load.
	// +optional
	Load *WarehouseLoad `json:"load,omitempty"`

	// autoscaling is the autoscaler's last decision.
	// +optional
	Autoscaling *AutoscalingStatus `json:"autoscaling,omitempty"`
}

// ServerlessWarehouse is a serverless SQL warehouse: one or more autoscaled clusters of SQL
// engine pods in a workspace namespace, behind one Service, that stop when idle and start again
// when queries arrive.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=swh,categories=serverless
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Size",type=string,JSONPath=`.spec.clusterSize`
// +kubebuilder:printcolumn:name="Clusters",type=integer,JSONPath=`.status.readyClusters`,description="ready clusters"
// +kubebuilder:printcolumn:name="Desired",type=integer,JSONPath=`.status.desiredClusters`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Endpoint",type=string,JSONPath=`.status.endpoint`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 40 && self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be a DNS label of at most 40 characters starting with a letter: it names the warehouse's Service and clusters"
// +kubebuilder:validation:XValidation:rule="oldSelf.hasValue() || !self.metadata.name.startsWith('pe-')",optionalOldSelf=true,message="metadata.name must not start with 'pe-': the names pe-<rule> are the Services of the private endpoint rules in the workspace; choose another name"
type ServerlessWarehouse struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state of the warehouse.
	// +required
	Spec ServerlessWarehouseSpec `json:"spec"`

	// status is the observed state of the warehouse.
	// +optional
	Status ServerlessWarehouseStatus `json:"status,omitempty"`
}

// ServerlessWarehouseList is a list of ServerlessWarehouses.
//
// +kubebuilder:object:root=true
type ServerlessWarehouseList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ServerlessWarehouse `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ServerlessWarehouse{}, &ServerlessWarehouseList{})
}
