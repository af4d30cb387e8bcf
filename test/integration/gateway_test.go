package integration

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/internal/gateway"
	"github.com/serverlessplane/operator/internal/modelproxy"
	"github.com/serverlessplane/operator/internal/modelserver"
	"github.com/serverlessplane/operator/internal/tlsfiles"
	"github.com/serverlessplane/operator/pkg/certs"
	"github.com/serverlessplane/operator/pkg/naming"
	b "github.com/serverlessplane/operator/test/builders"
	"github.com/serverlessplane/operator/test/framework"
)

// The serving data plane end to end on loopback: the gateway's handler against the envtest API
// server (TokenReview, SubjectAccessReview with the project's RBAC role, ModelEndpoints the
// operator reconciles, EndpointSlices), forwarding over real mTLS to real model proxies in front
// of real model servers with the embedded iris model. Pods have TEST-NET addresses in their
// EndpointSlices (validation refuses loopback); the gateway's dialer maps them to 127.0.0.1
// listeners and refuses any other address.
var _ = Describe("Gateway", func() {
	It("authenticates with TokenReview and authorizes with the workspace-user role", func(ctx SpecContext) {
		h := startGateway(ctx, nil)
		ns := readyWorkspace(ctx, b.Workspace(framework.Name("gw-auth")).Obj())
		other := readyWorkspace(ctx, b.Workspace(framework.Name("gw-auth-other")).Obj())
		ep := b.Endpoint(ns, "iris").Entity("a", "main.default.iris", "1").Obj()
		Expect(k8s.Create(ctx, ep)).To(Succeed())
		pod := h.modelPod(ns, "iris", "a")
		h.readySlice(ctx, ns, "iris", "a", pod)
		user := workspaceUser(ctx, ns)
		stranger := workspaceUser(ctx, other)

		By("no token and a bad token: 401")
		expectAPIError(h.invoke("", ns, "iris", irisBody(0)), http.StatusUnauthorized, "UNAUTHENTICATED")
		expectAPIError(h.invoke("not-a-token", ns, "iris", irisBody(0)), http.StatusUnauthorized, "UNAUTHENTICATED")
		By("a user of another workspace: 403")
		expectAPIError(h.invoke(stranger, ns, "iris", irisBody(0)), http.StatusForbidden, "PERMISSION_DENIED")
		Expect(pod.hits.Load()).To(BeZero(), "refused requests never reach the model")

		By("a workspace user: the iris model's predictions")
		r := h.invoke(user, ns, "iris", irisBody(0, 1, 2))
		Expect(r.code).To(Equal(http.StatusOK), string(r.body))
		Expect(r.header.Get("served-model-name")).To(Equal("a"))
		expectPredictions(r, 0, 1, 2)
		Expect(pod.hits.Load()).To(BeEquivalentTo(1))
		By("the stranger may invoke its own workspace's endpoints, just not this one")
		Expect(k8s.Create(ctx, b.Endpoint(other, "iris").Entity("a", "main.default.iris", "1").Obj())).To(Succeed())
		h.readySlice(ctx, other, "iris", "a", h.modelPod(other, "iris", "a"))
		Expect(h.invoke(stranger, other, "iris", irisBody(0)).code).To(Equal(http.StatusOK))

		By("an unknown endpoint for a valid user: 404")
		expectAPIError(h.invoke(user, ns, "nope", irisBody(0)), http.StatusNotFound, "RESOURCE_DOES_NOT_EXIST")
	})

	It("splits traffic by the endpoint's weights", func(ctx SpecContext) {
		h := startGateway(ctx, nil)
		ns := readyWorkspace(ctx, b.Workspace(framework.Name("gw-split")).Obj())
		ep := b.Endpoint(ns, "iris").Entity("a", "main.default.iris", "1").Entity("b", "main.default.iris", "2").
			Route("a", 80).Route("b", 20).Obj()
		Expect(k8s.Create(ctx, ep)).To(Succeed())
		expectActiveTraffic(ep, map[string]int32{"a": 80, "b": 20})
		pods := map[string]*modelPod{"a": h.modelPod(ns, "iris", "a"), "b": h.modelPod(ns, "iris", "b")}
		for entity, pod := range pods {
			h.readySlice(ctx, ns, "iris", entity, pod)
		}
		user := workspaceUser(ctx, ns)

		const n, p = 2000, 0.8
		got := h.invokeMany(user, ns, "iris", n)
		Expect(got["a"]+got["b"]).To(Equal(n), "every request answered by a or b: %v", got)
		sigma := math.Sqrt(n * p * (1 - p))
		Expect(float64(got["a"])).To(BeNumerically("~", n*p, 4*sigma), "requests to a out of %d: %v", n, got)
		for entity, pod := range pods {
			Expect(pod.hits.Load()).To(BeEquivalentTo(got[entity]), "the model behind %s answered what its header says", entity)
		}
	})

	It("routes by the active traffic while a rollout has not finished", func(ctx SpecContext) {
		h := startGateway(ctx, nil)
		ns := readyWorkspace(ctx, b.Workspace(framework.Name("gw-rollout")).Obj())
		// b's rollout never finishes, so the operator keeps the active traffic on a.
		env.Deployments.Hold(func(d *appsv1.Deployment) bool {
			return d.Namespace == ns && d.Name == naming.ServedEntity("iris", "b")
		})
		DeferCleanup(func() { env.Deployments.Hold(nil) })
		ep := b.Endpoint(ns, "iris").Entity("a", "main.default.iris", "1").Entity("b", "main.default.iris", "2").
			Route("a", 100).Route("b", 0).Obj()
		Expect(k8s.Create(ctx, ep)).To(Succeed())
		expectActiveTraffic(ep, map[string]int32{"a": 100, "b": 0})
		pods := map[string]*modelPod{"a": h.modelPod(ns, "iris", "a"), "b": h.modelPod(ns, "iris", "b")}
		for entity, pod := range pods {
			h.readySlice(ctx, ns, "iris", entity, pod)
		}
		user := workspaceUser(ctx, ns)

		Expect(update(ep, func(e *computev1.ModelEndpoint) {
			e.Spec.Traffic.Routes = []computev1.TrafficRoute{{ServedEntity: "a", Percent: 0}, {ServedEntity: "b", Percent: 100}}
		})).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(ep), ep)).To(Succeed())
			g.Expect(ep.Status.ObservedGeneration).To(Equal(ep.Generation))
		}).Should(Succeed())
		Expect(routesOf(ep.Status.ActiveTraffic)).To(Equal(map[string]int32{"a": 100, "b": 0}), "the operator keeps serving a: %+v", ep.Status)

		got := h.invokeMany(user, ns, "iris", 200)
		Expect(got).To(Equal(map[string]int{"a": 200}))
		Expect(pods["b"].hits.Load()).To(BeZero())
		By("b's pod is reachable: it is the routing, not the pod, that keeps requests from it")
		r := h.invokePath(user, "/workspaces/"+ns+"/serving-endpoints/iris/served-models/b/invocations", irisBody(0))
		Expect(r.code).To(Equal(http.StatusOK), string(r.body))
		Expect(r.header.Get("served-model-name")).To(Equal("b"))
		Expect(pods["b"].hits.Load()).To(BeEquivalentTo(1))
	})

	It("refuses a model pod whose certificate is not the operator CA's for its Service", func(ctx SpecContext) {
		h := startGateway(ctx, nil)
		ns := readyWorkspace(ctx, b.Workspace(framework.Name("gw-tls")).Obj())
		ep := b.Endpoint(ns, "iris").Entity("good", "main.default.iris", "1").
			Entity("foreign", "main.default.iris", "1").Entity("misnamed", "main.default.iris", "1").
			Route("good", 100).Route("foreign", 0).Route("misnamed", 0).Obj()
		Expect(k8s.Create(ctx, ep)).To(Succeed())
		rogue, err := certs.NewCA("serverlessplane-ca", time.Now(), time.Hour)
		Expect(err).NotTo(HaveOccurred())
		pods := map[string]*modelPod{
			"good": h.modelPod(ns, "iris", "good"),
			// The right Service name, from a CA the gateway does not trust.
			"foreign": h.modelPod(ns, "iris", "foreign", func(o *podOptions) { o.ca = &rogue }),
			// The operator CA, for another Service's name.
			"misnamed": h.modelPod(ns, "iris", "misnamed", func(o *podOptions) { o.dnsName = serviceHost(ns, "iris", "good") }),
		}
		for entity, pod := range pods {
			h.readySlice(ctx, ns, "iris", entity, pod)
		}
		user := workspaceUser(ctx, ns)
		for _, entity := range []string{"foreign", "misnamed"} {
			r := h.invokePath(user, "/workspaces/"+ns+"/serving-endpoints/iris/served-models/"+entity+"/invocations", irisBody(0))
			expectAPIError(r, http.StatusBadGateway, "TEMPORARILY_UNAVAILABLE")
			Expect(pods[entity].hits.Load()).To(BeZero(), "the model behind %s is never reached", entity)
		}
		r := h.invokePath(user, "/workspaces/"+ns+"/serving-endpoints/iris/served-models/good/invocations", irisBody(0))
		Expect(r.code).To(Equal(http.StatusOK), string(r.body))
		Expect(pods["good"].hits.Load()).To(BeEquivalentTo(1))
	})

	It("model proxies take only the gateway's client certificate", func(ctx SpecContext) {
		h := startGateway(ctx, nil)
		ns := framework.Name("gw-proxy") // no API objects: the client talks to the pod directly
		pod := h.modelPod(ns, "iris", "a")
		rogue, err := certs.NewCA("serverlessplane-ca", time.Now(), time.Hour)
		Expect(err).NotTo(HaveOccurred())
		clientCert := func(ca certs.Pair, usage certs.Usage, cn string) []tls.Certificate {
			pair, err := certs.Issue(ca, usage, cn, nil, time.Now(), time.Hour)
			Expect(err).NotTo(HaveOccurred())
			c, err := tls.X509KeyPair(pair.Cert, pair.Key)
			Expect(err).NotTo(HaveOccurred())
			return []tls.Certificate{c}
		}
		call := func(certificates []tls.Certificate) error {
			roots := x509.NewCertPool()
			roots.AppendCertsFromPEM(h.pki.ca.Cert)
			c := &http.Client{Timeout: framework.Timeout, Transport: &http.Transport{TLSClientConfig: &tls.Config{
				RootCAs: roots, ServerName: serviceHost(ns, "iris", "a"), Certificates: certificates,
			}}}
			defer c.CloseIdleConnections()
			resp, err := c.Post("https://"+pod.proxyAddr+"/invocations", "application/json", bytes.NewReader(irisBody(0)))
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			_, _ = io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			return nil
		}
		gatewayCN := modelproxy.DefaultAllowedClientNames
		for name, certificates := range map[string][]tls.Certificate{
			"no certificate":                          nil,
			"another client of the CA":                clientCert(h.pki.ca, certs.Client, "someone-else"),
			"the gateway's name from another CA":      clientCert(rogue, certs.Client, gatewayCN),
			"the gateway's name without client usage": clientCert(h.pki.ca, certs.Serving, gatewayCN),
		} {
			err := call(certificates)
			Expect(err).To(MatchError(ContainSubstring("tls:")), "%s: refused at the handshake", name)
		}
		Expect(pod.hits.Load()).To(BeZero())
		Expect(call(clientCert(h.pki.ca, certs.Client, gatewayCN))).To(Succeed(), "the gateway's certificate is accepted")
		Expect(pod.hits.Load()).To(BeEquivalentTo(1))
	})

	It("enforces rate limits per endpoint and per user", func(ctx SpecContext) {
		h := startGateway(ctx, nil)
		ns := readyWorkspace(ctx, b.Workspace(framework.Name("gw-rate")).Obj())
		for name, key := range map[string]computev1.RateLimitKey{"per-ep": computev1.RateLimitEndpoint, "per-user": computev1.RateLimitUser} {
			Expect(k8s.Create(ctx, b.Endpoint(ns, name).Entity("a", "main.default.iris", "1").RateLimit(key, 5).Obj())).To(Succeed())
			h.readySlice(ctx, ns, name, "a", h.modelPod(ns, name, "a"))
		}
		alice, bob := workspaceUser(ctx, ns), workspaceUser(ctx, ns)
		expectLimited := func(token, endpoint string) time.Duration {
			r := h.invoke(token, ns, endpoint, irisBody(0))
			expectAPIError(r, http.StatusTooManyRequests, "REQUEST_LIMIT_EXCEEDED")
			retry, err := strconv.Atoi(r.header.Get("Retry-After"))
			Expect(err).NotTo(HaveOccurred(), "Retry-After %q", r.header.Get("Retry-After"))
			Expect(retry).To(BeNumerically(">=", 1))
			return time.Duration(retry) * time.Second
		}

		By("Endpoint: 5 calls a minute between every caller")
		for i := range 5 {
			token := alice
			if i%2 == 1 {
				token = bob
			}
			Expect(h.invoke(token, ns, "per-ep", irisBody(0)).code).To(Equal(http.StatusOK), "call %d", i+1)
		}
		retry := expectLimited(alice, "per-ep")
		expectLimited(bob, "per-ep")
		Expect(retry).To(BeNumerically("<=", time.Minute))
		By("a call's worth of refill after Retry-After")
		h.clock.Step(retry)
		Expect(h.invoke(bob, ns, "per-ep", irisBody(0)).code).To(Equal(http.StatusOK))
		expectLimited(alice, "per-ep")

		By("User: 5 calls a minute for each caller")
		for i := range 5 {
			Expect(h.invoke(alice, ns, "per-user", irisBody(0)).code).To(Equal(http.StatusOK), "alice's call %d", i+1)
		}
		expectLimited(alice, "per-user")
		for i := range 5 {
			Expect(h.invoke(bob, ns, "per-user", irisBody(0)).code).To(Equal(http.StatusOK), "bob's call %d", i+1)
		}
		expectLimited(bob, "per-user")
		Expect(h.counter(gateway.MetricRateLimited, "endpoint", "per-user")).To(BeEquivalentTo(2))
	})

	It("holds requests for an entity without a ready pod and releases them when one is ready", func(ctx SpecContext) {
		const capacity, timeout = 3, 5 * time.Minute
		h := startGateway(ctx, func(o *gateway.Options) { o.HoldCapacity, o.HoldTimeout = capacity, timeout })
		ns := readyWorkspace(ctx, b.Workspace(framework.Name("gw-hold")).Obj())
		ep := b.Endpoint(ns, "iris").Entity("a", "main.default.iris", "1").Obj()
		Expect(k8s.Create(ctx, ep)).To(Succeed())
		pod := h.modelPod(ns, "iris", "a")
		user := workspaceUser(ctx, ns)

		By("requests are held, one after another, and the operator is told which entity waits")
		var replies []chan reply
		for i := range capacity {
			replies = append(replies, h.invokeAsync(user, ns, "iris", irisBody(i)))
			Eventually(func() float64 { return h.gauge(gateway.MetricHeld, "endpoint", "iris", "entity", "a") }).Should(BeEquivalentTo(i + 1))
		}
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(ep), ep)).To(Succeed())
			names, _, ok := strings.Cut(ep.Annotations[computev1.AnnotationActivation], "@")
			g.Expect(ok).To(BeTrue(), "annotations: %v", ep.Annotations)
			g.Expect(names).To(Equal("a"))
		}).Should(Succeed())

		By("past the capacity: 503 at once")
		expectAPIError(h.invoke(user, ns, "iris", irisBody(9)), http.StatusServiceUnavailable, "TEMPORARILY_UNAVAILABLE")
		Expect(h.gauge(gateway.MetricHeld, "endpoint", "iris", "entity", "a")).To(BeEquivalentTo(capacity))
		for _, c := range replies {
			Expect(c).NotTo(Receive(), "held until a pod is ready")
		}
		Expect(pod.hits.Load()).To(BeZero())

		By("a ready pod releases every held request, each answered with its own predictions")
		h.readySlice(ctx, ns, "iris", "a", pod)
		h.gw.Wake()
		for i, c := range replies {
			var r reply
			Eventually(c).Should(Receive(&r), "held request %d", i)
			Expect(r.code).To(Equal(http.StatusOK), "held request %d: %s", i, r.body)
			expectPredictions(r, i)
		}
		Expect(pod.hits.Load()).To(BeEquivalentTo(capacity))
		Expect(h.gauge(gateway.MetricHeld, "endpoint", "iris", "entity", "a")).To(BeZero())

		By("a client that gives up while held leaves the queue at once")
		Expect(k8s.Create(ctx, b.Endpoint(ns, "cold").Entity("a", "main.default.iris", "1").Obj())).To(Succeed())
		giveUp, cancel := context.WithCancel(ctx)
		gone := make(chan error, 1)
		go func() {
			defer GinkgoRecover()
			req, err := http.NewRequestWithContext(giveUp, http.MethodPost, h.url+"/workspaces/"+ns+"/serving-endpoints/cold/invocations", bytes.NewReader(irisBody(0)))
			Expect(err).NotTo(HaveOccurred())
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+user)
			_, err = h.client.Do(req)
			gone <- err
		}()
		Eventually(func() float64 { return h.gauge(gateway.MetricHeld, "endpoint", "cold", "entity", "a") }).Should(BeEquivalentTo(1))
		cancel()
		Eventually(gone).Should(Receive(MatchError(context.Canceled)))
		Eventually(func() float64 { return h.gauge(gateway.MetricHeld, "endpoint", "cold", "entity", "a") }).Should(BeZero(),
			"the gateway notices the client left and frees its place")

		By("a request held past the hold timeout: 503")
		c := h.invokeAsync(user, ns, "cold", irisBody(0))
		Eventually(func() float64 { return h.gauge(gateway.MetricHeld, "endpoint", "cold", "entity", "a") }).Should(BeEquivalentTo(1))
		Expect(c).NotTo(Receive())
		var r reply
		// The fake clock moves only when stepped; stepping until the answer comes covers the
		// instant between the held gauge rising and the hold's timer starting.
		Eventually(func() bool {
			h.clock.Step(timeout / 4)
			select {
			case r = <-c:
				return true
			default:
				return false
			}
		}).Should(BeTrue())
		expectAPIError(r, http.StatusServiceUnavailable, "TEMPORARILY_UNAVAILABLE")
		Expect(h.gauge(gateway.MetricHeld, "endpoint", "cold", "entity", "a")).To(BeZero())
	})

	It("holds one workspace's requests within its share, so another workspace's are still held", func(ctx SpecContext) {
		// Each held request costs its body and 16 KiB: a share of 50 KiB holds 3.
		h := startGateway(ctx, func(o *gateway.Options) { o.HoldBytes, o.HoldBytesPerWorkspace = 200<<10, 50<<10 })
		greedy := readyWorkspace(ctx, b.Workspace(framework.Name("gw-greedy")).Obj())
		other := readyWorkspace(ctx, b.Workspace(framework.Name("gw-other")).Obj())
		var pods []*modelPod
		for _, ns := range []string{greedy, other} {
			Expect(k8s.Create(ctx, b.Endpoint(ns, "iris").Entity("a", "main.default.iris", "1").Obj())).To(Succeed())
			pods = append(pods, h.modelPod(ns, "iris", "a"))
		}
		greedyUser, otherUser := workspaceUser(ctx, greedy), workspaceUser(ctx, other)

		By("one workspace fills its share of the hold budget; its next request is refused")
		var replies []chan reply
		for i := range 3 {
			replies = append(replies, h.invokeAsync(greedyUser, greedy, "iris", irisBody(i)))
			Eventually(func() float64 { return h.gauge(gateway.MetricHeld, "workspace", greedy, "endpoint", "iris") }).Should(BeEquivalentTo(i + 1))
		}
		r := h.invoke(greedyUser, greedy, "iris", irisBody(9))
		expectAPIError(r, http.StatusServiceUnavailable, "TEMPORARILY_UNAVAILABLE")
		Expect(string(r.body)).To(ContainSubstring("share"))

		By("another workspace's request for its entity at zero is still held, and answered when its pod is ready")
		replies = append(replies, h.invokeAsync(otherUser, other, "iris", irisBody(4)))
		Eventually(func() float64 { return h.gauge(gateway.MetricHeld, "workspace", other, "endpoint", "iris") }).Should(BeEquivalentTo(1))
		h.readySlice(ctx, greedy, "iris", "a", pods[0])
		h.readySlice(ctx, other, "iris", "a", pods[1])
		h.gw.Wake()
		for i, c := range replies {
			var got reply
			Eventually(c).Should(Receive(&got), "held request %d", i)
			Expect(got.code).To(Equal(http.StatusOK), "held request %d: %s", i, got.body)
		}
	})

	It("releases held requests oldest first, at the pace the pod answers, and queues new ones behind them", func(ctx SpecContext) {
		h := startGateway(ctx, func(o *gateway.Options) { o.ReleasePerPod = 1 })
		ns := readyWorkspace(ctx, b.Workspace(framework.Name("gw-order")).Obj())
		Expect(k8s.Create(ctx, b.Endpoint(ns, "iris").Entity("a", "main.default.iris", "1").Obj())).To(Succeed())
		pod := h.modelPod(ns, "iris", "a", func(o *podOptions) { o.gated = true })
		user := workspaceUser(ctx, ns)
		heldNow := func() float64 { return h.gauge(gateway.MetricHeld, "endpoint", "iris", "entity", "a") }

		By("four requests are held, one after another, while the entity has no ready pod")
		const held = 4
		var replies []chan reply
		for i := range held {
			replies = append(replies, h.invokeAsync(user, ns, "iris", irisBody(i)))
			Eventually(heldNow).Should(BeEquivalentTo(i + 1))
		}

		By("a ready pod gets the oldest alone: one place per pod (the model proxy would take four)")
		h.readySlice(ctx, ns, "iris", "a", pod)
		h.gw.Wake()
		Eventually(func() int { return len(pod.arrived()) }).Should(Equal(1))
		Eventually(heldNow).Should(BeEquivalentTo(held - 1))

		By("a request that comes now, with a pod ready, waits behind the held ones")
		replies = append(replies, h.invokeAsync(user, ns, "iris", irisBody(held)))
		Eventually(heldNow).Should(BeEquivalentTo(held))

		By("each answer lets the next oldest go, until all five are answered in arrival order")
		for i := range held + 1 {
			Eventually(func() int { return len(pod.arrived()) }).Should(Equal(i + 1))
			Consistently(func() int { return len(pod.arrived()) }, 200*time.Millisecond).Should(Equal(i+1),
				"no second request reaches the pod while one is in it")
			pod.gate <- struct{}{}
			var r reply
			Eventually(replies[i]).Should(Receive(&r), "request %d", i)
			Expect(r.code).To(Equal(http.StatusOK), "request %d: %s", i, r.body)
			expectPredictions(r, i)
		}
		var want [][]byte
		for i := range held + 1 {
			want = append(want, irisBody(i))
		}
		Expect(pod.arrived()).To(Equal(want), "the pod saw the requests in the order they came")
		Expect(heldNow()).To(BeZero())

		By("with the backlog gone, requests go straight to the pod again")
		c := h.invokeAsync(user, ns, "iris", irisBody(7))
		Eventually(func() int { return len(pod.arrived()) }).Should(Equal(held + 2))
		Expect(heldNow()).To(BeZero())
		pod.gate <- struct{}{}
		var r reply
		Eventually(c).Should(Receive(&r))
		expectPredictions(r, 7)
	})
})

