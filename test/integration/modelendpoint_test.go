package integration

import (
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/controllers/modelendpoint"
	"github.com/serverlessplane/operator/internal/telemetry"
	"github.com/serverlessplane/operator/pkg/certs"
	"github.com/serverlessplane/operator/pkg/conditions"
	"github.com/serverlessplane/operator/pkg/naming"
	b "github.com/serverlessplane/operator/test/builders"
	"github.com/serverlessplane/operator/test/framework"
)

// weights reads an endpoint's HTTPRoute weights by served entity.
func weights(g Gomega, ep *computev1.ModelEndpoint) map[string]int32 {
	route := &gatewayv1.HTTPRoute{}
	g.Expect(k8s.Get(bg(), client.ObjectKeyFromObject(ep), route)).To(Succeed())
	g.Expect(route.Spec.Rules).To(HaveLen(1))
	out := map[string]int32{}
	for _, ref := range route.Spec.Rules[0].BackendRefs {
		out[string(ref.Name)] = *ref.Weight
	}
	return out
}

// expectEndpoint waits until the endpoint's summary state is as given.
func expectEndpoint(ep *computev1.ModelEndpoint, ready computev1.EndpointReadiness, update computev1.ConfigUpdateState) {
	EventuallyWithOffset(1, func(g Gomega) {
		g.Expect(k8s.Get(bg(), client.ObjectKeyFromObject(ep), ep)).To(Succeed())
		g.Expect(ep.Status.State).To(Equal(computev1.EndpointState{Ready: ready, ConfigUpdate: update}), "status: %+v", ep.Status)
	}).Should(Succeed())
}

func deploymentOf(g Gomega, ep *computev1.ModelEndpoint, entity string) *appsv1.Deployment {
	d := &appsv1.Deployment{}
	g.Expect(k8s.Get(bg(), client.ObjectKey{Namespace: ep.Namespace, Name: naming.ServedEntity(ep.Name, entity)}, d)).To(Succeed())
	return d
}

// tickOf waits for one pass of ep that reads no change, such as its autoscaling tick: it marks
// the observed-load series of entity, which only a pass of ep sets back.
func tickOf(ep *computev1.ModelEndpoint, entity string) {
	awaitPass("ModelEndpoint", ep.Namespace, ep.Name, entity)
}

// awaitPass waits for a pass of the object that reads its load: it marks the object's
// observed-load series, which only such a pass sets back.
func awaitPass(kind, namespace, name, entity string) {
	gauge := telemetry.ObservedLoad.WithLabelValues(kind, namespace, name, entity)
	gauge.Set(-1)
	EventuallyWithOffset(2, func() float64 {
		m := &dto.Metric{}
		Expect(gauge.Write(m)).To(Succeed())
		return m.GetGauge().GetValue()
	}).ShouldNot(BeNumerically("==", -1), "a pass of %s %s", kind, name)
}

