package warehouse

import (
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/test/builders"
)

// testConfig is the default operator configuration with an engine image per channel, so that a
// test can tell which one a template took.
func testConfig() *configv1.OperatorConfig {
	cfg := configv1.Default()
	cfg.Warehouses.Images = map[string]string{"Current": "engine:current", "Preview": "engine:preview"}
	return cfg
}

// salesWarehouse is a Small warehouse as the API server defaults it.
func salesWarehouse() *computev1.ServerlessWarehouse {
	wh := builders.Warehouse("ws", "sales").Size(computev1.ClusterSizeSmall).Spot(computev1.SpotCostOptimized).Obj()
	wh.Spec.Channel = computev1.ChannelCurrent
	return wh
}

// salesTemplate is the template of salesWarehouse under testConfig, written out.
func salesTemplate(cfg *configv1.OperatorConfig) corev1.PodTemplateSpec {
	spot := cfg.Warehouses.SpotPolicies["CostOptimized"]
	limit := func(resource string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "engine", Resource: resource}}
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{
			Labels: map[string]string{
				// The warehouse's NetworkPolicies select its pods by the warehouse label; its
				// Service by the warehouse and serving labels.
				computev1.LabelWarehouse: "sales", computev1.LabelWorkspace: "ws",
				computev1.LabelManagedBy: "serverlessplane", LabelServing: "true",
			},
			Annotations: map[string]string{},
		},
		Spec: corev1.PodSpec{
			ServiceAccountName:           "workspace-workload",
			AutomountServiceAccountToken: ptr.To(false),
			EnableServiceLinks:           ptr.To(false),
			// The restricted Pod Security profile the workspace namespaces enforce.
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65532), RunAsGroup: ptr.To[int64](65532), FSGroup: ptr.To[int64](65532),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Tolerations: spot.Tolerations,
			Affinity:    &corev1.Affinity{NodeAffinity: spot.Affinity},
			Containers: []corev1.Container{{
				Name: "engine", Image: "engine:current",
				Env: []corev1.EnvVar{
					{Name: "SERVERLESSPLANE_WAREHOUSE", Value: "sales"},
					{Name: "SERVERLESSPLANE_CLUSTER_SIZE", Value: "Small"},
					{Name: "SERVERLESSPLANE_WORKERS", Value: "4"},
					{Name: "SERVERLESSPLANE_SQL_PORT", Value: "8443"},
					{Name: "SERVERLESSPLANE_METRICS_PORT", Value: "9090"},
					{Name: "SERVERLESSPLANE_CHANNEL", Value: "Current"},
					{Name: "SERVERLESSPLANE_TPCH_SCALE", Value: "0.01"},
					{Name: "SERVERLESSPLANE_MEMORY_LIMIT_BYTES", ValueFrom: limit("limits.memory")},
					// Small has no CPU limit: the downward API would give the node's cores.
					{Name: "SERVERLESSPLANE_THREADS", ValueFrom: limit("requests.cpu")},
				},
				// The names are the ones the warehouse NetworkPolicy and Service refer to.
				Ports: []corev1.ContainerPort{
					{Name: "sql", ContainerPort: 8443, Protocol: corev1.ProtocolTCP},
					{Name: "metrics", ContainerPort: 9090, Protocol: corev1.ProtocolTCP},
				},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("4Gi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("4Gi")},
				},
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
					ReadOnlyRootFilesystem:   ptr.To(true),
					RunAsNonRoot:             ptr.To(true),
				},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("sql")}},
					PeriodSeconds: 5,
				},
				VolumeMounts: []corev1.VolumeMount{
					{Name: "tmp", MountPath: "/tmp"},
					{Name: "tls", MountPath: "/etc/serverlessplane/tls", ReadOnly: true},
				},
			}},
			Volumes: []corev1.Volume{
				{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr.To(resource.MustParse("20Gi"))}}},
				{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
					SecretName: "sales-sql-tls", DefaultMode: ptr.To[int32](0o440),
				}}},
			},
		},
	}
}