// gatewayHarness is a gateway serving plain HTTP on loopback, with a fake clock, whose pods are
// model proxies on loopback.
type gatewayHarness struct {
	gw      *gateway.Server
	url     string
	clock   *clocktesting.FakeClock
	metrics *gateway.Metrics
	pki     *servingPKI
	client  *http.Client

	mu    sync.Mutex
	pods  map[string]string // TEST-NET host:port -> loopback host:port
	count int
}

// startGateway starts a gateway against the suite's API server; edit adjusts its options.
func startGateway(ctx context.Context, edit func(*gateway.Options)) *gatewayHarness {
	ensureWorkspaceRoles(ctx)
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = 1000, 2000 // 2,000 requests read an endpoint and its slices each
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	Expect(err).NotTo(HaveOccurred())
	clientset, err := kubernetes.NewForConfig(cfg)
	Expect(err).NotTo(HaveOccurred())
	h := &gatewayHarness{clock: clocktesting.NewFakeClock(time.Now()), metrics: gateway.NewMetrics(), pki: newServingPKI(), pods: map[string]string{}}
	o := gateway.Options{
		Reader: c, Writer: c, Upstream: h.pki.gateway, Domain: "serving.test",
		Auth:         &gateway.Authorizer{Client: clientset, Clock: h.clock, TTL: 10 * time.Second},
		HoldCapacity: 1000, HoldTimeout: 5 * time.Minute, Clock: h.clock, Metrics: h.metrics,
		DialContext: h.dial, Log: GinkgoLogr,
	}
	if edit != nil {
		edit(&o)
	}
	h.gw = gateway.New(o)
	runCtx, cancel := context.WithCancel(context.Background())
	go h.gw.Run(runCtx)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	front := &http.Server{Handler: h.gw.Handler(), ReadHeaderTimeout: framework.Timeout}
	go func() { _ = front.Serve(ln) }()
	h.url = "http://" + ln.Addr().String()
	transport := &http.Transport{MaxIdleConnsPerHost: 16}
	h.client = &http.Client{Timeout: 2 * framework.Timeout, Transport: transport}
	DeferCleanup(func() {
		cancel()
		transport.CloseIdleConnections()
		// Close, not Shutdown: a failed spec may leave requests held, which must not hang it.
		_ = front.Close()
	})
	return h
}

