// Package realnode is the real-node tier: the local cluster with one real node (kubelet,
// containerd, runc, CNI, kube-proxy, kube-router), the project's images imported, the operator as
// a pod. Pods run as real processes with real addresses, and the isolation the operator compiles
// is probed on packets: every pair of probe pods is connected for real and the observed matrix
// is compared with DESIGN.md's rules and with the cyclonus matcher's verdicts on the same
// policies. After the cluster stops, the machine must be as it was.
package realnode

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/serverlessplane/operator/test/framework"
	"github.com/serverlessplane/operator/test/localcluster"
)

// Generous: the machine has two cores and builds run beside the tests.
const timeout = 4 * time.Minute

// ProbeImage is the image of the probe pods, and the engine of the test's warehouses and
// entities, so that the operator's own workload pods answer on their ports.
const ProbeImage = "serverlessplane-probe:dev"

func TestRealNode(t *testing.T) {
	root, err := framework.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	binDir := os.Getenv("KUBEBINS")
	if binDir == "" {
		t.Fatal("KUBEBINS must name the directory of hack/kubebins/build.sh --node")
	}
	if err := localcluster.RealNodeSupport(binDir); err != nil {
		if os.Getenv("SERVERLESSPLANE_REQUIRE_REAL_NODE") == "1" {
			t.Fatalf("the real-node tier is required here, but this machine cannot run a real node: %v", err)
		}
		t.Skipf("SKIPPED: the real-node tier needs a machine that can run a real node: %v", err)
	}
	imagesDir := os.Getenv("IMAGES_DIR")
	if imagesDir == "" {
		imagesDir = filepath.Join(root, "bin", "images")
	}
	images, _ := filepath.Glob(filepath.Join(imagesDir, "*.oci.tar"))
	if len(images) == 0 {
		t.Fatalf("no images in %s: run make images", imagesDir)
	}

	// A run that was killed left its changes for the next start to undo: undo them now, so
	// that the state compared with is the machine's own.
	if err := localcluster.RecoverMachine(); err != nil {
		t.Fatal(err)
	}
	before, err := localcluster.MachineState()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	timings := &timings{start: time.Now()}
	cluster, err := localcluster.Start(ctx, localcluster.Options{BinDir: binDir, Dir: dir, RealNode: true, Images: images})
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		if err := cluster.Stop(); err != nil {
			t.Errorf("stopping the cluster: %v", err)
		}
	}
	defer func() {
		if cluster == nil {
			return
		}
		if t.Failed() {
			keepLogs(t, dir)
		}
		stop()
	}()
	if err != nil {
		t.Fatal(err)
	}
	timings.mark("cluster with a Ready real node")

	if err := localcluster.InstallOperatorPod(ctx, cluster.Config, root, filepath.Join(binDir, "kubectl")); err != nil {
		t.Fatal(err)
	}
	timings.mark("operator pods Ready (probes, leader election)")
	cs, err := kubernetes.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	k8s, err := client.New(cluster.Config, client.Options{Scheme: framework.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	expectOperatorLeads(ctx, t, cs)

	f := &fixture{t: t, ctx: ctx, k8s: k8s, cs: cs, cluster: cluster, binDir: binDir}
	prom := f.startPrometheus()
	timings.mark("Prometheus scraping the operator and gateway pods")
	f.createWorkloads()
	timings.mark("workspaces Ready, warehouse and entity pods Running and Ready")
	f.createProbes()
	timings.mark("probe pods Ready")

	pairs := f.expectMatrix("as created")
	timings.mark(fmt.Sprintf("reachability matrix: %d pairs", pairs))
	f.relabelTenantNamespace()
	pairs = f.expectMatrix("after the tenant relabels its namespace")
	timings.mark(fmt.Sprintf("reachability matrix after relabelling: %d pairs", pairs))
	f.expectServing(timings)
	f.expectSQL(timings)
	f.expectSamples(timings)
	f.expectLoad(timings)
	f.expectDashboard(prom, timings)
	prom.stop()

	stop()
	timings.mark("cluster stopped")
	var after string
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		after, err = localcluster.MachineState()
		return err == nil && after == before, nil
	})
	if err != nil {
		t.Errorf("the machine is not as it was before the real node (-before +after):\n%s", cmp.Diff(before, after))
	}
	timings.mark("machine as before: interfaces, routes, iptables, ipset, mounts, sysctls, cgroups")
	t.Log(timings)
}

// expectOperatorLeads checks that one of the operator's pods holds the leader lease.
func expectOperatorLeads(ctx context.Context, t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		lease, err := cs.CoordinationV1().Leases(localcluster.OperatorNamespace).Get(ctx, localcluster.OperatorDeployment, metav1.GetOptions{})
		if err != nil || lease.Spec.HolderIdentity == nil {
			return false, nil
		}
		pods, err := cs.CoreV1().Pods(localcluster.OperatorNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=serverlessplane-operator"})
		if err != nil {
			return false, nil
		}
		for _, p := range pods.Items {
			if strings.HasPrefix(*lease.Spec.HolderIdentity, p.Name+"_") && p.Spec.NodeName == localcluster.RealNodeName {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no operator pod on the real node holds the leader lease: %v", err)
	}
}

type timings struct {
	start, last time.Time
	lines       []string
}

func (tm *timings) mark(what string) {
	now := time.Now()
	if tm.last.IsZero() {
		tm.last = tm.start
	}
	tm.lines = append(tm.lines, fmt.Sprintf("%7.1fs (+%5.1fs)  %s", now.Sub(tm.start).Seconds(), now.Sub(tm.last).Seconds(), what))
	tm.last = now
}

func (tm *timings) String() string { return "real-node tier timings:\n" + strings.Join(tm.lines, "\n") }

// keepLogs copies the cluster's logs where a failed run can be read after the test.
func keepLogs(t *testing.T, dir string) {
	keep, err := os.MkdirTemp("", "serverlessplane-realnode-logs-")
	if err != nil {
		return
	}
	_ = exec.Command("cp", "-r", filepath.Join(dir, "logs"), filepath.Join(dir, "node", "logs"), keep).Run()
	t.Logf("the cluster's logs are kept in %s", keep)
}

// restricted is a container security context that Pod Security "restricted" admits.
func restricted() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false), RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To(int64(65532)),
		Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

func boolPtr(v bool) *bool { return &v }

func intOrString(port int) intstr.IntOrString { return intstr.FromInt32(int32(port)) }
