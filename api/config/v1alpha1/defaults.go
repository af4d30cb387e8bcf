package v1alpha1

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Default values. Autoscaling defaults are those of the Kubernetes HPA and the Knative KPA.
const (
	DefaultOperatorNamespace     = "serverlessplane-system"
	DefaultDecommissionDate      = "2026-05-25"
	DefaultWarehousePort         = 8443
	DefaultModelPort             = 8443
	DefaultMetricsPort           = 9090
	DefaultTargetQueries         = 10
	DefaultConcurrencyPerReplica = 4
	DefaultGPUResourceName       = corev1.ResourceName("nvidia.com/gpu")
	DefaultGatewayName           = "serverlessplane-gateway"
	DefaultGatewayHostname       = "serving.serverlessplane.local"
	DefaultModelContainerPort    = 8080
	DefaultImageTag              = "dev"
	SQLEngineImageName           = "serverlessplane-sql-engine"
	// DefaultTPCHScaleFactor is the TPC-H scale the engine image carries.
	DefaultTPCHScaleFactor        = "0.01"
	ModelServerImageName          = "serverlessplane-model-server"
	ModelProxyImageName           = "serverlessplane-model-proxy"
	CapacityTypeLabel             = "serverlessplane.io/capacity-type"
	GPUNodeLabel                  = "serverlessplane.io/gpu"
	defaultTolerance              = 0.1
	defaultTargetUtilization      = 0.7
	defaultScaleUpLimitPercent    = 100
	defaultScaleUpLimitReplicas   = 4
	defaultPanicWindowPercent     = 10
	defaultPanicThresholdPercent  = 200
	defaultRunningQueriesMetric   = "serverlessplane_warehouse_running_queries"
	defaultQueuedQueriesMetric    = "serverlessplane_warehouse_queued_queries"
	defaultQueueWaitMetric        = "serverlessplane_warehouse_queue_wait_seconds"
	defaultInFlightRequestsMetric = "serverlessplane_model_inflight_requests"
)

// Default returns the configuration an empty file loads as: it makes the samples work.
func Default() *OperatorConfig {
	c := &OperatorConfig{}
	SetDefaults(c)
	return c
}

// SetDefaults fills every unset field of c with its default.
func SetDefaults(c *OperatorConfig) {
	c.APIVersion = GroupVersion.String()
	c.Kind = Kind
	setString(&c.OperatorNamespace, DefaultOperatorNamespace)
	setString(&c.LegacyStableIPsDecommissionDate, DefaultDecommissionDate)
	if len(c.Regions) == 0 {
		c.Regions = defaultRegions()
	}
	setString(&c.Images.Tag, DefaultImageTag)
	setControlPlaneDefaults(&c.ControlPlane, c.OperatorNamespace)
	setWarehouseDefaults(&c.Warehouses, c.Images)
	setModelServingDefaults(&c.ModelServing, c.Images)
	setAutoscalingDefaults(&c.Autoscaling)
	setMetricsDefaults(&c.Metrics)
	setDuration(&c.Certificates.CAValidity, 365*24*time.Hour)
	setDuration(&c.Certificates.ServingValidity, 90*24*time.Hour)
	setDuration(&c.Certificates.RenewBefore, 30*24*time.Hour)
	setDuration(&c.Certificates.CAOverlap, 24*time.Hour)
}

func setControlPlaneDefaults(cp *ControlPlane, operatorNamespace string) {
	if len(cp.GatewayPodLabels) == 0 {
		cp.GatewayPodLabels = map[string]string{"app.kubernetes.io/component": "gateway"}
	}
	setString(&cp.Gateway.Name, DefaultGatewayName)
	setString(&cp.Gateway.Namespace, operatorNamespace)
	setString(&cp.Gateway.Hostname, DefaultGatewayHostname)
	setString(&cp.DNSNamespace, "kube-system")
	if len(cp.DNSPodLabels) == 0 {
		cp.DNSPodLabels = map[string]string{"k8s-app": "kube-dns"}
	}
	if len(cp.ProtectedCIDRs) == 0 {
		cp.ProtectedCIDRs = []string{"169.254.0.0/16", "fe80::/10"}
	}
}

// Image is the reference of one of the project's own images.
func (i Images) Image(name string) string { return i.Registry + name + ":" + i.Tag }

func setWarehouseDefaults(w *Warehouses, images Images) {
	if len(w.ClusterSizes) == 0 {
		w.ClusterSizes = defaultClusterSizes()
	}
	if len(w.Images) == 0 {
		// One engine image serves both channels until a preview build exists.
		engine := images.Image(SQLEngineImageName)
		w.Images = map[string]string{"Current": engine, "Preview": engine}
	}
	setInt32(&w.Port, DefaultWarehousePort)
	setString(&w.TPCHScaleFactor, DefaultTPCHScaleFactor)
	setInt32(&w.MetricsPort, DefaultMetricsPort)
	setInt32(&w.TargetQueriesPerCluster, DefaultTargetQueries)
	setDuration(&w.QueueWaitThreshold, 30*time.Second)
	setDuration(&w.DrainGracePeriod, 5*time.Minute)
	setQuantity(&w.TmpSizeLimit, "20Gi")
	if len(w.SpotPolicies) == 0 {
		w.SpotPolicies = defaultSpotPolicies()
	}
}