// dial connects to the loopback listener of a test pod's address, and to nothing else.
func (h *gatewayHarness) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	h.mu.Lock()
	target, ok := h.pods[addr]
	h.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("no test pod at %s", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, target)
}

// modelPod is a model server behind a model proxy, as in a model pod.
type modelPod struct {
	// ip is the pod's address in its EndpointSlice; proxyAddr is where the proxy listens.
	ip, proxyAddr string
	// hits counts the scoring requests that reached the model server.
	hits atomic.Int64
	// gate, when set, holds each scoring request at the model server until it receives a
	// value.
	gate chan struct{}

	mu sync.Mutex
	// bodies are the scoring requests' bodies, in the order they reached the model server.
	bodies [][]byte
}

// arrived is the bodies of the scoring requests that reached the model server, in order.
func (p *modelPod) arrived() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.bodies)
}

type podOptions struct {
	// ca issues the proxy's serving certificate (the gateway's CA by default).
	ca *certs.Pair
	// dnsName is the certificate's name (the entity Service's by default).
	dnsName string
	// gated makes the model server answer a scoring request only when the pod's gate lets it.
	gated bool
}

// podPort is the port of the model pods' https port, as the operator's Services name it.
const podPort = 8443

// modelPod starts a model server with the sample model and a proxy in front of it, for an
// entity of the endpoint in ns.
func (h *gatewayHarness) modelPod(ns, endpoint, entity string, opts ...func(*podOptions)) *modelPod {
	o := podOptions{ca: &h.pki.ca, dnsName: serviceHost(ns, endpoint, entity)}
	for _, f := range opts {
		f(&o)
	}
	pod := &modelPod{}
	if o.gated {
		pod.gate = make(chan struct{})
	}
	log := slog.New(slog.NewTextHandler(GinkgoWriter, &slog.HandlerOptions{Level: slog.LevelWarn}))
	model := modelserver.NewHandler(modelserver.VersionInfo{ModelName: entity}, 16<<20, modelserver.NewMetrics(prometheus.NewRegistry()), log)
	model.SetModel(irisModel())
	routes := model.Routes()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/invocations" {
			pod.hits.Add(1)
			body, err := io.ReadAll(r.Body)
			if err != nil {
				return
			}
			pod.mu.Lock()
			pod.bodies = append(pod.bodies, body)
			pod.mu.Unlock()
			r.Body = io.NopCloser(bytes.NewReader(body))
			if pod.gate != nil {
				select {
				case <-pod.gate:
				case <-r.Context().Done():
					return
				}
			}
		}
		routes.ServeHTTP(w, r)
	}))
	DeferCleanup(upstream.Close)

	serving, err := certs.Issue(*o.ca, certs.Serving, o.dnsName, []string{o.dnsName}, time.Now(), time.Hour)
	Expect(err).NotTo(HaveOccurred())
	files := h.pki.write(serving)
	u, err := url.Parse(upstream.URL)
	Expect(err).NotTo(HaveOccurred())
	proxy, err := modelproxy.New(modelproxy.Config{
		Port: modelproxy.DefaultPort, MetricsPort: modelproxy.DefaultMetricsPort, Upstream: u,
		TLSCertFile: files.cert, TLSKeyFile: files.key, TLSClientCAFile: files.ca,
		AllowedClientNames:   []string{modelproxy.DefaultAllowedClientNames},
		ContainerConcurrency: modelproxy.DefaultContainerConcurrency, QueueDepth: 100,
		DrainTimeout: framework.Timeout, RequestTimeout: time.Minute, MaxRequestBytes: modelproxy.DefaultMaxRequestBytes,
		CertReloadInterval: modelproxy.DefaultCertReloadInterval, Logger: log,
	})
	Expect(err).NotTo(HaveOccurred())
	scoring, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	admin, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	served := make(chan error, 1)
	go func() { served <- proxy.Serve(scoring, admin) }()
	DeferCleanup(func() {
		Expect(proxy.Drain(context.Background())).To(Succeed())
		Expect(<-served).To(Succeed())
	})

	h.mu.Lock()
	defer h.mu.Unlock()
	h.count++
	Expect(h.count).To(BeNumerically("<", 255), "TEST-NET-1 holds 254 pods")
	pod.ip, pod.proxyAddr = fmt.Sprintf("192.0.2.%d", h.count), scoring.Addr().String()
	h.pods[net.JoinHostPort(pod.ip, strconv.Itoa(podPort))] = pod.proxyAddr
	return pod
}

