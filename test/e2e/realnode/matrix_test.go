package realnode

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mattfenwick/cyclonus/pkg/matcher"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/pkg/netpolicy"
	b "github.com/serverlessplane/operator/test/builders"
	"github.com/serverlessplane/operator/test/framework"
	"github.com/serverlessplane/operator/test/localcluster"
	"github.com/serverlessplane/operator/test/netprobe"
)

// Roles of the probed pods.
const (
	roleWarehouse = "warehouse" // a worker of a warehouse cluster (the operator's pod)
	roleEntity    = "entity"    // a replica of a served entity (the operator's pod)
	roleTenant    = "tenant"    // any other pod of a workspace namespace
	roleGateway   = "gateway"   // the control-plane gateway
	roleControl   = "control"   // another control-plane pod
	roleDNS       = "dns"       // the cluster DNS
	roleOutsider  = "outsider"  // a pod of a namespace that is not a workspace
)

type port struct {
	proto corev1.Protocol
	num   int
	name  string // the container port's name, where it has one
	// app is how the probe knows the port answers, when not by its greeting: "tls" (the model
	// proxy's mTLS port) or "http" (the proxy's metrics and health).
	app string
}

// target is how the probe tries the port at ip.
func (p port) target(ip string) netprobe.Target {
	proto := strings.ToLower(string(p.proto))
	if p.app != "" {
		proto = p.app
	}
	return netprobe.Target{Proto: proto, Host: ip, Port: p.num}
}

// peer is a probed pod: where it is, what it is, and the ports it answers on.
type peer struct {
	name, namespace, pod, ip string
	labels                   map[string]string
	role                     string
	workspace                bool
	group                    string // the warehouse or entity whose pods reach each other
	ports                    []port
}

type fixture struct {
	t       *testing.T
	ctx     context.Context
	k8s     client.Client
	cs      kubernetes.Interface
	cluster *localcluster.Cluster
	binDir  string

	cfg             *configv1.OperatorConfig
	nsA, nsB, nsOut string
	peers           []*peer
}