// setEnv sets the value of the engine's variable name, which must be there.
func setEnv(t *testing.T, tmpl *corev1.PodTemplateSpec, name, value string) {
	t.Helper()
	env := tmpl.Spec.Containers[0].Env
	for i := range env {
		if env[i].Name == name {
			env[i].Value = value
			return
		}
	}
	t.Fatalf("the expected template has no variable %s", name)
}

func TestPodTemplate(t *testing.T) {
	tests := []struct {
		name string
		// size is the configured cluster size the template is for; Small when empty.
		size string
		// warehouse and config change salesWarehouse and testConfig.
		warehouse func(*computev1.ServerlessWarehouse)
		config    func(*configv1.OperatorConfig)
		// want changes salesTemplate.
		want func(*testing.T, *corev1.PodTemplateSpec)
	}{
		{
			name: "a Small warehouse runs the Current engine, restricted, preferring spot nodes",
		},
		{
			name:      "the Preview channel runs the Preview image",
			warehouse: func(wh *computev1.ServerlessWarehouse) { wh.Spec.Channel = computev1.ChannelPreview },
			want: func(t *testing.T, tmpl *corev1.PodTemplateSpec) {
				tmpl.Spec.Containers[0].Image = "engine:preview"
				setEnv(t, tmpl, "SERVERLESSPLANE_CHANNEL", "Preview")
			},
		},
		{
			name:      "a channel without an image of its own runs the Current image",
			warehouse: func(wh *computev1.ServerlessWarehouse) { wh.Spec.Channel = computev1.ChannelPreview },
			config:    func(cfg *configv1.OperatorConfig) { delete(cfg.Warehouses.Images, "Preview") },
			want: func(t *testing.T, tmpl *corev1.PodTemplateSpec) {
				setEnv(t, tmpl, "SERVERLESSPLANE_CHANNEL", "Preview")
			},
		},
		{
			name: "spec.engine.image overrides the channel's image",
			warehouse: func(wh *computev1.ServerlessWarehouse) {
				wh.Spec.Engine = &computev1.WarehouseEngine{Image: "registry.example/engine:custom"}
			},
			want: func(_ *testing.T, tmpl *corev1.PodTemplateSpec) {
				tmpl.Spec.Containers[0].Image = "registry.example/engine:custom"
			},
		},
		{
			name:      "spec.engine.port moves the SQL port and tells the engine; the probe follows the port's name",
			warehouse: func(wh *computev1.ServerlessWarehouse) { wh.Spec.Engine = &computev1.WarehouseEngine{Port: 9443} },
			want: func(t *testing.T, tmpl *corev1.PodTemplateSpec) {
				tmpl.Spec.Containers[0].Ports[0].ContainerPort = 9443
				setEnv(t, tmpl, "SERVERLESSPLANE_SQL_PORT", "9443")
			},
		},
		{
			name: "spec.engine args are passed and its env follows the operator's",
			warehouse: func(wh *computev1.ServerlessWarehouse) {
				wh.Spec.Engine = &computev1.WarehouseEngine{Args: []string{"--verbose"}, Env: []corev1.EnvVar{{Name: "TZ", Value: "UTC"}}}
			},
			want: func(_ *testing.T, tmpl *corev1.PodTemplateSpec) {
				c := &tmpl.Spec.Containers[0]
				c.Args = []string{"--verbose"}
				c.Env = append(c.Env, corev1.EnvVar{Name: "TZ", Value: "UTC"})
			},
		},
		{
			name:      "a Medium warehouse gets Medium's workers and worker resources, and threads by its CPU limit",
			size:      "Medium",
			warehouse: func(wh *computev1.ServerlessWarehouse) { wh.Spec.ClusterSize = computev1.ClusterSizeMedium },
			config: func(cfg *configv1.OperatorConfig) {
				medium, _ := cfg.ClusterSize("Medium")
				medium.WorkerResources = corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("16Gi")},
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("16Gi")},
				}
			},
			want: func(t *testing.T, tmpl *corev1.PodTemplateSpec) {
				setEnv(t, tmpl, "SERVERLESSPLANE_CLUSTER_SIZE", "Medium")
				setEnv(t, tmpl, "SERVERLESSPLANE_WORKERS", "8")
				for i, e := range tmpl.Spec.Containers[0].Env {
					if e.Name == "SERVERLESSPLANE_THREADS" {
						tmpl.Spec.Containers[0].Env[i].ValueFrom.ResourceFieldRef.Resource = "limits.cpu"
					}
				}
				tmpl.Spec.Containers[0].Resources = corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("16Gi")},
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("16Gi")},
				}
			},
		},
		{
			name: "ReliabilityOptimized requires on-demand nodes and tolerates no spot taint",
			warehouse: func(wh *computev1.ServerlessWarehouse) {
				wh.Spec.SpotInstancePolicy = computev1.SpotReliabilityOptimized
			},
			want: func(_ *testing.T, tmpl *corev1.PodTemplateSpec) {
				tmpl.Spec.Tolerations = nil
				tmpl.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
					RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
						NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{
							Key: configv1.CapacityTypeLabel, Operator: corev1.NodeSelectorOpNotIn, Values: []string{"spot"},
						}}}},
					},
				}}
			},
		},
		{
			name: "tags become pod annotations under the tags prefix",
			warehouse: func(wh *computev1.ServerlessWarehouse) {
				wh.Spec.Tags = map[string]string{"team": "finance", "cost-center": "42"}
			},
			want: func(_ *testing.T, tmpl *corev1.PodTemplateSpec) {
				tmpl.Annotations = map[string]string{
					"tags.compute.serverlessplane.io/team": "finance", "tags.compute.serverlessplane.io/cost-center": "42",
				}
			},
		},
		{
			name: "the warehouse's TPC-H scale overrides the configuration's",
			warehouse: func(wh *computev1.ServerlessWarehouse) {
				wh.Spec.Data = &computev1.WarehouseData{TPCHScaleFactor: "1"}
			},
			want: func(t *testing.T, tmpl *corev1.PodTemplateSpec) { setEnv(t, tmpl, "SERVERLESSPLANE_TPCH_SCALE", "1") },
		},
		{
			name: "a data volume is mounted read-only at /data and the engine told where",
			warehouse: func(wh *computev1.ServerlessWarehouse) {
				wh.Spec.Data = &computev1.WarehouseData{PersistentVolumeClaim: &computev1.WarehouseDataVolume{ClaimName: "lake"}}
			},
			want: func(_ *testing.T, tmpl *corev1.PodTemplateSpec) {
				c := &tmpl.Spec.Containers[0]
				c.Env = append(c.Env, corev1.EnvVar{Name: "SERVERLESSPLANE_DATA_DIR", Value: "/data"})
				c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "data", MountPath: "/data", ReadOnly: true})
				tmpl.Spec.Volumes = append(tmpl.Spec.Volumes, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{
					PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "lake", ReadOnly: true},
				}})
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, wh := testConfig(), salesWarehouse()
			if tc.config != nil {
				tc.config(cfg)
			}
			if tc.warehouse != nil {
				tc.warehouse(wh)
			}
			sizeName := "Small"
			if tc.size != "" {
				sizeName = tc.size
			}
			size, ok := cfg.ClusterSize(sizeName)
			if !ok {
				t.Fatalf("no cluster size %s in the configuration", sizeName)
			}
			want := salesTemplate(cfg)
			if tc.want != nil {
				tc.want(t, &want)
			}
			if diff := cmp.Diff(want, podTemplate(wh, cfg, size)); diff != "" {
				t.Errorf("podTemplate (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTemplateHash(t *testing.T) {
	cfg := testConfig()
	small, _ := cfg.ClusterSize("Small")
	medium, _ := cfg.ClusterSize("Medium")
	sales := func(change func(*computev1.ServerlessWarehouse), size *configv1.ClusterSizeSpec) corev1.PodTemplateSpec {
		wh := salesWarehouse()
		if change != nil {
			change(wh)
		}
		return podTemplate(wh, cfg, size)
	}
	// tagged adds 26 tags in the order of keys, so that two orders make maps that range alike
	// only by chance.
	tagged := func(keys string) func(*computev1.ServerlessWarehouse) {
		return func(wh *computev1.ServerlessWarehouse) {
			wh.Spec.Tags = map[string]string{}
			for _, k := range keys {
				wh.Spec.Tags[string(k)] = "v" + string(k)
			}
		}
	}
	type side struct {
		template corev1.PodTemplateSpec
		workers  int32
	}
	tests := []struct {
		name string
		a, b side
		same bool
	}{
		{
			name: "the same warehouse hashes alike on every pass",
			a:    side{sales(nil, small), 4}, b: side{sales(nil, small), 4}, same: true,
		},
		{
			name: "tags hash alike whatever order the map ranges in",
			a:    side{sales(tagged("abcdefghijklmnopqrstuvwxyz"), small), 4},
			b:    side{sales(tagged("zyxwvutsrqponmlkjihgfedcba"), small), 4}, same: true,
		},
		{
			name: "another worker count is another cluster",
			a:    side{sales(nil, small), 4}, b: side{sales(nil, small), 8},
		},
		{
			name: "another image is another cluster",
			a:    side{sales(nil, small), 4},
			b: side{sales(func(wh *computev1.ServerlessWarehouse) {
				wh.Spec.Engine = &computev1.WarehouseEngine{Image: "engine:custom"}
			}, small), 4},
		},
		{
			name: "another size with the same worker resources is another cluster",
			a:    side{sales(nil, small), small.Workers}, b: side{sales(nil, medium), medium.Workers},
		},
		{
			name: "another tag value is another cluster",
			a:    side{sales(tagged("ab"), small), 4},
			b: side{sales(func(wh *computev1.ServerlessWarehouse) {
				wh.Spec.Tags = map[string]string{"a": "va", "b": "changed"}
			}, small), 4},
		},
	}
	// The hash is a label value and part of every cluster's Deployment name.
	format := regexp.MustCompile(`^[0-9a-f]{8}$`)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := templateHash(tc.a.template, tc.a.workers), templateHash(tc.b.template, tc.b.workers)
			for _, h := range []string{a, b} {
				if !format.MatchString(h) {
					t.Errorf("hash %q is not 8 lowercase hex digits", h)
				}
			}
			if (a == b) != tc.same {
				t.Errorf("hashes %s and %s, want them equal: %t", a, b, tc.same)
			}
		})
	}

	// A hash that changed between operator versions for the same template would mark every
	// running cluster outdated and roll it on upgrade.
	if got, want := templateHash(corev1.PodTemplateSpec{}, 1), "2bbc5207"; got != want {
		t.Errorf("templateHash of the empty template with 1 worker = %s, want %s: a new value rolls every running cluster", got, want)
	}
}