func setModelServingDefaults(m *ModelServing, images Images) {
	setString(&m.Image, images.Image(ModelServerImageName))
	setString(&m.ProxyImage, images.Image(ModelProxyImageName))
	if m.ProxyResources.Requests == nil && m.ProxyResources.Limits == nil {
		m.ProxyResources = corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("25m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
		}
	}
	setInt32(&m.Port, DefaultModelPort)
	setInt32(&m.ContainerPort, DefaultModelContainerPort)
	setInt32(&m.MetricsPort, DefaultMetricsPort)
	setInt32(&m.ConcurrencyPerReplica, DefaultConcurrencyPerReplica)
	setQuantity(&m.TmpSizeLimit, "1Gi")
	if len(m.WorkloadSizes) == 0 {
		m.WorkloadSizes = []WorkloadSizeSpec{
			{Name: "Small", MinConcurrency: 0, MaxConcurrency: 4},
			{Name: "Medium", MinConcurrency: 8, MaxConcurrency: 16},
			{Name: "Large", MinConcurrency: 16, MaxConcurrency: 64},
		}
	}
	if len(m.WorkloadTypes) == 0 {
		m.WorkloadTypes = defaultWorkloadTypes()
	}
	for i := range m.WorkloadTypes {
		if m.WorkloadTypes[i].GPUs > 0 && m.WorkloadTypes[i].GPUResourceName == "" {
			m.WorkloadTypes[i].GPUResourceName = DefaultGPUResourceName
		}
	}
	setDuration(&m.ProgressDeadline, 10*time.Minute)
	setDuration(&m.SyncPeriod, 2*time.Second)
	if m.Sizing == "" {
		m.Sizing = SizingObserved
	}
}

func setAutoscalingDefaults(a *Autoscaling) {
	setDuration(&a.SyncPeriod, 15*time.Second)
	setFloat(&a.Tolerance, defaultTolerance)
	setFloat(&a.TargetUtilization, defaultTargetUtilization)
	setDuration(&a.ScaleDownStabilization, 5*time.Minute)
	setInt32(&a.ScaleUpLimitPercent, defaultScaleUpLimitPercent)
	setInt32(&a.ScaleUpLimitReplicas, defaultScaleUpLimitReplicas)
	setDuration(&a.ScaleUpPeriod, 15*time.Second)
	setDuration(&a.StableWindow, 60*time.Second)
	setFloat(&a.PanicWindowPercent, defaultPanicWindowPercent)
	setFloat(&a.PanicThresholdPercent, defaultPanicThresholdPercent)
	setDuration(&a.ScaleToZeroGracePeriod, 30*time.Second)
}

func setMetricsDefaults(m *Metrics) {
	if m.Source == "" {
		m.Source = MetricsGateway
	}
	setDuration(&m.ScrapeTimeout, 2*time.Second)
	setInt32(&m.GatewayPort, DefaultMetricsPort)
	setString(&m.Names.RunningQueries, defaultRunningQueriesMetric)
	setString(&m.Names.QueuedQueries, defaultQueuedQueriesMetric)
	setString(&m.Names.QueueWaitSeconds, defaultQueueWaitMetric)
	setString(&m.Names.InFlightRequests, defaultInFlightRequestsMetric)
	selector := `namespace="{{.Namespace}}",` + "%s" + `="{{.Name}}"`
	warehouse := "sum by (cluster) (%s{" + selector + "})"
	setString(&m.Queries.RunningQueries, fmt.Sprintf(warehouse, m.Names.RunningQueries, "warehouse"))
	setString(&m.Queries.QueuedQueries, fmt.Sprintf(warehouse, m.Names.QueuedQueries, "warehouse"))
	setString(&m.Queries.QueueWaitSeconds,
		fmt.Sprintf("max(%s{"+selector+"})", m.Names.QueueWaitSeconds, "warehouse"))
	setString(&m.Queries.InFlightRequests, fmt.Sprintf(
		`sum(%s{namespace="{{.Namespace}}",endpoint="{{.Name}}",served_entity="{{.Entity}}"})`,
		m.Names.InFlightRequests))
}