// readySlice writes the EndpointSlice kube-controller-manager would for the entity's Service
// with the pods ready.
func (h *gatewayHarness) readySlice(ctx context.Context, ns, endpoint, entity string, pods ...*modelPod) {
	service := naming.ServedEntity(endpoint, entity)
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: service + "-", Labels: map[string]string{
			discoveryv1.LabelServiceName: service, discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io",
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To[int32](podPort), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	for _, p := range pods {
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{Addresses: []string{p.ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}})
	}
	ExpectWithOffset(1, k8s.Create(ctx, slice)).To(Succeed())
}

// reply is a gateway response, read whole.
type reply struct {
	code   int
	header http.Header
	body   []byte
}

func (h *gatewayHarness) invoke(token, ns, endpoint string, body []byte) reply {
	return h.invokePath(token, "/workspaces/"+ns+"/serving-endpoints/"+endpoint+"/invocations", body)
}

func (h *gatewayHarness) invokePath(token, path string, body []byte) reply {
	req, err := http.NewRequest(http.MethodPost, h.url+path, bytes.NewReader(body))
	Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := h.client.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	return reply{code: resp.StatusCode, header: resp.Header, body: data}
}

// invokeAsync sends a request and delivers its reply on the channel.
func (h *gatewayHarness) invokeAsync(token, ns, endpoint string, body []byte) chan reply {
	c := make(chan reply, 1)
	go func() {
		defer GinkgoRecover()
		c <- h.invoke(token, ns, endpoint, body)
	}()
	return c
}

