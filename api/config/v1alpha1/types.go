// Package v1alpha1 is the operator's configuration file format, OperatorConfig in
// config.serverlessplane.io/v1alpha1. The manager loads it with --config (mounted from a
// ConfigMap); every field has a default, so an empty file is a working configuration.
//
// +kubebuilder:object:generate=true
package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the group and version of the configuration file format.
var GroupVersion = schema.GroupVersion{Group: "config.serverlessplane.io", Version: "v1alpha1"}

// Kind is the kind of the configuration file.
const Kind = "OperatorConfig"

// OperatorConfig configures the operator: the regions it serves, the compute tables that turn
// sizes into pods, default images, the control plane's selectors and the autoscaler.
type OperatorConfig struct {
	metav1.TypeMeta `json:",inline"`

	// operatorNamespace is the control-plane namespace the operator runs in. Default
	// serverlessplane-system.
	OperatorNamespace string `json:"operatorNamespace,omitempty"`

	// images says where the project's own images (the defaults of warehouses.images,
	// modelServing.image and modelServing.proxyImage) are pulled from: the names `make images`
	// builds, under one registry prefix and one tag.
	Images Images `json:"images,omitempty"`

	// regions are the regions workspaces and NCCs can be in.
	Regions []Region `json:"regions,omitempty"`

	// legacyStableIPsDecommissionDate is the day (YYYY-MM-DD, UTC) after which legacy stable IPs
	// are no longer published. Default 2026-05-25.
	LegacyStableIPsDecommissionDate string `json:"legacyStableIPsDecommissionDate,omitempty"`

	// controlPlane says how the control plane reaches workspaces.
	ControlPlane ControlPlane `json:"controlPlane,omitempty"`

	// warehouses configures serverless SQL warehouses.
	Warehouses Warehouses `json:"warehouses,omitempty"`

	// modelServing configures model serving endpoints.
	ModelServing ModelServing `json:"modelServing,omitempty"`

	// autoscaling configures the autoscaler shared by warehouses and served entities.
	Autoscaling Autoscaling `json:"autoscaling,omitempty"`

	// metrics says where the autoscaler reads load from.
	Metrics Metrics `json:"metrics,omitempty"`

	// certificates configures the operator CA and the serving certificates it signs.
	Certificates Certificates `json:"certificates,omitempty"`
}

// Region is a region workspaces can run in.
type Region struct {
	// name is the region's name, for example us-east-1.
	Name string `json:"name"`

	// serverless says whether serverless SQL warehouses can run in the region.
	Serverless bool `json:"serverless"`

	// stableEgressCIDRs are the region's stable egress addresses, published by every NCC of the
	// region for customers' resource firewalls.
	StableEgressCIDRs []string `json:"stableEgressCIDRs,omitempty"`

	// legacyStableIPs are the region's legacy stable IPs, published until the decommission date
	// to NCCs that ask for them.
	LegacyStableIPs []string `json:"legacyStableIPs,omitempty"`

	// storageGatewayCIDRs are the address ranges of the region's storage gateway endpoints per
	// service (S3, DynamoDB); egress to them is always allowed.
	StorageGatewayCIDRs map[string][]string `json:"storageGatewayCIDRs,omitempty"`

	// serverlessQuotaDBU is the most DBU/h that running serverless warehouse clusters of all
	// workspaces in the region may consume together. 0 means no serverless capacity.
	ServerlessQuotaDBU int64 `json:"serverlessQuotaDBU"`
}

// ClusterSizeSpec is what one warehouse cluster size means.
type ClusterSizeSpec struct {
	// name is the cluster size, for example 2X-Small.
	Name string `json:"name"`
	// workers is the number of worker pods per cluster.
	Workers int32 `json:"workers"`
	// dbuPerHour is what one running cluster of this size consumes.
	DBUPerHour int64 `json:"dbuPerHour"`
	// workerResources are each worker container's requests and limits.
	WorkerResources corev1.ResourceRequirements `json:"workerResources,omitempty"`
}