// createWorkloads makes two workspaces, three warehouses and an endpoint with two entities, all
// running the probe image, and waits until their pods are Running and Ready on the real node.
func (f *fixture) createWorkloads() {
	t := f.t
	cfg, err := configv1.Load("")
	if err != nil {
		t.Fatal(err)
	}
	f.cfg = cfg
	ncc := b.NCC(framework.Name("real")).Rule("orders-db", computev1.ResourceRDS, []string{"10.50.0.5"}, 5432).Allow("203.0.113.0/24", 443).Obj()
	a := b.Workspace(framework.Name("real-a")).NCC(ncc.Name).Obj()
	bw := b.Workspace(framework.Name("real-b")).Obj()
	f.nsA, f.nsB = a.Name, bw.Name
	for _, o := range []client.Object{ncc, a, bw} {
		if err := f.k8s.Create(f.ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for _, ws := range []*computev1.Workspace{a, bw} {
		f.eventually("workspace "+ws.Name+" Ready", func() (bool, error) {
			got := &computev1.Workspace{}
			if err := f.k8s.Get(f.ctx, client.ObjectKeyFromObject(ws), got); err != nil {
				return false, nil
			}
			return conditionTrue(got.Status.Conditions, computev1.ConditionReady), nil
		})
	}
	for _, o := range []client.Object{
		b.Warehouse(f.nsA, "w1").Size(computev1.ClusterSizeXSmall).Image(ProbeImage).Obj(),
		b.Warehouse(f.nsA, "w2").Size(computev1.ClusterSize2XSmall).Image(ProbeImage).Obj(),
		b.Warehouse(f.nsB, "w3").Size(computev1.ClusterSize2XSmall).Image(ProbeImage).Obj(),
		b.Endpoint(f.nsA, "m1").Entity("e1", "churn", "1").Image(ProbeImage).Entity("e2", "churn", "2").Image(ProbeImage).
			Route("e1", 50).Route("e2", 50).Obj(),
	} {
		if err := f.k8s.Create(f.ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	f.waitPods(f.nsA, computev1.LabelWarehouse+"=w1", 2)
	f.waitPods(f.nsA, computev1.LabelWarehouse+"=w2", 1)
	f.waitPods(f.nsB, computev1.LabelWarehouse+"=w3", 1)
	f.waitPods(f.nsA, computev1.LabelEndpoint+"=m1,"+computev1.LabelServedEntity+"=e1", 1)
	f.waitPods(f.nsA, computev1.LabelEndpoint+"=m1,"+computev1.LabelServedEntity+"=e2", 1)
	f.eventually("warehouses Running and endpoint Ready", func() (bool, error) {
		for _, key := range []client.ObjectKey{{Namespace: f.nsA, Name: "w1"}, {Namespace: f.nsA, Name: "w2"}, {Namespace: f.nsB, Name: "w3"}} {
			wh := &computev1.ServerlessWarehouse{}
			if err := f.k8s.Get(f.ctx, key, wh); err != nil || wh.Status.State != computev1.WarehouseRunning ||
				!conditionTrue(wh.Status.Conditions, computev1.ConditionReady) {
				return false, nil
			}
		}
		ep := &computev1.ModelEndpoint{}
		if err := f.k8s.Get(f.ctx, client.ObjectKey{Namespace: f.nsA, Name: "m1"}, ep); err != nil {
			return false, nil
		}
		return conditionTrue(ep.Status.Conditions, computev1.ConditionReady), nil
	})
}

// waitPods waits for want Running and Ready pods matching selector, on the real node.
func (f *fixture) waitPods(ns, selector string, want int) []corev1.Pod {
	var ready []corev1.Pod
	f.eventually(fmt.Sprintf("%d pods %s in %s Running and Ready", want, selector, ns), func() (bool, error) {
		list, err := f.cs.CoreV1().Pods(ns).List(f.ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, nil
		}
		ready = ready[:0]
		for _, p := range list.Items {
			if p.Status.Phase == corev1.PodRunning && podReady(&p) && p.Spec.NodeName == localcluster.RealNodeName && p.DeletionTimestamp == nil {
				ready = append(ready, p)
			}
		}
		return len(ready) >= want, nil
	})
	return ready
}

// createProbes adds the pods that are not the operator's: a tenant pod in each workspace, a pod
// in workspace B that wears the gateway's labels, the gateway and another control-plane pod,
// the cluster DNS, and an outsider; then collects every probed pod with its role and ports.
func (f *fixture) createProbes() {
	t := f.t
	f.nsOut = framework.Name("outside")
	if _, err := f.cs.CoreV1().Namespaces().Create(f.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: f.nsOut}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	opNS := f.cfg.OperatorNamespace
	probes := []struct {
		name, ns string
		labels   map[string]string
		role     string
		ports    []port
	}{
		{"A/tenant", f.nsA, map[string]string{"app": "notebook"}, roleTenant, []port{{corev1.ProtocolTCP, 8080, "http", ""}}},
		{"B/tenant", f.nsB, map[string]string{"app": "notebook"}, roleTenant, []port{{corev1.ProtocolTCP, 8080, "http", ""}}},
		{"B/fake-gw", f.nsB, f.cfg.ControlPlane.GatewayPodLabels, roleTenant, []port{{corev1.ProtocolTCP, 8443, "https", ""}}},
		{"cp/gateway", opNS, f.cfg.ControlPlane.GatewayPodLabels, roleGateway, []port{{corev1.ProtocolTCP, 8443, "https", ""}}},
		{"cp/other", opNS, map[string]string{"app": "control"}, roleControl, []port{{corev1.ProtocolTCP, 8080, "http", ""}}},
		{"dns", f.cfg.ControlPlane.DNSNamespace, f.cfg.ControlPlane.DNSPodLabels, roleDNS, []port{{corev1.ProtocolTCP, 53, "dns-tcp", ""}, {corev1.ProtocolUDP, 53, "dns", ""}}},
		{"outsider", f.nsOut, map[string]string{"app": "curl"}, roleOutsider, []port{{corev1.ProtocolTCP, 8080, "http", ""}}},
	}
	for i, p := range probes {
		var tcp, udp []string
		var cports []corev1.ContainerPort
		for _, pt := range p.ports {
			if pt.proto == corev1.ProtocolUDP {
				udp = append(udp, strconv.Itoa(pt.num))
			} else {
				tcp = append(tcp, strconv.Itoa(pt.num))
			}
			cports = append(cports, corev1.ContainerPort{Name: pt.name, ContainerPort: int32(pt.num), Protocol: pt.proto})
		}
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("probe-%d", i), Namespace: p.ns, Labels: p.labels},
			Spec: corev1.PodSpec{
				AutomountServiceAccountToken: boolPtr(false),
				Containers: []corev1.Container{{
					Name: "probe", Image: ProbeImage, ImagePullPolicy: corev1.PullNever,
					Args:            []string{"serve", "-tcp", strings.Join(tcp, ","), "-udp", strings.Join(udp, ",")},
					Ports:           cports,
					SecurityContext: restricted(),
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{
						Port: intOrString(p.ports[0].num)}}, PeriodSeconds: 1},
				}},
			},
		}
		if p.ports[0].proto == corev1.ProtocolUDP {
			t.Fatalf("%s: the first port is the readiness probe's and must be TCP", p.name)
		}
		if _, err := f.cs.CoreV1().Pods(p.ns).Create(f.ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating probe %s: %v", p.name, err)
		}
	}
	for i, p := range probes {
		pods := f.waitPods(p.ns, labelSelector(p.labels), 1)
		var pod *corev1.Pod
		for j := range pods {
			if pods[j].Name == fmt.Sprintf("probe-%d", i) {
				pod = &pods[j]
			}
		}
		if pod == nil {
			pod = f.podNamed(p.ns, fmt.Sprintf("probe-%d", i))
		}
		f.peers = append(f.peers, &peer{name: p.name, namespace: p.ns, pod: pod.Name, ip: pod.Status.PodIP, labels: pod.Labels,
			role: p.role, workspace: p.ns == f.nsA || p.ns == f.nsB, ports: p.ports})
	}
	workload := func(name, ns, selector, role, group string, ports []port) {
		for i, pod := range f.waitPods(ns, selector, 1) {
			f.peers = append(f.peers, &peer{name: fmt.Sprintf("%s#%d", name, i), namespace: ns, pod: pod.Name, ip: pod.Status.PodIP,
				labels: pod.Labels, role: role, workspace: true, group: group, ports: ports})
		}
	}
	whPorts := []port{
		{corev1.ProtocolTCP, int(f.cfg.Warehouses.Port), netpolicy.PortSQL, ""},
		{corev1.ProtocolTCP, int(f.cfg.Warehouses.MetricsPort), netpolicy.PortMetrics, ""},
		{corev1.ProtocolTCP, netprobe.PeerPort, "", ""},
	}
	// An entity pod's named ports are its model proxy's; the probe image, as its model
	// container, serves the unnamed peer port.
	entityPorts := []port{
		{corev1.ProtocolTCP, int(f.cfg.ModelServing.Port), netpolicy.PortHTTPS, "tls"},
		{corev1.ProtocolTCP, int(f.cfg.ModelServing.MetricsPort), netpolicy.PortMetrics, "http"},
		{corev1.ProtocolTCP, netprobe.PeerPort, "", ""},
	}
	workload("A/w1", f.nsA, computev1.LabelWarehouse+"=w1", roleWarehouse, "w1", whPorts)
	workload("A/w2", f.nsA, computev1.LabelWarehouse+"=w2", roleWarehouse, "w2", whPorts)
	workload("B/w3", f.nsB, computev1.LabelWarehouse+"=w3", roleWarehouse, "w3", whPorts)
	workload("A/m1-e1", f.nsA, computev1.LabelEndpoint+"=m1,"+computev1.LabelServedEntity+"=e1", roleEntity, "m1/e1", entityPorts)
	workload("A/m1-e2", f.nsA, computev1.LabelEndpoint+"=m1,"+computev1.LabelServedEntity+"=e2", roleEntity, "m1/e2", entityPorts)
}

