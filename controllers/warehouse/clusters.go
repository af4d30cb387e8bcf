package warehouse

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/pkg/metrics"
	"github.com/serverlessplane/operator/pkg/naming"
	"github.com/serverlessplane/operator/pkg/netpolicy"
	"github.com/serverlessplane/operator/pkg/podsecurity"
)

// Labels and annotations of warehouse clusters.
const (
	// LabelServing is "true" on the pods the warehouse Service sends queries to; a draining
	// cluster's pods are relabelled "false".
	LabelServing = "compute.serverlessplane.io/serving"
	// LabelTemplateHash is the hash of the cluster's pod template: clusters whose hash differs
	// from the spec's are rolled.
	LabelTemplateHash = "compute.serverlessplane.io/template-hash"
	// LabelClusterSize is the size a cluster was created with, for quota accounting.
	LabelClusterSize = "compute.serverlessplane.io/cluster-size"
	// AnnotationDrainingSince marks a cluster taken out of service for scale-in.
	AnnotationDrainingSince = "compute.serverlessplane.io/draining-since"
	// TagAnnotationPrefix prefixes the warehouse's tags on its pods.
	TagAnnotationPrefix = "tags.compute.serverlessplane.io/"
	// ContainerName is the engine container's name.
	ContainerName = "engine"
	// certDir holds the engine's serving certificate; dataDir the warehouse's data volume.
	certDir = "/etc/serverlessplane/tls"
	dataDir = "/data"
)

// engine is the resolved engine of a warehouse: spec overrides over operator defaults.
type engine struct {
	Image       string
	Port        int32
	MetricsPort int32
	Args        []string
	Env         []corev1.EnvVar
}

func resolveEngine(wh *computev1.ServerlessWarehouse, cfg *configv1.OperatorConfig) engine {
	e := engine{
		Image: cfg.Warehouses.Images[string(wh.Spec.Channel)], Port: cfg.Warehouses.Port,
		MetricsPort: cfg.Warehouses.MetricsPort,
	}
	if e.Image == "" {
		e.Image = cfg.Warehouses.Images[string(computev1.ChannelCurrent)]
	}
	if s := wh.Spec.Engine; s != nil {
		if s.Image != "" {
			e.Image = s.Image
		}
		if s.Port != 0 {
			e.Port = s.Port
		}
		e.Args, e.Env = s.Args, s.Env
	}
	return e
}

// podTemplate is the pod template of every cluster of the warehouse; the cluster id is added
// by clusterDeployment, so that the hash covers everything else.
func podTemplate(wh *computev1.ServerlessWarehouse, cfg *configv1.OperatorConfig, size *configv1.ClusterSizeSpec) corev1.PodTemplateSpec {
	e := resolveEngine(wh, cfg)
	annotations := map[string]string{}
	for k, v := range wh.Spec.Tags {
		annotations[TagAnnotationPrefix+k] = v
	}
	env := []corev1.EnvVar{
		{Name: "SERVERLESSPLANE_WAREHOUSE", Value: wh.Name},
		{Name: "SERVERLESSPLANE_CLUSTER_SIZE", Value: string(wh.Spec.ClusterSize)},
		{Name: "SERVERLESSPLANE_WORKERS", Value: strconv.Itoa(int(size.Workers))},
		{Name: "SERVERLESSPLANE_SQL_PORT", Value: strconv.Itoa(int(e.Port))},
		{Name: "SERVERLESSPLANE_METRICS_PORT", Value: strconv.Itoa(int(e.MetricsPort))},
		{Name: "SERVERLESSPLANE_CHANNEL", Value: string(wh.Spec.Channel)},
	}
	scale := cfg.Warehouses.TPCHScaleFactor
	if wh.Spec.Data != nil && wh.Spec.Data.TPCHScaleFactor != "" {
		scale = wh.Spec.Data.TPCHScaleFactor
	}
	env = append(env, corev1.EnvVar{Name: "SERVERLESSPLANE_TPCH_SCALE", Value: scale},
		// The engine sizes DuckDB to its container, not to the node.
		corev1.EnvVar{Name: "SERVERLESSPLANE_MEMORY_LIMIT_BYTES", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{
			ContainerName: ContainerName, Resource: "limits.memory"}}},
		corev1.EnvVar{Name: "SERVERLESSPLANE_THREADS", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{
			ContainerName: ContainerName, Resource: threadsFrom(size.WorkerResources)}}})
	mounts := []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}, {Name: "tls", MountPath: certDir, ReadOnly: true}}
	volumes := []corev1.Volume{
		{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr.To(cfg.Warehouses.TmpSizeLimit.DeepCopy())}}},
		// The kubelet refreshes a mounted Secret in place: a renewed certificate reaches the
		// engine without a restart.
		{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: naming.WarehouseCertificate(wh.Name), DefaultMode: ptr.To[int32](0o440),
		}}},
	}
	if d := wh.Spec.Data; d != nil && d.PersistentVolumeClaim != nil {
		env = append(env, corev1.EnvVar{Name: "SERVERLESSPLANE_DATA_DIR", Value: dataDir})
		mounts = append(mounts, corev1.VolumeMount{Name: "data", MountPath: dataDir, ReadOnly: true})
		volumes = append(volumes, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{
			ClaimName: d.PersistentVolumeClaim.ClaimName, ReadOnly: true,
		}}})
	}
	env = append(env, e.Env...)
	spot := cfg.Warehouses.SpotPolicies[string(wh.Spec.SpotInstancePolicy)]
	var affinity *corev1.Affinity
	if spot.Affinity != nil {
		affinity = &corev1.Affinity{NodeAffinity: spot.Affinity.DeepCopy()}
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{
			Labels: map[string]string{
				computev1.LabelWarehouse: wh.Name, computev1.LabelWorkspace: wh.Namespace,
				computev1.LabelManagedBy: computev1.ManagedByValue, LabelServing: "true",
			},
			Annotations: annotations,
		},
		Spec: corev1.PodSpec{
			ServiceAccountName:           naming.WorkloadServiceAccount,
			AutomountServiceAccountToken: ptr.To(false),
			EnableServiceLinks:           ptr.To(false),
			SecurityContext:              podsecurity.Pod(),
			Tolerations:                  slices.Clone(spot.Tolerations),
			Affinity:                     affinity,
			Containers: []corev1.Container{{
				Name: ContainerName, Image: e.Image, Args: e.Args, Env: env,
				Ports: []corev1.ContainerPort{
					{Name: netpolicy.PortSQL, ContainerPort: e.Port, Protocol: corev1.ProtocolTCP},
					{Name: netpolicy.PortMetrics, ContainerPort: e.MetricsPort, Protocol: corev1.ProtocolTCP},
				},
				Resources:       *size.WorkerResources.DeepCopy(),
				SecurityContext: podsecurity.Container(),
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString(netpolicy.PortSQL)}},
					PeriodSeconds: 5,
				},
				VolumeMounts: mounts,
			}},
			Volumes: volumes,
		},
	}
}

