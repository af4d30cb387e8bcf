package integration

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	b "github.com/serverlessplane/operator/test/builders"
	"github.com/serverlessplane/operator/test/framework"
)

// apiNamespace holds the namespaced objects of the admission tests; the controllers are not
// under test here, only the schema.
const apiNamespace = "api-admission"

var _ = Describe("API admission", Ordered, func() {
	BeforeAll(func(ctx SpecContext) {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: apiNamespace}}
		Expect(client.IgnoreAlreadyExists(k8s.Create(ctx, ns))).To(Succeed())
	})

	// Each entry creates a bad object, expects it rejected with messages that name the field,
	// then creates the nearest good object and expects it accepted.
	DescribeTable("rejects bad input with a message naming the field, and accepts the nearest good input",
		func(ctx SpecContext, bad, good func(name string) client.Object, wantMsgs ...string) {
			err := k8s.Create(ctx, bad(framework.Name("bad")))
			Expect(err).To(HaveOccurred())
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want an Invalid error, got %v", err)
			for _, m := range wantMsgs {
				Expect(err.Error()).To(ContainSubstring(m))
			}
			Expect(k8s.Create(ctx, good(framework.Name("good")))).To(Succeed())
		},
		Entry("workspace without region",
			ws(func(w *computev1.Workspace) { w.Spec.Region = "" }), ws(nil),
			"spec.region"),
		Entry("workspace with a region that is not a DNS label",
			ws(func(w *computev1.Workspace) { w.Spec.Region = "US_EAST" }), ws(nil),
			"spec.region"),
		Entry("service account admin without namespace",
			ws(func(w *computev1.Workspace) {
				w.Spec.Admins = []computev1.WorkspaceAdmin{{Kind: computev1.SubjectServiceAccount, Name: "ci"}}
			}),
			ws(func(w *computev1.Workspace) {
				w.Spec.Admins = []computev1.WorkspaceAdmin{{Kind: computev1.SubjectServiceAccount, Name: "ci", Namespace: "ci"}}
			}),
			"spec.admins[0]", "namespace is required for a ServiceAccount"),
		Entry("unknown metastore",
			ws(func(w *computev1.Workspace) { w.Spec.Metastore.Type = "Hive" }),
			ws(func(w *computev1.Workspace) { w.Spec.Metastore.Type = computev1.MetastoreGlue }),
			"spec.metastore.type", "Unsupported value"),

		Entry("warehouse with an unknown cluster size",
			swh(func(w *computev1.ServerlessWarehouse) { w.Spec.ClusterSize = "Huge" }),
			swh(func(w *computev1.ServerlessWarehouse) { w.Spec.ClusterSize = computev1.ClusterSize4XLarge }),
			"spec.clusterSize", "Unsupported value"),
		Entry("warehouse with minClusters > maxClusters",
			swh(func(w *computev1.ServerlessWarehouse) { w.Spec.MinClusters, w.Spec.MaxClusters = 3, 2 }),
			swh(func(w *computev1.ServerlessWarehouse) { w.Spec.MinClusters, w.Spec.MaxClusters = 2, 2 }),
			"spec.minClusters", "less than or equal to spec.maxClusters"),
		Entry("warehouse with minClusters above the default maxClusters",
			swh(func(w *computev1.ServerlessWarehouse) { w.Spec.MinClusters = 2 }),
			swh(func(w *computev1.ServerlessWarehouse) { w.Spec.MinClusters, w.Spec.MaxClusters = 2, 2 }),
			"spec.minClusters"),
		Entry("warehouse with maxClusters > 40",
			swh(func(w *computev1.ServerlessWarehouse) { w.Spec.MaxClusters = 41 }),
			swh(func(w *computev1.ServerlessWarehouse) { w.Spec.MaxClusters = 40 }),
			"spec.maxClusters", "40"),
		Entry("warehouse with negative autoStopMinutes",
			swh(func(w *computev1.ServerlessWarehouse) { w.Spec.AutoStopMinutes = ptr.To[int32](-1) }),
			swh(func(w *computev1.ServerlessWarehouse) { w.Spec.AutoStopMinutes = ptr.To[int32](0) }),
			"spec.autoStopMinutes", "0"),
		Entry("warehouse with a TPC-H scale that is not a number",
			swh(func(w *computev1.ServerlessWarehouse) { w.Spec.Data = &computev1.WarehouseData{TPCHScaleFactor: "1e3"} }),
			swh(func(w *computev1.ServerlessWarehouse) { w.Spec.Data = &computev1.WarehouseData{TPCHScaleFactor: "0.1"} }),
			"spec.data.tpchScaleFactor"),
		Entry("warehouse with a TPC-H scale above 10",
			swh(func(w *computev1.ServerlessWarehouse) { w.Spec.Data = &computev1.WarehouseData{TPCHScaleFactor: "30"} }),
			swh(func(w *computev1.ServerlessWarehouse) { w.Spec.Data = &computev1.WarehouseData{TPCHScaleFactor: "10"} }),
			"spec.data.tpchScaleFactor", "at most 10"),
		Entry("warehouse with a data claim that is not a name",
			swh(func(w *computev1.ServerlessWarehouse) {
				w.Spec.Data = &computev1.WarehouseData{PersistentVolumeClaim: &computev1.WarehouseDataVolume{ClaimName: "../etc"}}
			}),
			swh(func(w *computev1.ServerlessWarehouse) {
				w.Spec.Data = &computev1.WarehouseData{PersistentVolumeClaim: &computev1.WarehouseDataVolume{ClaimName: "lake"}}
			}),
			"spec.data.persistentVolumeClaim.claimName"),
		// A tag key that is no annotation name made every cluster Deployment invalid (issue 14).
		Entry("warehouse with a tag key that cannot name an annotation",
			swh(func(w *computev1.ServerlessWarehouse) { w.Spec.Tags = map[string]string{"cost center/team": "ml"} }),
			swh(func(w *computev1.ServerlessWarehouse) { w.Spec.Tags = map[string]string{"cost-center.team_1": "ml"} }),
			"spec.tags", "tags.compute.serverlessplane.io/<key>"),
		Entry("warehouse with a tag key longer than 63 characters",
			swh(func(w *computev1.ServerlessWarehouse) { w.Spec.Tags = map[string]string{strings.Repeat("k", 64): "v"} }),
			swh(func(w *computev1.ServerlessWarehouse) { w.Spec.Tags = map[string]string{strings.Repeat("k", 63): "v"} }),
			"spec.tags", "at most 63"),
		Entry("warehouse with a tag value longer than 256 characters",
			swh(func(w *computev1.ServerlessWarehouse) {
				w.Spec.Tags = map[string]string{"team": strings.Repeat("v", 257)}
			}),
			swh(func(w *computev1.ServerlessWarehouse) {
				w.Spec.Tags = map[string]string{"team": strings.Repeat("v", 256)}
			}),
			"spec.tags", "at most 256"),
		Entry("warehouse engine env that sets a name the operator sets",
			swh(func(w *computev1.ServerlessWarehouse) {
				w.Spec.Engine = &computev1.WarehouseEngine{Env: []corev1.EnvVar{{Name: "SERVERLESSPLANE_DATA_DIR", Value: "/etc/serverlessplane/tls"}}}
			}),
			swh(func(w *computev1.ServerlessWarehouse) {
				w.Spec.Engine = &computev1.WarehouseEngine{Env: []corev1.EnvVar{{Name: "DATA_DIR", Value: "/etc/serverlessplane/tls"}}}
			}),
			"spec.engine.env", "must not start with SERVERLESSPLANE_"),
		Entry("warehouse engine env read from a Secret",
			swh(func(w *computev1.ServerlessWarehouse) {
				w.Spec.Engine = &computev1.WarehouseEngine{Env: []corev1.EnvVar{{Name: "KEY", ValueFrom: &corev1.EnvVarSource{
					SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cloud-credentials"}, Key: "key"}}}}}
			}),
			swh(func(w *computev1.ServerlessWarehouse) {
				w.Spec.Engine = &computev1.WarehouseEngine{Env: []corev1.EnvVar{{Name: "POD", ValueFrom: &corev1.EnvVarSource{
					FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}}
			}),
			"spec.engine.env", "valueFrom may only be fieldRef or resourceFieldRef"),
		Entry("warehouse engine env naming a Secret beside a field (pod validation would refuse it only later)",
			swh(func(w *computev1.ServerlessWarehouse) {
				w.Spec.Engine = &computev1.WarehouseEngine{Env: []corev1.EnvVar{{Name: "KEY", ValueFrom: &corev1.EnvVarSource{
					FieldRef:     &corev1.ObjectFieldSelector{FieldPath: "metadata.name"},
					SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cloud-credentials"}, Key: "key"}}}}}
			}),
			swh(func(w *computev1.ServerlessWarehouse) {
				w.Spec.Engine = &computev1.WarehouseEngine{Env: []corev1.EnvVar{{Name: "POD", ValueFrom: &corev1.EnvVarSource{
					FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}}
			}),
			"spec.engine.env", "valueFrom may only be fieldRef or resourceFieldRef"),
		Entry("warehouse with an unknown spot policy",
			swh(func(w *computev1.ServerlessWarehouse) { w.Spec.SpotInstancePolicy = "Cheap" }),
			swh(func(w *computev1.ServerlessWarehouse) { w.Spec.SpotInstancePolicy = computev1.SpotReliabilityOptimized }),
			"spec.spotInstancePolicy"),

		Entry("endpoint with no served entities",
			mep(func(e *computev1.ModelEndpoint) { e.Spec.ServedEntities = nil }),
			mep(nil),
			"spec.servedEntities"),
		Entry("endpoint with more than 10 served entities",
			mep(func(e *computev1.ModelEndpoint) { e.Spec.ServedEntities, e.Spec.Traffic = entities(11), routes(11) }),
			mep(func(e *computev1.ModelEndpoint) { e.Spec.ServedEntities, e.Spec.Traffic = entities(10), routes(10) }),
			"spec.servedEntities", "10"),
		Entry("endpoint with duplicate served-entity names",
			mep(func(e *computev1.ModelEndpoint) {
				e.Spec.ServedEntities = append(e.Spec.ServedEntities, e.Spec.ServedEntities[0])
				e.Spec.Traffic = &computev1.TrafficConfig{Routes: []computev1.TrafficRoute{{ServedEntity: "champion", Percent: 100}}}
			}),
			mep(nil),
			"spec.servedEntities[2]", "Duplicate value"),
		Entry("endpoint route naming an entity that does not exist",
			mep(func(e *computev1.ModelEndpoint) {
				e.Spec.Traffic.Routes[1].ServedEntity = "ghost"
			}),
			mep(nil),
			"spec.traffic.routes", "must name an entity of spec.servedEntities"),
		Entry("endpoint routing an entity twice",
			mep(func(e *computev1.ModelEndpoint) {
				e.Spec.Traffic.Routes[1] = computev1.TrafficRoute{ServedEntity: "champion", Percent: 10}
			}),
			mep(nil),
			"spec.traffic.routes[1]", "Duplicate value"),
		Entry("endpoint percents not summing to 100",
			mep(func(e *computev1.ModelEndpoint) { e.Spec.Traffic.Routes[1].Percent = 40 }),
			mep(nil),
			"spec.traffic.routes", "must sum to 100"),
		Entry("endpoint with two entities and no traffic",
			mep(func(e *computev1.ModelEndpoint) { e.Spec.Traffic = nil }),
			mep(nil),
			"spec.traffic", "required when there is more than one served entity"),
		Entry("served entity env that sets a name the operator sets",
			mep(func(e *computev1.ModelEndpoint) {
				e.Spec.ServedEntities[0].Env = []corev1.EnvVar{{Name: "PORT", Value: "9999"}}
			}),
			mep(func(e *computev1.ModelEndpoint) {
				e.Spec.ServedEntities[0].Env = []corev1.EnvVar{{Name: "WORKERS", Value: "2"}}
			}),
			"spec.servedEntities[0].env", "METRICS_PORT: the operator sets those"),
		Entry("served entity env read from a ConfigMap",
			mep(func(e *computev1.ModelEndpoint) {
				e.Spec.ServedEntities[0].Env = []corev1.EnvVar{{Name: "CA", ValueFrom: &corev1.EnvVarSource{
					ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "platform"}, Key: "ca"}}}}
			}),
			mep(func(e *computev1.ModelEndpoint) {
				e.Spec.ServedEntities[0].Env = []corev1.EnvVar{{Name: "CPUS", ValueFrom: &corev1.EnvVarSource{
					ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "model", Resource: "limits.cpu"}}}}
			}),
			"spec.servedEntities[0].env", "valueFrom may only be fieldRef or resourceFieldRef"),
		Entry("endpoint with an unknown workload size",
			mep(func(e *computev1.ModelEndpoint) { e.Spec.ServedEntities[0].WorkloadSize = "Tiny" }),
			mep(func(e *computev1.ModelEndpoint) { e.Spec.ServedEntities[0].WorkloadSize = computev1.WorkloadLarge }),
			"spec.servedEntities[0].workloadSize", "Unsupported value"),
		Entry("endpoint with an unknown workload type",
			mep(func(e *computev1.ModelEndpoint) { e.Spec.ServedEntities[0].WorkloadType = "TPU" }),
			mep(func(e *computev1.ModelEndpoint) { e.Spec.ServedEntities[0].WorkloadType = computev1.WorkloadGPUSmall }),
			"spec.servedEntities[0].workloadType", "Unsupported value"),
		Entry("endpoint with a served-entity name that is not a DNS label",
			mep(func(e *computev1.ModelEndpoint) {
				e.Spec.ServedEntities[0].Name = "Champion_1"
				e.Spec.Traffic.Routes[0].ServedEntity = "Champion_1"
			}),
			mep(nil),
			"spec.servedEntities[0].name"),
		Entry("endpoint with a zero rate limit",
			mep(func(e *computev1.ModelEndpoint) {
				e.Spec.RateLimits = []computev1.RateLimit{{Key: computev1.RateLimitUser, Calls: 0}}
			}),
			mep(func(e *computev1.ModelEndpoint) {
				e.Spec.RateLimits = []computev1.RateLimit{{Key: computev1.RateLimitUser, Calls: 1}}
			}),
			"spec.rateLimits[0].calls"),

		Entry("NCC without region",
			nccObj(func(n *computev1.NetworkConnectivityConfig) { n.Spec.Region = "" }), nccObj(nil),
			"spec.region"),
		Entry("private endpoint rule with no address",
			nccObj(func(n *computev1.NetworkConnectivityConfig) { n.Spec.PrivateEndpointRules[0].Addresses = nil }),
			nccObj(nil),
			"spec.privateEndpointRules[0].addresses"),
		Entry("private endpoint rule with an invalid CIDR",
			nccObj(func(n *computev1.NetworkConnectivityConfig) {
				n.Spec.PrivateEndpointRules[0].Addresses = []computev1.IPOrCIDR{"10.0.0.0/33"}
			}),
			nccObj(func(n *computev1.NetworkConnectivityConfig) {
				n.Spec.PrivateEndpointRules[0].Addresses = []computev1.IPOrCIDR{"10.0.0.0/32"}
			}),
			"spec.privateEndpointRules[0].addresses[0]", "must be an IP address or a CIDR"),
		Entry("private endpoint rule at the metadata address",
			nccObj(func(n *computev1.NetworkConnectivityConfig) {
				n.Spec.PrivateEndpointRules[0].Addresses = []computev1.IPOrCIDR{"169.254.169.254"}
			}),
			nccObj(nil),
			"spec.privateEndpointRules[0].addresses[0]", "link-local"),
		Entry("allowed destination listed twice",
			nccObj(func(n *computev1.NetworkConnectivityConfig) {
				n.Spec.AllowedDestinations = []computev1.AllowedDestination{{CIDR: "203.0.113.0/24"}, {CIDR: "203.0.113.0/24"}}
			}),
			nccObj(func(n *computev1.NetworkConnectivityConfig) {
				n.Spec.AllowedDestinations = []computev1.AllowedDestination{{CIDR: "203.0.113.0/24"}, {CIDR: "198.51.100.0/24"}}
			}),
			"spec.allowedDestinations[1]", "Duplicate value"),
		Entry("unknown stable IP mode",
			nccObj(func(n *computev1.NetworkConnectivityConfig) { n.Spec.StableIPs = "Both" }),
			nccObj(func(n *computev1.NetworkConnectivityConfig) { n.Spec.StableIPs = computev1.StableIPsLegacy }),
			"spec.stableIPs", "Unsupported value"),
		Entry("private endpoint rule at loopback",
			nccObj(func(n *computev1.NetworkConnectivityConfig) {
				n.Spec.PrivateEndpointRules[0].Addresses = []computev1.IPOrCIDR{"127.0.0.1"}
			}),
			nccObj(nil),
			"spec.privateEndpointRules[0].addresses[0]", "loopback"),
		Entry("private endpoint rule for every address",
			nccObj(func(n *computev1.NetworkConnectivityConfig) {
				n.Spec.PrivateEndpointRules[0].Addresses = []computev1.IPOrCIDR{"0.0.0.0/0"}
			}),
			nccObj(nil),
			"spec.privateEndpointRules[0].addresses[0]", "unspecified"),
		Entry("private endpoint rule at ::",
			nccObj(func(n *computev1.NetworkConnectivityConfig) {
				n.Spec.PrivateEndpointRules[0].Addresses = []computev1.IPOrCIDR{"::"}
			}),
			nccObj(nil),
			"spec.privateEndpointRules[0].addresses[0]", "unspecified"),
		Entry("private endpoint rule with a port out of range",
			nccObj(func(n *computev1.NetworkConnectivityConfig) { n.Spec.PrivateEndpointRules[0].Ports[0].Port = 65536 }),
			nccObj(func(n *computev1.NetworkConnectivityConfig) { n.Spec.PrivateEndpointRules[0].Ports[0].Port = 65535 }),
			"spec.privateEndpointRules[0].ports[0].port", "65535"),
		Entry("private endpoint rule with port 0",
			nccObj(func(n *computev1.NetworkConnectivityConfig) { n.Spec.PrivateEndpointRules[0].Ports[0].Port = 0 }),
			nccObj(func(n *computev1.NetworkConnectivityConfig) { n.Spec.PrivateEndpointRules[0].Ports[0].Port = 1 }),
			"spec.privateEndpointRules[0].ports[0].port"),
		Entry("private endpoint rule without ports",
			nccObj(func(n *computev1.NetworkConnectivityConfig) { n.Spec.PrivateEndpointRules[0].Ports = nil }),
			nccObj(nil),
			"spec.privateEndpointRules[0].ports"),
		Entry("private endpoint rule with an unknown protocol",
			nccObj(func(n *computev1.NetworkConnectivityConfig) {
				n.Spec.PrivateEndpointRules[0].Ports[0].Protocol = "SCTP"
			}),
			nccObj(func(n *computev1.NetworkConnectivityConfig) { n.Spec.PrivateEndpointRules[0].Ports[0].Protocol = "UDP" }),
			"spec.privateEndpointRules[0].ports[0].protocol"),
		Entry("duplicate private endpoint rule names",
			nccObj(func(n *computev1.NetworkConnectivityConfig) {
				n.Spec.PrivateEndpointRules = append(n.Spec.PrivateEndpointRules, n.Spec.PrivateEndpointRules[0])
			}),
			nccObj(nil),
			"spec.privateEndpointRules[1]", "Duplicate value"),
		Entry("allowed destination that is not a CIDR",
			nccObj(func(n *computev1.NetworkConnectivityConfig) { n.Spec.AllowedDestinations[0].CIDR = "example.com" }),
			nccObj(nil),
			"spec.allowedDestinations[0].cidr", "must be a CIDR"),
		Entry("allowed destination port out of range",
			nccObj(func(n *computev1.NetworkConnectivityConfig) { n.Spec.AllowedDestinations[0].Ports[0].Port = 70000 }),
			nccObj(nil),
			"spec.allowedDestinations[0].ports[0].port"),
	)

	DescribeTable("rejects reserved and invalid workspace names",
		func(ctx SpecContext, name string) {
			err := k8s.Create(ctx, b.Workspace(name).Obj())
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want Invalid, got %v", err)
			Expect(err.Error()).To(ContainSubstring("metadata.name"))
			Expect(k8s.Create(ctx, b.Workspace(framework.Name("ok")).Obj())).To(Succeed())
		},
		Entry("default", "default"),
		Entry("kube-system", "kube-system"),
		Entry("any kube- prefix", "kube-anything"),
		Entry("the operator namespace", "serverlessplane-system"),
		Entry("a name that is not a DNS label", "team.analytics"),
	)

	It("keeps region immutable on workspaces and NCCs", func(ctx SpecContext) {
		w := b.Workspace(framework.Name("imm")).Obj()
		Expect(k8s.Create(ctx, w)).To(Succeed())
		err := update(w, func(w *computev1.Workspace) { w.Spec.Region = "us-west-2" })
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want Invalid, got %v", err)
		Expect(err.Error()).To(And(ContainSubstring("spec.region"), ContainSubstring("region is immutable")))

		n := b.NCC(framework.Name("imm")).Obj()
		Expect(k8s.Create(ctx, n)).To(Succeed())
		err = update(n, func(n *computev1.NetworkConnectivityConfig) { n.Spec.Region = "us-west-2" })
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want Invalid, got %v", err)
		Expect(err.Error()).To(And(ContainSubstring("spec.region"), ContainSubstring("region is immutable")))

		// Everything else stays mutable.
		Expect(update(w, func(w *computev1.Workspace) { w.Spec.Metastore.Type = computev1.MetastoreGlue })).To(Succeed())
	})

	It("fills in defaults on create", func(ctx SpecContext) {
		w := b.Workspace(framework.Name("dflt")).Obj()
		Expect(k8s.Create(ctx, w)).To(Succeed())
		Expect(w.Spec.Metastore.Type).To(Equal(computev1.MetastoreUnityCatalog))

		h := &computev1.ServerlessWarehouse{ObjectMeta: metav1.ObjectMeta{Namespace: apiNamespace, Name: framework.Name("dflt")}}
		Expect(k8s.Create(ctx, h)).To(Succeed())
		Expect(h.Spec).To(Equal(computev1.ServerlessWarehouseSpec{
			ClusterSize: computev1.ClusterSizeSmall, MinClusters: 1, MaxClusters: 1, AutoStopMinutes: ptr.To[int32](10),
			Channel: computev1.ChannelCurrent, SpotInstancePolicy: computev1.SpotCostOptimized,
		}))

		e := b.Endpoint(apiNamespace, framework.Name("dflt")).Entity("only", "main.default.churn", "1").
			RateLimit(computev1.RateLimitEndpoint, 100).Obj()
		e.Spec.RateLimits[0].Period = ""
		Expect(k8s.Create(ctx, e)).To(Succeed())
		Expect(e.Spec.ServedEntities[0]).To(Equal(computev1.ServedEntity{
			Name: "only", Model: computev1.ModelRef{Name: "main.default.churn", Version: "1"},
			WorkloadSize: computev1.WorkloadSmall, WorkloadType: computev1.WorkloadCPU, ScaleToZero: computev1.ScaleToZeroDisabled,
		}))
		Expect(e.Spec.Traffic).To(BeNil(), "a single entity needs no traffic block")
		Expect(e.Spec.RateLimits[0].Period).To(Equal(computev1.RateLimitMinute))

		n := b.NCC(framework.Name("dflt")).Rule("db", computev1.ResourceRDS, []string{"10.1.2.3"}, 5432).Obj()
		n.Spec.PrivateEndpointRules[0].Ports[0].Protocol = ""
		Expect(k8s.Create(ctx, n)).To(Succeed())
		Expect(n.Spec.PrivateEndpointRules[0].Ports[0].Protocol).To(Equal(computev1.ProtocolTCP))
	})
})

func ws(mutate func(*computev1.Workspace)) func(string) client.Object {
	return func(name string) client.Object {
		w := b.Workspace(name).Obj()
		if mutate != nil {
			mutate(w)
		}
		return w
	}
}

func swh(mutate func(*computev1.ServerlessWarehouse)) func(string) client.Object {
	return func(name string) client.Object {
		w := b.Warehouse(apiNamespace, name).Obj()
		if mutate != nil {
			mutate(w)
		}
		return w
	}
}

// mep starts from an endpoint with two entities split 70/30.
func mep(mutate func(*computev1.ModelEndpoint)) func(string) client.Object {
	return func(name string) client.Object {
		e := b.Endpoint(apiNamespace, name).
			Entity("champion", "main.default.churn", "3").Entity("challenger", "main.default.churn", "4").
			Route("champion", 70).Route("challenger", 30).Obj()
		if mutate != nil {
			mutate(e)
		}
		return e
	}
}

func nccObj(mutate func(*computev1.NetworkConnectivityConfig)) func(string) client.Object {
	return func(name string) client.Object {
		n := b.NCC(name).Rule("orders-db", computev1.ResourceRDS, []string{"10.20.0.15"}, 5432).
			Allow("203.0.113.0/24", 443).Obj()
		if mutate != nil {
			mutate(n)
		}
		return n
	}
}

func entities(n int) []computev1.ServedEntity {
	out := make([]computev1.ServedEntity, n)
	for i := range out {
		out[i] = computev1.ServedEntity{Name: "e" + strings.Repeat("x", i), Model: computev1.ModelRef{Name: "m", Version: "1"}}
	}
	return out
}

func routes(n int) *computev1.TrafficConfig {
	t := &computev1.TrafficConfig{}
	for i := range n {
		p := int32(100 / n)
		if i == 0 {
			p += int32(100 % n)
		}
		t.Routes = append(t.Routes, computev1.TrafficRoute{ServedEntity: "e" + strings.Repeat("x", i), Percent: p})
	}
	return t
}
