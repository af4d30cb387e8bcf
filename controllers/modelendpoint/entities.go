package modelendpoint

import (
	"fmt"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/pkg/autoscaler"
	"github.com/serverlessplane/operator/pkg/naming"
	"github.com/serverlessplane/operator/pkg/netpolicy"
	"github.com/serverlessplane/operator/pkg/podsecurity"
)

// Paths and names inside model server pods.
const (
	ContainerName = "server"
	// ProxyContainerName is the model proxy sidecar of every model pod.
	ProxyContainerName = "proxy"
	certVolume         = "tls"
	certDir            = "/etc/serverlessplane/tls"
	// ServicePort is the port of an entity's Service: HTTPS.
	ServicePort = 443
	// AnnotationModel records the served model version on the pods.
	AnnotationModel = "compute.serverlessplane.io/model"
	// AnnotationConfigHash records on an entity's Deployment the hash of the config it runs.
	AnnotationConfigHash = "compute.serverlessplane.io/config-hash"
)

// configHash is a short, stable hash of an entity's pod template.
func configHash(t corev1.PodTemplateSpec) string { return naming.Hash(t, 10) }

// bounds are the replica bounds of an entity: its workload size's concurrency range over the
// per-replica concurrency. Scale to zero makes the floor 0 whatever the size (Databricks: with
// scale to zero, each workload size's lower bound of provisioned concurrency is 0); without it
// the floor is at least 1.
type bounds struct {
	Min, Max int32
}

func replicaBounds(e *computev1.ServedEntity, cfg *configv1.OperatorConfig) bounds {
	size, ok := cfg.WorkloadSize(string(e.WorkloadSize))
	if !ok {
		return bounds{Min: 1, Max: 1}
	}
	lo, hi := autoscaler.ReplicaBounds(size.MinConcurrency, size.MaxConcurrency, cfg.ModelServing.ConcurrencyPerReplica,
		e.ScaleToZero == computev1.ScaleToZeroEnabled)
	return bounds{Min: lo, Max: hi}
}

// unconfigured says which served entity names a workload type or size the operator
// configuration does not offer, and how to fix it; "" when every entity's are offered.
func unconfigured(ep *computev1.ModelEndpoint, cfg *configv1.OperatorConfig) string {
	for i, e := range ep.Spec.ServedEntities {
		if _, ok := cfg.WorkloadType(string(e.WorkloadType)); !ok {
			return fmt.Sprintf("spec.servedEntities[%d].workloadType %q is not a workload type of the operator configuration (%s); nothing is changed. Set it to one of those, or add it to the configuration's modelServing.workloadTypes",
				i, e.WorkloadType, strings.Join(cfg.WorkloadTypeNames(), ", "))
		}
		if _, ok := cfg.WorkloadSize(string(e.WorkloadSize)); !ok {
			return fmt.Sprintf("spec.servedEntities[%d].workloadSize %q is not a workload size of the operator configuration (%s); nothing is changed. Set it to one of those, or add it to the configuration's modelServing.workloadSizes",
				i, e.WorkloadSize, strings.Join(cfg.WorkloadSizeNames(), ", "))
		}
	}
	return ""
}