// threadsFrom is the resource a cluster's DuckDB threads are sized by: the CPU limit, or,
// without one, the CPU request, since the downward API gives the node's cores for a limit that
// is not set and every cluster on a large node would run a thread per node core.
func threadsFrom(r corev1.ResourceRequirements) string {
	if _, limited := r.Limits[corev1.ResourceCPU]; !limited {
		if _, requested := r.Requests[corev1.ResourceCPU]; requested {
			return "requests.cpu"
		}
	}
	return "limits.cpu"
}

// templateHash is a short, stable hash of the cluster template and its worker count.
func templateHash(t corev1.PodTemplateSpec, workers int32) string {
	return naming.Hash(struct {
		T corev1.PodTemplateSpec
		W int32
	}{t, workers}, 8)
}

// clusterDeployment is one cluster: a Deployment of workers(size) engine pods.
func clusterDeployment(wh *computev1.ServerlessWarehouse, t corev1.PodTemplateSpec, hash, id string, size *configv1.ClusterSizeSpec) *appsv1.Deployment {
	t = *t.DeepCopy()
	t.Labels[computev1.LabelCluster] = id
	t.Spec.Containers[0].Env = append(t.Spec.Containers[0].Env, corev1.EnvVar{Name: "SERVERLESSPLANE_CLUSTER_ID", Value: id})
	selector := map[string]string{computev1.LabelWarehouse: wh.Name, computev1.LabelCluster: id}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{
			Name: naming.WarehouseCluster(wh.Name, id), Namespace: wh.Namespace,
			Labels: map[string]string{
				computev1.LabelWarehouse: wh.Name, computev1.LabelCluster: id, computev1.LabelWorkspace: wh.Namespace,
				LabelTemplateHash: hash, LabelClusterSize: string(wh.Spec.ClusterSize),
			},
		},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(size.Workers),
			Selector: &metav1.LabelSelector{MatchLabels: selector},
			Template: t,
		},
	}
}

// nextClusterIDs picks n unused ids <hash>-<ordinal>, lowest ordinals first.
func nextClusterIDs(hash string, taken map[string]bool, n int32) []string {
	var ids []string
	for i := 0; int32(len(ids)) < n; i++ {
		id := fmt.Sprintf("%s-%d", hash, i)
		if !taken[id] {
			ids = append(ids, id)
		}
	}
	return ids
}

// observeClusters turns the cluster Deployments into what the planner and the autoscaler know,
// in the same order, with each cluster's load when the warehouse's load was read.
func observeClusters(deployments []appsv1.Deployment, load *metrics.WarehouseLoad) []cluster {
	byCluster := map[string]float64{}
	if load != nil {
		for id, l := range load.Clusters {
			byCluster[id] = l.Running + l.Queued
		}
	}
	clusters := make([]cluster, 0, len(deployments))
	for i := range deployments {
		clusters = append(clusters, observeCluster(&deployments[i], byCluster, load != nil))
	}
	return clusters
}

// observeCluster turns a cluster Deployment into what the planner knows.
func observeCluster(d *appsv1.Deployment, load map[string]float64, loadKnown bool) cluster {
	c := cluster{ID: d.Labels[computev1.LabelCluster], Hash: d.Labels[LabelTemplateHash]}
	// A cluster's template never changes (a new template is a new cluster), so readiness is its
	// ready workers alone; the generation moves when the drain annotation is set.
	c.Ready = d.Status.ReadyReplicas >= ptr.Deref(d.Spec.Replicas, 1)
	if s, ok := d.Annotations[AnnotationDrainingSince]; ok {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			c.DrainingSince = t
		}
	}
	c.Load, c.LoadKnown = load[c.ID], loadKnown
	return c
}

// sortedIDs returns the ids of a set, sorted, for messages.
func sortedIDs(ids []string) string {
	s := append([]string(nil), ids...)
	sort.Strings(s)
	return strings.Join(s, ", ")
}