func defaultRegions() []Region {
	s3East := []string{"3.5.0.0/19", "16.182.0.0/16", "18.34.0.0/19", "52.216.0.0/15", "54.231.0.0/16"}
	dynamoEast := []string{"3.218.180.0/22", "35.71.64.0/22", "52.94.0.0/22", "52.119.224.0/20"}
	return []Region{
		{
			Name: "us-east-1", Serverless: true, ServerlessQuotaDBU: 2000,
			StableEgressCIDRs:   []string{"198.51.100.0/28", "198.51.100.16/28"},
			LegacyStableIPs:     []string{"203.0.113.10", "203.0.113.11"},
			StorageGatewayCIDRs: map[string][]string{"S3": s3East, "DynamoDB": dynamoEast},
		},
		{
			Name: "us-west-2", Serverless: true, ServerlessQuotaDBU: 1000,
			StableEgressCIDRs:   []string{"198.51.100.32/28"},
			LegacyStableIPs:     []string{"203.0.113.20"},
			StorageGatewayCIDRs: map[string][]string{"S3": {"3.5.76.0/22", "52.92.128.0/17"}, "DynamoDB": {"52.94.8.0/22"}},
		},
		{
			Name: "eu-central-1", Serverless: true, ServerlessQuotaDBU: 1000,
			StableEgressCIDRs:   []string{"198.51.100.48/28"},
			StorageGatewayCIDRs: map[string][]string{"S3": {"3.5.134.0/23", "52.219.140.0/24"}, "DynamoDB": {"52.94.17.0/24"}},
		},
		{
			// A region with classic compute only: serverless warehouses are refused there.
			Name: "sa-east-1", Serverless: false,
			StableEgressCIDRs:   []string{"198.51.100.64/28"},
			StorageGatewayCIDRs: map[string][]string{"S3": {"52.95.163.0/24"}, "DynamoDB": {"52.94.7.0/24"}},
		},
	}
}

func defaultClusterSizes() []ClusterSizeSpec {
	dbu := []int64{4, 6, 12, 24, 40, 80, 144, 272, 528}
	worker := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("1"),
			corev1.ResourceMemory: resource.MustParse("4Gi"),
		},
		Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("4Gi")},
	}
	sizes := make([]ClusterSizeSpec, 0, len(dbu))
	for i, name := range []string{"2X-Small", "X-Small", "Small", "Medium", "Large", "X-Large", "2X-Large", "3X-Large", "4X-Large"} {
		sizes = append(sizes, ClusterSizeSpec{Name: name, Workers: 1 << i, DBUPerHour: dbu[i], WorkerResources: *worker.DeepCopy()})
	}
	return sizes
}

func defaultSpotPolicies() map[string]SpotPolicy {
	return map[string]SpotPolicy{
		"CostOptimized": {
			Tolerations: []corev1.Toleration{{
				Key: CapacityTypeLabel, Operator: corev1.TolerationOpEqual, Value: "spot", Effect: corev1.TaintEffectNoSchedule,
			}},
			Affinity: &corev1.NodeAffinity{
				PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{
					Weight: 100,
					Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{
						Key: CapacityTypeLabel, Operator: corev1.NodeSelectorOpIn, Values: []string{"spot"},
					}}},
				}},
			},
		},
		"ReliabilityOptimized": {
			Affinity: &corev1.NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
					NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{
						Key: CapacityTypeLabel, Operator: corev1.NodeSelectorOpNotIn, Values: []string{"spot"},
					}}}},
				},
			},
		},
	}
}

func defaultWorkloadTypes() []WorkloadTypeSpec {
	res := func(cpu, mem string) corev1.ResourceRequirements {
		return corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(mem)},
		}
	}
	gpu := func(name, class, cpu, mem string, gpus int32) WorkloadTypeSpec {
		return WorkloadTypeSpec{
			Name: name, Resources: res(cpu, mem), GPUs: gpus,
			Tolerations: []corev1.Toleration{{
				Key: string(DefaultGPUResourceName), Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule,
			}},
			NodeSelector: map[string]string{GPUNodeLabel: class},
		}
	}
	return []WorkloadTypeSpec{
		{Name: "CPU", Resources: res("1", "4Gi")},
		gpu("GPU_SMALL", "t4", "4", "16Gi", 1),
		gpu("GPU_MEDIUM", "a10g", "8", "32Gi", 1),
		gpu("GPU_LARGE", "a100", "12", "96Gi", 1),
		gpu("MULTIGPU_MEDIUM", "a10g", "48", "192Gi", 4),
	}
}

func setString(s *string, v string) {
	if *s == "" {
		*s = v
	}
}

func setInt32(i *int32, v int32) {
	if *i == 0 {
		*i = v
	}
}

func setFloat(f *float64, v float64) {
	if *f == 0 {
		*f = v
	}
}

func setDuration(d *metav1.Duration, v time.Duration) {
	if d.Duration == 0 {
		d.Duration = v
	}
}

func setQuantity(q *resource.Quantity, v string) {
	if q.IsZero() {
		*q = resource.MustParse(v)
	}
}