var _ = Describe("ModelEndpoint", func() {
	It("stalls on a workload type the operator does not offer, changing nothing", func(ctx SpecContext) {
		ns := readyWorkspace(ctx, b.Workspace(framework.Name("unoffered")).Obj())
		ep := b.Endpoint(ns, "multi").Entity("big", "main.default.churn", "1").Type(computev1.WorkloadMultiGPUMedium).Obj()
		Expect(k8s.Create(ctx, ep)).To(Succeed())
		c := expectCondition(ep, computev1.ConditionStalled, metav1.ConditionTrue, modelendpoint.ReasonWorkloadNotConfigured)
		Expect(c.Message).To(And(ContainSubstring("spec.servedEntities[0].workloadType"), ContainSubstring("GPU_LARGE")))
		expectKStatus(ep, status.FailedStatus)
		Consistently(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: naming.ServedEntity("multi", "big")}, &appsv1.Deployment{}))
		}).Should(BeTrue())
	})

	It("writes status on a failed pass and recovers once the failure is gone", func(ctx SpecContext) {
		ns := readyWorkspace(ctx, b.Workspace(framework.Name("refused")).Obj())
		lift := denyByPolicy(ctx, ns, deployments, fmt.Sprintf("object.metadata.namespace != %q", ns), probeDeployment(ns))
		ep := b.Endpoint(ns, "churn").Entity("champion", "main.default.churn", "3").Obj()
		load.SetInFlight(ns, "churn", "champion", 1)
		Expect(k8s.Create(ctx, ep)).To(Succeed())
		expectFailedPass(ep, "denied request")

		lift()
		expectCondition(ep, computev1.ConditionReady, metav1.ConditionTrue, modelendpoint.ReasonReady)
		expectKStatus(ep, status.CurrentStatus)
	})

	It("runs a Deployment and a Service per served entity, sized by workload size and type", func(ctx SpecContext) {
		ns := readyWorkspace(ctx, b.Workspace(framework.Name("serve")).Obj())
		ep := b.Endpoint(ns, "churn").
			Entity("champion", "main.default.churn", "3").Size(computev1.WorkloadMedium).
			Entity("challenger", "main.default.churn", "4").Type(computev1.WorkloadGPUSmall).
			Route("champion", 80).Route("challenger", 20).
			RateLimit(computev1.RateLimitEndpoint, 600).Obj()
		for _, e := range ep.Spec.ServedEntities {
			load.SetInFlight(ns, "churn", e.Name, 1)
		}
		Expect(k8s.Create(ctx, ep)).To(Succeed())
		expectEndpoint(ep, computev1.EndpointReady, computev1.ConfigNotUpdating)
		expectCondition(ep, computev1.ConditionReady, metav1.ConditionTrue, modelendpoint.ReasonReady)
		expectKStatus(ep, status.CurrentStatus)
		Expect(ep.Status.URL).To(Equal("https://serving.serverlessplane.local/workspaces/" + ns + "/serving-endpoints/churn/invocations"))
		Expect(ep.Status.ServedEntities).To(HaveLen(2))

		champion := deploymentOf(Default, ep, "champion")
		expectControlledBy(champion, ep)
		Expect(champion.Spec.Replicas).To(HaveValue(BeEquivalentTo(2)), "Medium serves 8-16 at 4 per replica: at least 2")
		Expect(champion.Spec.Strategy.RollingUpdate.MaxUnavailable).To(HaveValue(Equal(intstr.FromInt32(0))))
		c := champion.Spec.Template.Spec.Containers[0]
		Expect(c.Env).To(ContainElements(corev1.EnvVar{Name: "MODEL_NAME", Value: "main.default.churn"}, corev1.EnvVar{Name: "MODEL_VERSION", Value: "3"}))
		Expect(champion.Spec.Template.Spec.Volumes).To(ContainElement(HaveField("Secret.SecretName", naming.ServingCertificate("churn"))))
		Expect(champion.Spec.Template.Spec.Volumes).To(ContainElement(HaveField("EmptyDir.SizeLimit", HaveValue(Equal(resource.MustParse("1Gi"))))), "/tmp is bounded")
		By("the model proxy serves the pod's TLS port and holds the key; the model container gets neither")
		Expect(c.Image).To(Equal("serverlessplane-model-server:dev"))
		Expect(c.Ports).To(BeEmpty())
		Expect(c.VolumeMounts).NotTo(ContainElement(HaveField("Name", "tls")))
		Expect(c.Env).To(ContainElement(corev1.EnvVar{Name: "PORT", Value: "8080"}))
		proxy := champion.Spec.Template.Spec.Containers[1]
		Expect(proxy.Name).To(Equal(modelendpoint.ProxyContainerName))
		Expect(proxy.Image).To(Equal("serverlessplane-model-proxy:dev"))
		Expect(proxy.Ports).To(ConsistOf(HaveField("ContainerPort", BeEquivalentTo(8443)), HaveField("ContainerPort", BeEquivalentTo(9090))))
		Expect(proxy.VolumeMounts).To(ContainElement(HaveField("Name", "tls")))
		Expect(proxy.Env).To(ContainElements(
			corev1.EnvVar{Name: "UPSTREAM", Value: "http://127.0.0.1:8080"},
			corev1.EnvVar{Name: "ALLOWED_CLIENT_NAMES", Value: modelendpoint.GatewayClientName},
			corev1.EnvVar{Name: "CONTAINER_CONCURRENCY", Value: "4"}))
		Expect(proxy.ReadinessProbe.HTTPGet.Path).To(Equal("/readyz"))

		challenger := deploymentOf(Default, ep, "challenger").Spec.Template.Spec
		Expect(challenger.Containers[0].Resources.Limits).To(HaveKeyWithValue(corev1.ResourceName("nvidia.com/gpu"), resourceQuantity("1")))
		Expect(challenger.NodeSelector).To(HaveKeyWithValue("serverlessplane.io/gpu", "t4"))
		Expect(challenger.Tolerations).To(ContainElement(HaveField("Key", "nvidia.com/gpu")))

		svc := &corev1.Service{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: naming.ServedEntity("churn", "champion")}, svc)).To(Succeed())
		Expect(svc.Spec.Ports).To(ConsistOf(HaveField("Port", BeEquivalentTo(443))))

		By("a pod of each template passes the namespace's restricted Pod Security admission")
		for _, e := range []string{"champion", "challenger"} {
			t := deploymentOf(Default, ep, e).Spec.Template
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "psa-" + e, Labels: t.Labels}, Spec: t.Spec}
			Expect(k8s.Create(ctx, pod, client.DryRunAll)).To(Succeed())
		}

		By("the HTTPRoute carries the split and the rate limits, and each Service gets a BackendTLSPolicy")
		Expect(weights(Default, ep)).To(Equal(map[string]int32{naming.ServedEntity("churn", "champion"): 80, naming.ServedEntity("churn", "challenger"): 20}))
		route := &gatewayv1.HTTPRoute{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(ep), route)).To(Succeed())
		Expect(route.Annotations).To(HaveKeyWithValue(modelendpoint.AnnotationRateLimits, "Endpoint=600/Minute"))
		Expect(route.Spec.ParentRefs[0].Name).To(BeEquivalentTo(env.OperatorConfig.ControlPlane.Gateway.Name))
		policy := &gatewayv1.BackendTLSPolicy{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: naming.ServedEntity("churn", "challenger")}, policy)).To(Succeed())
		Expect(policy.Spec.Validation.Hostname).To(BeEquivalentTo(naming.ServedEntity("churn", "challenger") + "." + ns + ".svc"))
		Expect(policy.Spec.Validation.CACertificateRefs[0].Name).To(BeEquivalentTo("churn-ca"))

		By("everything the endpoint made is owned by it, so deleting it removes them")
		for _, o := range []client.Object{
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: naming.ServingCertificate("churn")}},
			&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "churn-ca"}},
			&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: naming.ServedEntity("churn", "challenger")}},
			&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: naming.ServedEntity("churn", "challenger")}},
			&gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "churn"}},
			&gatewayv1.BackendTLSPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: naming.ServedEntity("churn", "champion")}},
		} {
			Expect(k8s.Get(ctx, client.ObjectKeyFromObject(o), o)).To(Succeed(), "%T %s", o, o.GetName())
			expectControlledBy(o, ep)
		}

		By("changing the routes changes the weights")
		Expect(update(ep, func(e *computev1.ModelEndpoint) {
			e.Spec.Traffic.Routes = []computev1.TrafficRoute{{ServedEntity: "champion", Percent: 40}, {ServedEntity: "challenger", Percent: 60}}
		})).To(Succeed())
		Eventually(func(g Gomega) map[string]int32 { return weights(g, ep) }).Should(Equal(map[string]int32{naming.ServedEntity("churn", "champion"): 40, naming.ServedEntity("churn", "challenger"): 60}))
		expectEndpoint(ep, computev1.EndpointReady, computev1.ConfigNotUpdating)
	})

	It("serves TLS with a certificate of the operator CA for its Services' names, renewed before expiry without restarting pods", func(ctx SpecContext) {
		ns := readyWorkspace(ctx, b.Workspace(framework.Name("tls")).Obj())
		ep := b.Endpoint(ns, "fraud").Entity("v1", "main.risk.fraud", "1").Obj()
		Expect(k8s.Create(ctx, ep)).To(Succeed())
		expectEndpoint(ep, computev1.EndpointReady, computev1.ConfigNotUpdating)

		caSecret := &corev1.Secret{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: env.OperatorConfig.OperatorNamespace, Name: naming.CASecret}, caSecret)).To(Succeed())
		caCert, err := certs.ParseCert(caSecret.Data[corev1.TLSCertKey])
		Expect(err).NotTo(HaveOccurred())
		roots := x509.NewCertPool()
		roots.AddCert(caCert)

		serving := &corev1.Secret{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: naming.ServingCertificate("fraud")}, serving)).To(Succeed())
		Expect(serving.Data).To(HaveKey(corev1.TLSPrivateKeyKey))
		Expect(serving.Data["ca.crt"]).To(Equal(caSecret.Data[corev1.TLSCertKey]))
		Expect(serving.Data).NotTo(HaveKey("ca.key"), "the CA key never leaves the operator namespace")
		leaf, err := certs.ParseCert(serving.Data[corev1.TLSCertKey])
		Expect(err).NotTo(HaveOccurred())
		for _, name := range []string{naming.ServedEntity("fraud", "v1"), naming.ServedEntity("fraud", "v1") + "." + ns, naming.ServedEntity("fraud", "v1") + "." + ns + ".svc", naming.ServedEntity("fraud", "v1") + "." + ns + ".svc.cluster.local"} {
			_, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, CurrentTime: env.Clock.Now()})
			Expect(err).NotTo(HaveOccurred(), name)
		}
		_, err = leaf.Verify(x509.VerifyOptions{DNSName: naming.ServedEntity("fraud", "v2") + "." + ns + ".svc", Roots: roots, CurrentTime: env.Clock.Now()})
		Expect(err).To(HaveOccurred())

		bundle := &corev1.ConfigMap{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: env.OperatorConfig.OperatorNamespace, Name: naming.CABundle}, bundle)).To(Succeed())
		Expect(bundle.Data["ca.crt"]).To(Equal(string(caSecret.Data[corev1.TLSCertKey])), "the CA bundle is published for the gateway")

		gateway := &corev1.Secret{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: env.OperatorConfig.OperatorNamespace, Name: naming.GatewayClientSecret}, gateway)).To(Succeed())
		client509, err := certs.ParseCert(gateway.Data[corev1.TLSCertKey])
		Expect(err).NotTo(HaveOccurred())
		_, err = client509.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: env.Clock.Now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		Expect(err).NotTo(HaveOccurred(), "the gateway's client certificate chains to the same CA")

		By("moving past the renewal point renews the certificate, and the pods are not rolled")
		generation := deploymentOf(Default, ep, "v1").Generation
		start := env.Clock.Now()
		DeferCleanup(func() { env.Clock.SetTime(start) })
		renewAt := leaf.NotAfter.Add(-env.OperatorConfig.Certificates.RenewBefore.Duration)
		env.Clock.SetTime(renewAt.Add(time.Minute))
		Expect(update(ep, func(e *computev1.ModelEndpoint) { e.Annotations = map[string]string{"example.com/poke": "1"} })).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(serving), serving)).To(Succeed())
			renewed, err := certs.ParseCert(serving.Data[corev1.TLSCertKey])
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(renewed.SerialNumber).NotTo(Equal(leaf.SerialNumber))
			g.Expect(renewed.NotAfter).To(BeTemporally(">", leaf.NotAfter))
			g.Expect(renewed.NotBefore).To(BeTemporally("<", leaf.NotAfter), "renewed before the old one expired")
		}).Should(Succeed())
		Expect(deploymentOf(Default, ep, "v1").Generation).To(Equal(generation), "the Secret volume updates in place")
	})

	It("keeps the previous config serving and routed when a rollout fails, and removes an entity only once unrouted", func(ctx SpecContext) {
		ns := readyWorkspace(ctx, b.Workspace(framework.Name("roll")).Obj())
		ep := b.Endpoint(ns, "recs").Entity("a", "main.ml.recs", "7").Obj()
		Expect(k8s.Create(ctx, ep)).To(Succeed())
		expectEndpoint(ep, computev1.EndpointReady, computev1.ConfigNotUpdating)
		Expect(weights(Default, ep)).To(Equal(map[string]int32{naming.ServedEntity("recs", "a"): 100}))

		By("a challenger whose pods never become ready fails its rollout")
		env.Deployments.Hold(func(d *appsv1.Deployment) bool {
			return d.Namespace == ns && d.Spec.Template.Spec.Containers[0].Image == "example.com/broken:1"
		})
		DeferCleanup(func() { env.Deployments.Hold(nil) })
		Expect(update(ep, func(e *computev1.ModelEndpoint) {
			e.Spec.ServedEntities = append(e.Spec.ServedEntities, computev1.ServedEntity{
				Name: "b", Model: computev1.ModelRef{Name: "main.ml.recs", Version: "8"}, Image: "example.com/broken:1",
				WorkloadSize: computev1.WorkloadSmall, WorkloadType: computev1.WorkloadCPU, ScaleToZero: computev1.ScaleToZeroDisabled,
			})
			e.Spec.Traffic = &computev1.TrafficConfig{Routes: []computev1.TrafficRoute{{ServedEntity: "a", Percent: 50}, {ServedEntity: "b", Percent: 50}}}
		})).To(Succeed())
		expectEndpoint(ep, computev1.EndpointReady, computev1.ConfigUpdateFailed)
		c := expectCondition(ep, computev1.ConditionStalled, metav1.ConditionTrue, modelendpoint.ReasonUpdateFailed)
		Expect(c.Message).To(And(ContainSubstring("b: rollout exceeded its progress deadline"), ContainSubstring("previous config keeps serving")))
		expectKStatus(ep, status.FailedStatus)
		Expect(ep.Status.ActiveTraffic.Routes).To(Equal([]computev1.TrafficRoute{{ServedEntity: "a", Percent: 100}}))
		Consistently(func(g Gomega) map[string]int32 { return weights(g, ep) }).Should(Equal(map[string]int32{naming.ServedEntity("recs", "a"): 100}))

		By("fixing the challenger rolls it out and routes the split")
		Expect(update(ep, func(e *computev1.ModelEndpoint) { e.Spec.ServedEntities[1].Image = "" })).To(Succeed())
		expectEndpoint(ep, computev1.EndpointReady, computev1.ConfigNotUpdating)
		expectKStatus(ep, status.CurrentStatus)
		Eventually(func(g Gomega) map[string]int32 { return weights(g, ep) }).Should(Equal(map[string]int32{naming.ServedEntity("recs", "a"): 50, naming.ServedEntity("recs", "b"): 50}))

		By("removing the first entity moves the traffic first, then deletes its objects")
		mark := env.Writes.Len()
		Expect(update(ep, func(e *computev1.ModelEndpoint) {
			e.Spec.ServedEntities = e.Spec.ServedEntities[1:]
			e.Spec.Traffic = nil
		})).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: naming.ServedEntity("recs", "a")}, &appsv1.Deployment{}))
		}).Should(BeTrue())
		Expect(weights(Default, ep)).To(Equal(map[string]int32{naming.ServedEntity("recs", "b"): 100}))
		var routeUpdated, deleted int
		for i, w := range env.Writes.Since(mark, func(w framework.Write) bool { return w.Namespace == ns }) {
			if w.Type == "HTTPRoute" && w.Verb == "apply" && routeUpdated == 0 {
				routeUpdated = i + 1
			}
			if w.Type == "Deployment" && w.Verb == "delete" && w.Name == naming.ServedEntity("recs", "a") {
				deleted = i + 1
			}
		}
		Expect(routeUpdated).To(BeNumerically(">", 0))
		Expect(deleted).To(BeNumerically(">", routeUpdated), "the route moved before the Deployment went")
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: naming.ServedEntity("recs", "a")}, &corev1.Service{}))
		}).Should(BeTrue())
	})

	It("scales an idle entity to zero and back to one on the first request", func(ctx SpecContext) {
		ns := readyWorkspace(ctx, b.Workspace(framework.Name("zero")).Obj())
		ep := b.Endpoint(ns, "nightly").Entity("only", "main.ml.nightly", "2").ScaleToZero().Obj()
		load.SetInFlight(ns, "nightly", "only", 0)
		Expect(k8s.Create(ctx, ep)).To(Succeed())
		expectEndpoint(ep, computev1.EndpointReady, computev1.ConfigNotUpdating)
		Expect(deploymentOf(Default, ep, "only").Spec.Replicas).To(HaveValue(BeEquivalentTo(1)))

		advance(31 * time.Second)
		Eventually(func(g Gomega) {
			g.Expect(deploymentOf(g, ep, "only").Spec.Replicas).To(HaveValue(BeEquivalentTo(0)))
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(ep), ep)).To(Succeed())
			g.Expect(ep.Status.ServedEntities[0].State).To(Equal(computev1.EntityScaledToZero))
		}).Should(Succeed())
		expectEndpoint(ep, computev1.EndpointReady, computev1.ConfigNotUpdating)

		load.SetInFlight(ns, "nightly", "only", 1)
		Eventually(func(g Gomega) {
			g.Expect(deploymentOf(g, ep, "only").Spec.Replicas).To(HaveValue(BeEquivalentTo(1)))
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(ep), ep)).To(Succeed())
			g.Expect(ep.Status.ServedEntities[0].State).To(Equal(computev1.EntityReady))
		}).Should(Succeed())
	})

	It("starts an entity at zero at once when the gateway holds requests for it, and only then", func(ctx SpecContext) {
		ns := readyWorkspace(ctx, b.Workspace(framework.Name("wake")).Obj())
		ep := b.Endpoint(ns, "nightly").Entity("a", "main.ml.nightly", "2").ScaleToZero().
			Entity("b", "main.ml.nightly", "3").ScaleToZero().Route("a", 50).Route("b", 50).Obj()
		load.SetInFlight(ns, "nightly", "a", 0)
		load.SetInFlight(ns, "nightly", "b", 0)
		Expect(k8s.Create(ctx, ep)).To(Succeed())
		expectEndpoint(ep, computev1.EndpointReady, computev1.ConfigNotUpdating)
		advance(31 * time.Second)
		Eventually(func(g Gomega) {
			g.Expect(deploymentOf(g, ep, "a").Spec.Replicas).To(HaveValue(BeEquivalentTo(0)))
			g.Expect(deploymentOf(g, ep, "b").Spec.Replicas).To(HaveValue(BeEquivalentTo(0)))
		}).Should(Succeed())

		By("an activation older than the idle grace starts nothing")
		stale := env.Clock.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano)
		Expect(update(ep, func(e *computev1.ModelEndpoint) {
			e.Annotations = map[string]string{computev1.AnnotationActivation: "a@" + stale}
		})).To(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(deploymentOf(g, ep, "a").Spec.Replicas).To(HaveValue(BeEquivalentTo(0)))
		}).Should(Succeed())

		By("the gateway names a: a starts with no load reported, b stays at zero")
		Expect(update(ep, func(e *computev1.ModelEndpoint) {
			e.Annotations = map[string]string{computev1.AnnotationActivation: "a@" + env.Clock.Now().UTC().Format(time.RFC3339Nano)}
		})).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(deploymentOf(g, ep, "a").Spec.Replicas).To(HaveValue(BeEquivalentTo(1)))
		}).Should(Succeed())
		Expect(deploymentOf(Default, ep, "b").Spec.Replicas).To(HaveValue(BeEquivalentTo(0)))
	})

	It("makes no write when an autoscaling tick finds nothing changed", func(ctx SpecContext) {
		ns := readyWorkspace(ctx, b.Workspace(framework.Name("still")).Obj())
		ep := b.Endpoint(ns, "churn").
			Entity("champion", "main.default.churn", "3").Size(computev1.WorkloadMedium).
			Entity("challenger", "main.default.churn", "4").ScaleToZero().
			Route("champion", 80).Route("challenger", 20).Obj()
		load.SetInFlight(ns, "churn", "champion", 6)
		load.SetInFlight(ns, "churn", "challenger", 1)
		Expect(k8s.Create(ctx, ep)).To(Succeed())
		expectEndpoint(ep, computev1.EndpointReady, computev1.ConfigNotUpdating)
		mine := func(w framework.Write) bool { return w.Namespace == ns }

		quiet(mine)
		mark := env.Writes.Len()
		for range 3 {
			tickOf(ep, "champion")
		}
		Expect(joinWrites(env.Writes.Since(mark, mine))).To(BeEmpty())
	})

	It("holds the replicas and says so when an entity's load cannot be read", func(ctx SpecContext) {
		ns := readyWorkspace(ctx, b.Workspace(framework.Name("blind")).Obj())
		ep := b.Endpoint(ns, "fraud").Entity("v1", "main.risk.fraud", "1").ScaleToZero().Obj()
		load.Fail(ns, "fraud", "v1", errors.New("no route to host"))
		DeferCleanup(func() { load.Fail(ns, "fraud", "v1", nil) })
		Expect(k8s.Create(ctx, ep)).To(Succeed())
		c := expectCondition(ep, conditions.ConditionMetricsAvailable, metav1.ConditionFalse, conditions.ReasonMetricsUnavailable)
		Expect(c.Message).To(And(ContainSubstring("v1: "), ContainSubstring("no route to host")))
		advance(10 * time.Minute)
		Consistently(func(g Gomega) {
			g.Expect(deploymentOf(g, ep, "v1").Spec.Replicas).To(HaveValue(BeEquivalentTo(1)), "never to zero on missing data")
		}, 10*syncPeriod).Should(Succeed())
		load.Fail(ns, "fraud", "v1", nil)
		expectCondition(ep, conditions.ConditionMetricsAvailable, metav1.ConditionTrue, conditions.ReasonMetricsAvailable)
	})
})