func TestNextClusterIDs(t *testing.T) {
	set := func(ids ...string) map[string]bool {
		m := map[string]bool{}
		for _, id := range ids {
			m[id] = true
		}
		return m
	}
	tests := []struct {
		name  string
		taken map[string]bool
		n     int32
		want  []string
	}{
		{name: "none asked", n: 0, want: nil},
		{name: "a negative count asks for none", taken: set("h-0"), n: -1, want: nil},
		{name: "the first clusters of a template", n: 3, want: []string{"h-0", "h-1", "h-2"}},
		{name: "taken ids are skipped and gaps filled first", taken: set("h-0", "h-2"), n: 2, want: []string{"h-1", "h-3"}},
		{name: "the ids of another template's clusters do not block", taken: set("old-0", "old-1"), n: 1, want: []string{"h-0"}},
		{name: "an id that only starts like one of the template's does not block", taken: set("h-00", "h-1x"), n: 2, want: []string{"h-0", "h-1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := nextClusterIDs("h", tc.taken, tc.n)
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("nextClusterIDs (-want +got):\n%s", diff)
			}
			if again := nextClusterIDs("h", tc.taken, tc.n); !cmp.Equal(got, again) {
				t.Errorf("a second call gave %v after %v", again, got)
			}
			seen := map[string]bool{}
			for _, id := range got {
				if tc.taken[id] || seen[id] {
					t.Errorf("%s is given twice or was taken", id)
				}
				seen[id] = true
			}
		})
	}
}