// invokeMany sends n requests, a few at a time, and counts the 200s by served-model-name.
func (h *gatewayHarness) invokeMany(token, ns, endpoint string, n int) map[string]int {
	const workers = 8
	var (
		mu     sync.Mutex
		wg     sync.WaitGroup
		counts = map[string]int{}
		next   atomic.Int64
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer GinkgoRecover()
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				r := h.invoke(token, ns, endpoint, irisBody(0))
				Expect(r.code).To(Equal(http.StatusOK), string(r.body))
				mu.Lock()
				counts[r.header.Get("served-model-name")]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return counts
}

// gauge and counter read one of the gateway's metrics, summed over the series with the labels.
func (h *gatewayHarness) gauge(name string, labels ...string) float64 { return h.metric(name, labels) }

func (h *gatewayHarness) counter(name string, labels ...string) float64 {
	return h.metric(name, labels)
}

func (h *gatewayHarness) metric(name string, labels []string) float64 {
	families, err := h.metrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue series
				}
			}
			sum += m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return sum
}

// servingPKI is a CA standing for the operator's, the gateway's client certificate from it,
// and a directory for the PEM files.
type servingPKI struct {
	ca      certs.Pair
	dir     string
	n       atomic.Int64
	gateway *tlsfiles.Files
}