// entityDeployment serves one entity: its replicas roll one at a time with a surge and never
// below the current count (maxUnavailable 0), so a change never drops capacity, and a rollout
// that does not progress within the deadline leaves the previous pods serving.
func entityDeployment(ep *computev1.ModelEndpoint, e *computev1.ServedEntity, cfg *configv1.OperatorConfig, replicas int32) (*appsv1.Deployment, error) {
	wt, ok := cfg.WorkloadType(string(e.WorkloadType))
	if !ok {
		return nil, fmt.Errorf("workload type %q is missing from the operator configuration", e.WorkloadType)
	}
	image := e.Image
	if image == "" {
		image = cfg.ModelServing.Image
	}
	res := *wt.Resources.DeepCopy()
	if wt.GPUs > 0 {
		if res.Limits == nil {
			res.Limits = corev1.ResourceList{}
		}
		if res.Requests == nil {
			res.Requests = corev1.ResourceList{}
		}
		gpus := *resource.NewQuantity(int64(wt.GPUs), resource.DecimalSI)
		res.Limits[wt.GPUResourceName], res.Requests[wt.GPUResourceName] = gpus, gpus
	}
	ms := cfg.ModelServing
	// The model container speaks plain HTTP on localhost only; it never sees the serving key.
	env := []corev1.EnvVar{
		{Name: "SERVERLESSPLANE_ENDPOINT", Value: ep.Name},
		{Name: "SERVERLESSPLANE_SERVED_ENTITY", Value: e.Name},
		{Name: "MODEL_NAME", Value: e.Model.Name},
		{Name: "MODEL_VERSION", Value: e.Model.Version},
		{Name: "PORT", Value: strconv.Itoa(int(ms.ContainerPort))},
		{Name: "METRICS_PORT", Value: strconv.Itoa(int(ms.ContainerPort + 1))},
	}
	env = append(env, e.Env...)
	selector := map[string]string{computev1.LabelEndpoint: ep.Name, computev1.LabelServedEntity: e.Name}
	podLabels := map[string]string{
		computev1.LabelEndpoint: ep.Name, computev1.LabelServedEntity: e.Name,
		computev1.LabelWorkspace: ep.Namespace, computev1.LabelManagedBy: computev1.ManagedByValue,
	}
	name := naming.ServedEntity(ep.Name, e.Name)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ep.Namespace, Labels: map[string]string{
			computev1.LabelEndpoint: ep.Name, computev1.LabelServedEntity: e.Name, computev1.LabelWorkspace: ep.Namespace,
		}},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: selector},
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: ptr.To(intstr.FromInt32(0)), MaxSurge: ptr.To(intstr.FromInt32(1)),
				},
			},
			ProgressDeadlineSeconds: ptr.To(int32(cfg.ModelServing.ProgressDeadline.Seconds())),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      podLabels,
					Annotations: map[string]string{AnnotationModel: e.Model.Name + "/" + e.Model.Version},
				},
				Spec: corev1.PodSpec{
					ServiceAccountName:           naming.WorkloadServiceAccount,
					AutomountServiceAccountToken: ptr.To(false),
					EnableServiceLinks:           ptr.To(false),
					SecurityContext:              podsecurity.Pod(),
					// The proxy's drain (5s of grace, up to 30s for what it holds) fits.
					TerminationGracePeriodSeconds: ptr.To[int64](45),
					Tolerations:                   wt.Tolerations,
					NodeSelector:                  wt.NodeSelector,
					Containers: []corev1.Container{
						{
							Name: ContainerName, Image: image, Env: env, Resources: res,
							SecurityContext: podsecurity.Container(),
							// The proxy stops taking requests 5s after SIGTERM and then finishes
							// what it holds: the model keeps serving through that before its own
							// SIGTERM.
							Lifecycle:    &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 10}}},
							VolumeMounts: []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}},
						},
						proxyContainer(cfg),
					},
					Volumes: []corev1.Volume{
						// The kubelet refreshes a mounted Secret in place: renewing the certificate
						// restarts nothing.
						{Name: certVolume, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
							SecretName: naming.ServingCertificate(ep.Name), DefaultMode: ptr.To[int32](0o440),
						}}},
						{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr.To(ms.TmpSizeLimit.DeepCopy())}}},
					},
				},
			},
		},
	}
	d.Annotations = map[string]string{AnnotationConfigHash: configHash(d.Spec.Template)}
	return d, nil
}

// proxyContainer is the model proxy every model pod runs next to its model container: it
// serves the pod's TLS port with the endpoint's certificate to the gateway alone, limits
// concurrency to the per-replica target, reports in-flight requests and forwards to the model on
// localhost. Its readiness is the model's: /readyz answers only when the model answers /ping.
func proxyContainer(cfg *configv1.OperatorConfig) corev1.Container {
	ms := cfg.ModelServing
	return corev1.Container{
		Name: ProxyContainerName, Image: ms.ProxyImage, Resources: *ms.ProxyResources.DeepCopy(),
		Env: []corev1.EnvVar{
			{Name: "PORT", Value: strconv.Itoa(int(ms.Port))},
			{Name: "METRICS_PORT", Value: strconv.Itoa(int(ms.MetricsPort))},
			{Name: "UPSTREAM", Value: "http://127.0.0.1:" + strconv.Itoa(int(ms.ContainerPort))},
			{Name: "CONTAINER_CONCURRENCY", Value: strconv.Itoa(int(ms.ConcurrencyPerReplica))},
			{Name: "TLS_CERT_FILE", Value: certDir + "/tls.crt"},
			{Name: "TLS_KEY_FILE", Value: certDir + "/tls.key"},
			// Clients must present the gateway's certificate from the operator CA.
			{Name: "TLS_CLIENT_CA_FILE", Value: certDir + "/ca.crt"},
			{Name: "ALLOWED_CLIENT_NAMES", Value: GatewayClientName},
		},
		Ports: []corev1.ContainerPort{
			{Name: netpolicy.PortHTTPS, ContainerPort: ms.Port, Protocol: corev1.ProtocolTCP},
			{Name: netpolicy.PortMetrics, ContainerPort: ms.MetricsPort, Protocol: corev1.ProtocolTCP},
		},
		SecurityContext: podsecurity.Container(),
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromString(netpolicy.PortMetrics)}},
			PeriodSeconds: 2, FailureThreshold: 2,
		},
		LivenessProbe: &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString(netpolicy.PortMetrics)}},
			PeriodSeconds: 10, FailureThreshold: 3,
		},
		VolumeMounts: []corev1.VolumeMount{{Name: certVolume, MountPath: certDir, ReadOnly: true}},
	}
}

// entityService fronts an entity's ready pods on HTTPS.
func entityService(ep *computev1.ModelEndpoint, entity string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: naming.ServedEntity(ep.Name, entity), Namespace: ep.Namespace, Labels: map[string]string{
			computev1.LabelEndpoint: ep.Name, computev1.LabelServedEntity: entity, computev1.LabelWorkspace: ep.Namespace,
		}},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: map[string]string{computev1.LabelEndpoint: ep.Name, computev1.LabelServedEntity: entity},
			Ports: []corev1.ServicePort{{
				Name: netpolicy.PortHTTPS, Port: ServicePort, TargetPort: intstr.FromString(netpolicy.PortHTTPS), Protocol: corev1.ProtocolTCP,
			}},
		},
	}
}