func (f *fixture) podNamed(ns, name string) *corev1.Pod {
	p, err := f.cs.CoreV1().Pods(ns).Get(f.ctx, name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

// relabelTenantNamespace gives workspace B's namespace every label that could open a door: the
// gateway's, workspace A's, the DNS's, and the operator namespace's name.
func (f *fixture) relabelTenantNamespace() {
	ns, err := f.cs.CoreV1().Namespaces().Get(f.ctx, f.nsB, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	for k, v := range f.cfg.ControlPlane.GatewayPodLabels {
		ns.Labels[k] = v
	}
	for k, v := range f.cfg.ControlPlane.DNSPodLabels {
		ns.Labels[k] = v
	}
	ns.Labels[computev1.LabelWorkspace] = f.nsA
	ns.Labels[netpolicy.NamespaceNameLabel] = f.cfg.OperatorNamespace
	if _, err := f.cs.CoreV1().Namespaces().Update(f.ctx, ns, metav1.UpdateOptions{}); err != nil {
		f.t.Fatal(err)
	}
}

// flow is one probed connection and its three verdicts.
type flow struct {
	from, to *peer
	port     port
}

func (fl flow) String() string {
	return fmt.Sprintf("%s -> %s %d/%s(%s)", fl.from.name, fl.to.name, fl.port.num, fl.port.proto, fl.port.name)
}

// expectRule is DESIGN.md's network boundary, written independently of the policies: a
// workspace's pods accept SQL and metrics from the control-plane namespace (warehouses), TLS only
// from the gateway and metrics from the control plane (entities), anything from their own
// warehouse's or entity's pods, and nothing else; they send only to the cluster DNS and their
// own group's pods (external destinations are not probed: nothing leaves this machine). Pods
// outside workspaces have no policy.
func expectRule(opNS string, fl flow) bool {
	src, dst, p := fl.from, fl.to, fl.port
	sameGroup := src.group != "" && src.group == dst.group && src.namespace == dst.namespace
	ingress := !dst.workspace || sameGroup
	switch dst.role {
	case roleWarehouse:
		ingress = ingress || (src.namespace == opNS && (p.name == netpolicy.PortSQL || p.name == netpolicy.PortMetrics))
	case roleEntity:
		ingress = ingress || (src.namespace == opNS && src.role == roleGateway && p.name == netpolicy.PortHTTPS) ||
			(src.namespace == opNS && p.name == netpolicy.PortMetrics)
	}
	egress := !src.workspace || sameGroup || (dst.role == roleDNS && p.num == 53)
	return ingress && egress
}

// expectMatrix probes every pair of peers on every port the destination answers on, until the
// observed verdicts agree with the rules (policies take effect within a second or so), and
// checks that cyclonus's verdicts on the policies read back agree with the rules too.
func (f *fixture) expectMatrix(when string) int {
	t := f.t
	var flows []flow
	for _, src := range f.peers {
		for _, dst := range f.peers {
			if src == dst {
				continue
			}
			for _, p := range dst.ports {
				flows = append(flows, flow{from: src, to: dst, port: p})
			}
		}
	}
	if len(flows) < 100 {
		t.Fatalf("only %d pairs to probe, want at least 100", len(flows))
	}
	want := make([]bool, len(flows))
	for i, fl := range flows {
		want[i] = expectRule(f.cfg.OperatorNamespace, fl)
	}
	engine := f.policyEngine()
	nsLabels := f.namespaceLabels()
	var mismatches []string
	for i, fl := range flows {
		got := engine.IsTrafficAllowed(traffic(fl, nsLabels)).IsAllowed()
		if got != want[i] {
			mismatches = append(mismatches, fmt.Sprintf("%s: rules say allowed=%t, cyclonus says %t", fl, want[i], got))
		}
	}
	if len(mismatches) > 0 {
		t.Errorf("%s: cyclonus disagrees with the rules on %d of %d pairs:\n%s", when, len(mismatches), len(flows), strings.Join(mismatches, "\n"))
	}
	var observed []bool
	var diffs []string
	err := wait.PollUntilContextTimeout(f.ctx, time.Second, timeout, true, func(context.Context) (bool, error) {
		observed = f.probe(flows)
		diffs = diffs[:0]
		for i, fl := range flows {
			if observed[i] != want[i] {
				diffs = append(diffs, fmt.Sprintf("%s: rules say allowed=%t, packets say %t", fl, want[i], observed[i]))
			}
		}
		return len(diffs) == 0, nil
	})
	allowed := 0
	for _, ok := range observed {
		if ok {
			allowed++
		}
	}
	t.Logf("%s: %d pairs probed on packets (%d allowed, %d blocked), %d differences from the rules, %d between cyclonus and the rules",
		when, len(flows), allowed, len(flows)-allowed, len(diffs), len(mismatches))
	if err != nil {
		t.Fatalf("%s: the packets disagree with the rules on %d of %d pairs:\n%s", when, len(diffs), len(flows), strings.Join(diffs, "\n"))
	}
	return len(flows)
}

// probe runs the probe's connect in each source pod, all of its targets at once, and returns
// whether each flow connected.
func (f *fixture) probe(flows []flow) []bool {
	bySource := map[*peer][]int{}
	for i, fl := range flows {
		bySource[fl.from] = append(bySource[fl.from], i)
	}
	got := make([]bool, len(flows))
	sources := make([]*peer, 0, len(bySource))
	for src := range bySource {
		sources = append(sources, src)
	}
	sort.Slice(sources, func(i, j int) bool { return sources[i].name < sources[j].name })
	// Every source probes at once: each waits out its blocked connections' timeout in parallel.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for _, src := range sources {
		wg.Go(func() {
			idx := bySource[src]
			args := []string{"exec", "-n", src.namespace, src.pod, "--", "/probe", "connect", "-timeout", "2s"}
			index := map[string]int{}
			for _, i := range idx {
				tgt := flows[i].port.target(flows[i].to.ip)
				args = append(args, tgt.String())
				index[tgt.String()] = i
			}
			cmd := f.cluster.Kubectl(f.binDir, args...)
			var out, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &stderr
			err := cmd.Run()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failures = append(failures, fmt.Sprintf("probing from %s: %v\n%s", src.name, err, stderr.String()))
				return
			}
			for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				r, err := netprobe.ParseLine(line)
				if err != nil {
					failures = append(failures, err.Error())
					continue
				}
				if i, ok := index[r.Target.String()]; ok {
					got[i] = r.Allowed
				}
			}
		})
	}
	wg.Wait()
	if len(failures) > 0 {
		f.t.Fatal(strings.Join(failures, "\n"))
	}
	return got
}