func newServingPKI() *servingPKI {
	dir, err := os.MkdirTemp("", "gateway-pki-")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(os.RemoveAll, dir)
	ca, err := certs.NewCA("serverlessplane-ca", time.Now(), time.Hour)
	Expect(err).NotTo(HaveOccurred())
	p := &servingPKI{ca: ca, dir: dir}
	client, err := certs.Issue(ca, certs.Client, modelproxy.DefaultAllowedClientNames, nil, time.Now(), time.Hour)
	Expect(err).NotTo(HaveOccurred())
	f := p.write(client)
	p.gateway, err = tlsfiles.Load(f.cert, f.key, f.ca, 0, nil)
	Expect(err).NotTo(HaveOccurred())
	return p
}

// pemFiles are the paths of a certificate, its key and the CA.
type pemFiles struct{ cert, key, ca string }

// write stores a certificate, its key and the CA in files of their own.
func (p *servingPKI) write(pair certs.Pair) pemFiles {
	base := filepath.Join(p.dir, strconv.FormatInt(p.n.Add(1), 10))
	f := pemFiles{cert: base + ".crt", key: base + ".key", ca: base + "-ca.crt"}
	Expect(os.WriteFile(f.cert, pair.Cert, 0o600)).To(Succeed())
	Expect(os.WriteFile(f.key, pair.Key, 0o600)).To(Succeed())
	Expect(os.WriteFile(f.ca, p.ca.Cert, 0o600)).To(Succeed())
	return f
}