// SpotPolicy is the scheduling a spot instance policy maps to.
type SpotPolicy struct {
	// tolerations are added to the warehouse's pods.
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
	// affinity is the node affinity of the warehouse's pods.
	Affinity *corev1.NodeAffinity `json:"affinity,omitempty"`
}

// Warehouses configures serverless SQL warehouses.
type Warehouses struct {
	// clusterSizes maps each cluster size to workers, resources and DBU/h.
	ClusterSizes []ClusterSizeSpec `json:"clusterSizes,omitempty"`
	// images are the default engine images per channel (Current, Preview).
	Images map[string]string `json:"images,omitempty"`
	// port is the default SQL port (TLS). Default 8443.
	Port int32 `json:"port,omitempty"`
	// metricsPort is the port engines export Prometheus metrics on. Default 9090.
	MetricsPort int32 `json:"metricsPort,omitempty"`
	// targetQueriesPerCluster is the running plus queued queries one cluster is sized for.
	// Default 10.
	TargetQueriesPerCluster int32 `json:"targetQueriesPerCluster,omitempty"`
	// queueWaitThreshold is how long the oldest query may wait before a cluster is added
	// regardless of the query count. Default 30s.
	QueueWaitThreshold metav1.Duration `json:"queueWaitThreshold,omitempty"`
	// drainGracePeriod is the longest a cluster chosen for removal keeps running queries before
	// it is removed anyway. Default 5m.
	DrainGracePeriod metav1.Duration `json:"drainGracePeriod,omitempty"`
	// spotPolicies maps CostOptimized and ReliabilityOptimized to scheduling.
	SpotPolicies map[string]SpotPolicy `json:"spotPolicies,omitempty"`
	// tpchScaleFactor is the TPC-H scale factor of warehouses whose spec.data names none.
	// Default "0.01", the scale the engine image carries; "0" shows no TPC-H data.
	TPCHScaleFactor string `json:"tpchScaleFactor,omitempty"`
	// tmpSizeLimit bounds each warehouse pod's /tmp (an emptyDir): the kubelet evicts a pod
	// that writes more. It holds generated TPC-H data and the engine's spill. Default 20Gi,
	// enough to generate the largest scale a warehouse accepts (10).
	TmpSizeLimit resource.Quantity `json:"tmpSizeLimit,omitempty"`
}

// WorkloadSizeSpec is the concurrency range of a workload size.
type WorkloadSizeSpec struct {
	// name is the workload size, for example Small.
	Name string `json:"name"`
	// minConcurrency is the concurrency the entity always serves (unless scaled to zero).
	MinConcurrency int32 `json:"minConcurrency"`
	// maxConcurrency is the most concurrency the entity scales to.
	MaxConcurrency int32 `json:"maxConcurrency"`
}