// policyEngine reads every NetworkPolicy back from the API server into cyclonus's matcher.
func (f *fixture) policyEngine() *matcher.Policy {
	list, err := f.cs.NetworkingV1().NetworkPolicies("").List(f.ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	policies := make([]*networkingv1.NetworkPolicy, 0, len(list.Items))
	for i := range list.Items {
		policies = append(policies, &list.Items[i])
	}
	return matcher.BuildNetworkPolicies(true, policies)
}

// namespaceLabels are every namespace's live labels, read once per matrix.
func (f *fixture) namespaceLabels() map[string]map[string]string {
	list, err := f.cs.CoreV1().Namespaces().List(f.ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]map[string]string{}
	for _, ns := range list.Items {
		out[ns.Name] = ns.Labels
	}
	return out
}

func traffic(fl flow, nsLabels map[string]map[string]string) *matcher.Traffic {
	peerOf := func(p *peer) *matcher.TrafficPeer {
		return &matcher.TrafficPeer{IP: p.ip, Internal: &matcher.InternalPeer{Namespace: p.namespace, NamespaceLabels: nsLabels[p.namespace], PodLabels: p.labels}}
	}
	return &matcher.Traffic{Source: peerOf(fl.from), Destination: peerOf(fl.to), ResolvedPort: fl.port.num,
		ResolvedPortName: fl.port.name, Protocol: fl.port.proto}
}

func (f *fixture) eventually(what string, cond func() (bool, error)) {
	f.t.Helper()
	if err := wait.PollUntilContextTimeout(f.ctx, 500*time.Millisecond, timeout, true, func(context.Context) (bool, error) { return cond() }); err != nil {
		f.t.Fatalf("waiting for %s: %v", what, err)
	}
}

func conditionTrue(conds []metav1.Condition, t string) bool {
	for _, c := range conds {
		if c.Type == t {
			return c.Status == metav1.ConditionTrue
		}
	}
	return false
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func labelSelector(labels map[string]string) string {
	parts := make([]string, 0, len(labels))
	for k, v := range labels {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}