// serviceHost is the DNS name the gateway verifies an entity's pods for.
func serviceHost(ns, endpoint, entity string) string {
	return naming.ServedEntity(endpoint, entity) + "." + ns + ".svc"
}

// ensureWorkspaceRoles installs the project's workspace roles, as config/rbac does.
func ensureWorkspaceRoles(ctx context.Context) {
	root, err := framework.RepoRoot()
	Expect(err).NotTo(HaveOccurred())
	data, err := os.ReadFile(filepath.Join(root, "config", "rbac", "workspace_roles.yaml"))
	Expect(err).NotTo(HaveOccurred())
	for _, doc := range strings.Split(string(data), "\n---\n") {
		role := &rbacv1.ClusterRole{}
		Expect(yaml.UnmarshalStrict([]byte(doc), role)).To(Succeed())
		if role.Name == "" {
			continue
		}
		if err := k8s.Create(ctx, role); !apierrors.IsAlreadyExists(err) {
			Expect(err).NotTo(HaveOccurred())
		}
	}
}

// workspaceUser creates a ServiceAccount bound to the workspace-user role in the workspace ns
// and returns a token for it from the TokenRequest API.
func workspaceUser(ctx context.Context, ns string) string {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: framework.Name("caller")}}
	Expect(k8s.Create(ctx, sa)).To(Succeed())
	Expect(k8s.Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sa.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "serverlessplane-workspace-user"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa.Name, Namespace: ns}},
	})).To(Succeed())
	clientset, err := kubernetes.NewForConfig(env.Config)
	Expect(err).NotTo(HaveOccurred())
	tr, err := clientset.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa.Name, &authnv1.TokenRequest{
		Spec: authnv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	return tr.Status.Token
}