// WorkloadTypeSpec is the compute of a workload type.
type WorkloadTypeSpec struct {
	// name is the workload type, for example GPU_SMALL.
	Name string `json:"name"`
	// resources are the model server container's requests and limits, without GPUs.
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`
	// gpus is the number of GPUs per replica.
	GPUs int32 `json:"gpus,omitempty"`
	// gpuResourceName is the extended resource GPUs are requested as. Default nvidia.com/gpu.
	GPUResourceName corev1.ResourceName `json:"gpuResourceName,omitempty"`
	// tolerations let the replicas run on the nodes of this type.
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
	// nodeSelector places the replicas on the nodes of this type.
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
}

// Images names the project's own images: <registry><name>:<tag>.
type Images struct {
	// registry prefixes every default image name, for example registry.example.com/team/
	// (with its trailing slash). Default empty: the names as `make images` tags them.
	Registry string `json:"registry,omitempty"`
	// tag is the tag of every default image. Default dev, the tag `make images` uses.
	Tag string `json:"tag,omitempty"`
}

// ModelServing configures model serving endpoints.
type ModelServing struct {
	// image is the default model container image: it serves the MLflow scoring protocol over
	// plain HTTP on localhost:containerPort. Default <images.registry>serverlessplane-model-server:<images.tag>.
	Image string `json:"image,omitempty"`
	// proxyImage is the model proxy the operator adds to every model pod: it terminates mTLS
	// from the gateway, limits concurrency and reports in-flight requests. Default
	// <images.registry>serverlessplane-model-proxy:<images.tag>.
	ProxyImage string `json:"proxyImage,omitempty"`
	// proxyResources are the model proxy container's resources. Default requests 25m CPU and
	// 32Mi memory, limit 128Mi memory.
	ProxyResources corev1.ResourceRequirements `json:"proxyResources,omitempty"`
	// port is the TLS port of model pods, served by the model proxy. Default 8443.
	Port int32 `json:"port,omitempty"`
	// containerPort is the plain-HTTP port the model container listens on, reached only from
	// inside its pod (the proxy dials localhost). Default 8080.
	ContainerPort int32 `json:"containerPort,omitempty"`
	// metricsPort is the port the model proxy exports Prometheus metrics and its health on.
	// Default 9090.
	MetricsPort int32 `json:"metricsPort,omitempty"`
	// concurrencyPerReplica is how many concurrent requests one replica serves; the workload
	// size's concurrency range divided by it gives the replica bounds. Default 4.
	ConcurrencyPerReplica int32 `json:"concurrencyPerReplica,omitempty"`
	// workloadSizes maps each workload size to its concurrency range.
	WorkloadSizes []WorkloadSizeSpec `json:"workloadSizes,omitempty"`
	// workloadTypes maps each workload type to compute.
	WorkloadTypes []WorkloadTypeSpec `json:"workloadTypes,omitempty"`
	// tmpSizeLimit bounds each model pod's /tmp (an emptyDir), the only place a model container
	// can write: the kubelet evicts a pod that writes more. Default 1Gi.
	TmpSizeLimit resource.Quantity `json:"tmpSizeLimit,omitempty"`
	// progressDeadline is how long a config change may take to become ready before it is
	// declared failed. Default 10m.
	ProgressDeadline metav1.Duration `json:"progressDeadline,omitempty"`
	// syncPeriod is how often each served entity is evaluated by the autoscaler. Default 2s
	// (the Knative KPA's tick): request load moves faster than query load.
	SyncPeriod metav1.Duration `json:"syncPeriod,omitempty"`
	// scaleDownStabilization is how far back the highest recommendation is kept when a served
	// entity scales down. Default 0: like the Knative KPA (no scale-down delay), served
	// entities rely on their sizing's own scale-down rules (the stable window's peak and its
	// hysteresis, or, with sizing Utilization, the average and the tolerance band); warehouses
	// use autoscaling.scaleDownStabilization. See docs/autoscaler-benchmark.md.
	ScaleDownStabilization metav1.Duration `json:"scaleDownStabilization,omitempty"`
	// sizing is how a served entity's load becomes replicas: Observed (the default) sizes for
	// the peak load of the stable window at the full concurrencyPerReplica, plus the gap
	// between its highest samples and the rise of a load that climbs beyond its noise, and
	// follows a fall its noise cannot explain at once; Utilization is the
	// Knative KPA's rule (the stable window's average at autoscaling.targetUtilization, with
	// panic mode). Observed runs fewer replicas; on traffic of independent requests, whose
	// concurrency has no ceiling, it is also short of capacity more often (about 0.5% of the
	// seconds against Utilization's 0.06%): choose Utilization where every such second counts.
	// Warehouses always use Utilization. See docs/autoscaler-benchmark.md.
	Sizing AutoscalerSizing `json:"sizing,omitempty"`
}

// AutoscalerSizing is how load becomes a count of replicas.
type AutoscalerSizing string

const (
	// SizingObserved sizes for the load seen and its noise (pkg/autoscaler SizingObserved).
	SizingObserved AutoscalerSizing = "Observed"
	// SizingUtilization sizes for the average load at the target utilization, like the KPA.
	SizingUtilization AutoscalerSizing = "Utilization"
)

// GatewayRef names the Gateway API Gateway that model endpoint routes attach to.
type GatewayRef struct {
	// name is the Gateway's name. Default serverlessplane-gateway.
	Name string `json:"name,omitempty"`
	// namespace is the Gateway's namespace. Default: the operator namespace.
	Namespace string `json:"namespace,omitempty"`
	// hostname is the host endpoint URLs use. Default serving.serverlessplane.local.
	Hostname string `json:"hostname,omitempty"`
}

// ControlPlane says how the control plane reaches workspaces.
type ControlPlane struct {
	// gatewayPodLabels select the control-plane gateway pods in the operator namespace; only
	// they reach model servers. Default app.kubernetes.io/component: gateway.
	GatewayPodLabels map[string]string `json:"gatewayPodLabels,omitempty"`
	// gateway is the Gateway model endpoint routes attach to.
	Gateway GatewayRef `json:"gateway,omitempty"`
	// dnsNamespace is the namespace of the cluster DNS. Default kube-system.
	DNSNamespace string `json:"dnsNamespace,omitempty"`
	// dnsPodLabels select the cluster DNS pods. Default k8s-app: kube-dns.
	DNSPodLabels map[string]string `json:"dnsPodLabels,omitempty"`
	// protectedCIDRs are destinations no egress allowance ever opens, whatever an NCC allows
	// (0.0.0.0/0 included): they are cut out of every compiled ipBlock, and an allowance inside
	// one is dropped. Add the cluster's pod and Service CIDRs and the node network. Default
	// the link-local ranges 169.254.0.0/16 and fe80::/10 (the cloud metadata address).
	ProtectedCIDRs []string `json:"protectedCIDRs,omitempty"`
}

// Autoscaling configures the autoscaler. Defaults follow the Kubernetes HPA and Knative KPA.
type Autoscaling struct {
	// syncPeriod is how often each warehouse is evaluated (served entities: modelServing.syncPeriod).
	// Default 15s.
	SyncPeriod metav1.Duration `json:"syncPeriod,omitempty"`
	// tolerance is the relative change in load that is ignored (HPA default 0.1).
	Tolerance float64 `json:"tolerance,omitempty"`
	// targetUtilization is the share of the per-replica target the autoscaler aims for, in
	// (0, 1]. Default 0.7 (Knative's container-concurrency-target-percentage).
	TargetUtilization float64 `json:"targetUtilization,omitempty"`
	// scaleDownStabilization is how far back the highest recommendation is kept when a
	// warehouse scales down (HPA default 5m).
	ScaleDownStabilization metav1.Duration `json:"scaleDownStabilization,omitempty"`
	// scaleUpLimitPercent and scaleUpLimitReplicas bound growth per scaleUpPeriod: the larger of
	// the two wins (HPA defaults 100% and 4 per 15s).
	ScaleUpLimitPercent  int32           `json:"scaleUpLimitPercent,omitempty"`
	ScaleUpLimitReplicas int32           `json:"scaleUpLimitReplicas,omitempty"`
	ScaleUpPeriod        metav1.Duration `json:"scaleUpPeriod,omitempty"`
	// stableWindow is the window load is averaged over (Knative default 60s).
	StableWindow metav1.Duration `json:"stableWindow,omitempty"`
	// panicWindowPercent is the panic window as a share of the stable window (Knative default
	// 10).
	PanicWindowPercent float64 `json:"panicWindowPercent,omitempty"`
	// panicThresholdPercent is the load, as a share of current capacity, that enters panic mode
	// (Knative default 200).
	PanicThresholdPercent float64 `json:"panicThresholdPercent,omitempty"`
	// scaleToZeroGracePeriod is how long a served entity must be idle before it scales to zero
	// (Knative default 30s).
	ScaleToZeroGracePeriod metav1.Duration `json:"scaleToZeroGracePeriod,omitempty"`
}

// MetricsSourceType selects where load comes from.
type MetricsSourceType string

const (
	// MetricsGateway reads the control-plane gateways' metrics: statements running and queued
	// per warehouse, requests in flight and held per served entity.
	MetricsGateway MetricsSourceType = "Gateway"
	// MetricsScrape reads each workload pod's Prometheus endpoint.
	MetricsScrape MetricsSourceType = "Scrape"
	// MetricsPrometheus queries the Prometheus HTTP API.
	MetricsPrometheus MetricsSourceType = "Prometheus"
	// MetricsNone disables load-based scaling: objects keep their minimum and never auto-stop.
	MetricsNone MetricsSourceType = "None"
)

// Metrics says where the autoscaler reads load from.
type Metrics struct {
	// source is Gateway (default), Scrape, Prometheus or None.
	Source MetricsSourceType `json:"source,omitempty"`
	// gatewayPort is the gateways' metrics port, for source Gateway. Default 9090.
	GatewayPort int32 `json:"gatewayPort,omitempty"`
	// scrapeTimeout bounds one scrape or query. Default 2s.
	ScrapeTimeout metav1.Duration `json:"scrapeTimeout,omitempty"`
	// prometheusURL is the base URL of the Prometheus HTTP API, for source Prometheus.
	PrometheusURL string `json:"prometheusURL,omitempty"`
	// names are the metric names workload pods export, for source Scrape.
	Names MetricNames `json:"names,omitempty"`
	// queries are the PromQL templates, for source Prometheus. They are Go templates over
	// .Namespace, .Name (warehouse or endpoint) and .Entity (served entity).
	Queries MetricQueries `json:"queries,omitempty"`
}

// MetricNames are the gauges workload pods export.
type MetricNames struct {
	// runningQueries is a warehouse engine's running queries. Default
	// serverlessplane_warehouse_running_queries.
	RunningQueries string `json:"runningQueries,omitempty"`
	// queuedQueries is a warehouse engine's queued queries. Default
	// serverlessplane_warehouse_queued_queries.
	QueuedQueries string `json:"queuedQueries,omitempty"`
	// queueWaitSeconds is the wait of a warehouse engine's oldest queued query. Default
	// serverlessplane_warehouse_queue_wait_seconds.
	QueueWaitSeconds string `json:"queueWaitSeconds,omitempty"`
	// inFlightRequests is a model server's requests in flight. Default
	// serverlessplane_model_inflight_requests.
	InFlightRequests string `json:"inFlightRequests,omitempty"`
}

// MetricQueries are PromQL templates.
type MetricQueries struct {
	// runningQueries returns one series per cluster (label cluster) of running queries.
	RunningQueries string `json:"runningQueries,omitempty"`
	// queuedQueries returns one series per cluster of queued queries.
	QueuedQueries string `json:"queuedQueries,omitempty"`
	// queueWaitSeconds returns the oldest queued query's wait.
	QueueWaitSeconds string `json:"queueWaitSeconds,omitempty"`
	// inFlightRequests returns the served entity's requests in flight.
	InFlightRequests string `json:"inFlightRequests,omitempty"`
}

// Certificates configures the operator CA and the serving certificates it signs.
type Certificates struct {
	// caValidity is how long the CA certificate is valid. Default 8760h (one year).
	CAValidity metav1.Duration `json:"caValidity,omitempty"`
	// servingValidity is how long a serving certificate is valid. Default 2160h (90 days).
	ServingValidity metav1.Duration `json:"servingValidity,omitempty"`
	// renewBefore is how long before expiry a certificate is renewed. Default 720h (30 days).
	RenewBefore metav1.Duration `json:"renewBefore,omitempty"`
	// caOverlap is how long a new CA is trusted before it signs: the operator publishes its
	// successor in every CA bundle when the CA has servingValidity + renewBefore + caOverlap
	// left, lets it sign caOverlap later (every certificate is then re-issued), and trusts the
	// old CA until it expires. It must outlast the kubelet's refresh of mounted Secrets and
	// ConfigMaps. Default 24h.
	CAOverlap metav1.Duration `json:"caOverlap,omitempty"`
}