// expectActiveTraffic waits until the operator serves the routes.
func expectActiveTraffic(ep *computev1.ModelEndpoint, want map[string]int32) {
	EventuallyWithOffset(1, func(g Gomega) {
		g.Expect(k8s.Get(bg(), client.ObjectKeyFromObject(ep), ep)).To(Succeed())
		g.Expect(routesOf(ep.Status.ActiveTraffic)).To(Equal(want), "status: %+v", ep.Status)
		g.Expect(meta.FindStatusCondition(ep.Status.Conditions, computev1.ConditionReady)).NotTo(BeNil())
	}).Should(Succeed())
}

func routesOf(t *computev1.TrafficConfig) map[string]int32 {
	if t == nil {
		return nil
	}
	out := map[string]int32{}
	for _, r := range t.Routes {
		out[r.ServedEntity] = r.Percent
	}
	return out
}

func expectAPIError(r reply, status int, code string) {
	ExpectWithOffset(1, r.code).To(Equal(status), string(r.body))
	var body struct {
		ErrorCode string `json:"error_code"`
		Message   string `json:"message"`
	}
	ExpectWithOffset(1, json.Unmarshal(r.body, &body)).To(Succeed(), string(r.body))
	ExpectWithOffset(1, body.ErrorCode).To(Equal(code), body.Message)
	ExpectWithOffset(1, body.Message).NotTo(BeEmpty())
}

// irisGolden is the sample model's golden file: rows and the probabilities XGBoost predicted.
var irisGolden = sync.OnceValue(func() (g struct {
	Features    []string    `json:"features"`
	Rows        [][]float64 `json:"rows"`
	Predictions [][]float64 `json:"predictions"`
}) {
	root, err := framework.RepoRoot()
	Expect(err).NotTo(HaveOccurred())
	data, err := os.ReadFile(filepath.Join(root, "internal", "modelserver", "sample", "iris.golden.json"))
	Expect(err).NotTo(HaveOccurred())
	Expect(json.Unmarshal(data, &g)).To(Succeed())
	return g
})

var irisModel = sync.OnceValue(func() *modelserver.Model {
	m, err := modelserver.LoadSample()
	Expect(err).NotTo(HaveOccurred())
	return m
})

// irisBody is an MLflow dataframe_split of the golden rows.
func irisBody(rows ...int) []byte {
	g := irisGolden()
	var data [][]float64
	for _, i := range rows {
		data = append(data, g.Rows[i])
	}
	body, err := json.Marshal(map[string]any{"dataframe_split": map[string]any{"columns": g.Features, "data": data}})
	Expect(err).NotTo(HaveOccurred())
	return body
}

// expectPredictions checks a response against the golden predictions of the rows.
func expectPredictions(r reply, rows ...int) {
	var got struct {
		Predictions [][]float64 `json:"predictions"`
	}
	ExpectWithOffset(1, json.Unmarshal(r.body, &got)).To(Succeed(), string(r.body))
	ExpectWithOffset(1, got.Predictions).To(HaveLen(len(rows)), string(r.body))
	g := irisGolden()
	for i, row := range rows {
		ExpectWithOffset(1, got.Predictions[i]).To(HaveLen(len(g.Predictions[row])))
		for k, p := range g.Predictions[row] {
			ExpectWithOffset(1, got.Predictions[i][k]).To(BeNumerically("~", p, 1e-5), "row %d class %d", row, k)
		}
	}
}
