// Command chaos proves restart safety: it runs the operator binary against the local simulated
// cluster (kwok nodes, with kube-controller-manager's garbage collector), kills it with SIGKILL
// at random points while workspaces, warehouses and model endpoints are created and deleted,
// then lets it run and prints, as Markdown, how long it took to converge and what it converged
// to: duplicate and orphaned objects and the quota ledger against the live clusters. It exits
// non-zero unless all three are clean.
//
// The kills are seeded (-seed), so a run can be repeated; what the kills interrupt still
// depends on timing.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	"github.com/serverlessplane/operator/test/framework"
	"github.com/serverlessplane/operator/test/loadsim"
	"github.com/serverlessplane/operator/test/localcluster"
)

type options struct {
	manager                           string
	workspaces, warehouses, endpoints int
	seed                              uint64
	killMin, killMax, chaos, converge time.Duration
	keepDir                           bool
}

func main() {
	var o options
	flag.StringVar(&o.manager, "manager", "", "the operator binary; built from ./cmd/manager if empty")
	flag.IntVar(&o.workspaces, "workspaces", 200, "workspaces to create (half are deleted again)")
	flag.IntVar(&o.warehouses, "warehouses", 50, "warehouses, one in each of the first workspaces (half are deleted again)")
	flag.IntVar(&o.endpoints, "endpoints", 20, "model endpoints, one in each workspace after the warehouses' (half are deleted again)")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the kill times")
	flag.DurationVar(&o.killMin, "kill-min", time.Second, "shortest run of the operator between two kills")
	flag.DurationVar(&o.killMax, "kill-max", 8*time.Second, "longest run of the operator between two kills")
	flag.DurationVar(&o.chaos, "chaos", 45*time.Second, "how long kills go on after the creations, and again after the deletions")
	flag.DurationVar(&o.converge, "converge", 10*time.Minute, "longest wait for convergence once the kills stop")
	flag.BoolVar(&o.keepDir, "keep", false, "keep the cluster's directory (logs) even on success")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ok, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func run(ctx context.Context, o options) (bool, error) {
	root, err := framework.RepoRoot()
	if err != nil {
		return false, err
	}
	binDir := os.Getenv("KUBEBINS")
	if binDir == "" {
		if binDir, err = framework.BinaryAssets(root); err != nil {
			return false, err
		}
	}
	dir, err := os.MkdirTemp("", "serverlessplane-chaos-")
	if err != nil {
		return false, err
	}
	keep := o.keepDir
	defer func() {
		if keep {
			logf("the cluster's logs and the operator's are kept in %s", dir)
		} else {
			_ = os.RemoveAll(dir)
		}
	}()

	// Room for every pod: the default nodes' pod and CPU capacity are the samples'.
	nodes := localcluster.DefaultNodes()
	for i := range nodes {
		nodes[i].Capacity[corev1.ResourcePods] = resource.MustParse("1000")
		nodes[i].Capacity[corev1.ResourceCPU] = resource.MustParse("4000")
		nodes[i].Capacity[corev1.ResourceMemory] = resource.MustParse("64Ti")
	}
	logf("starting the local cluster")
	cluster, err := localcluster.Start(ctx, localcluster.Options{BinDir: binDir, Dir: dir, Nodes: nodes})
	if cluster != nil {
		defer cluster.Stop()
	}
	if err != nil {
		keep = true
		return false, err
	}
	restConfig := rest.CopyConfig(cluster.Config)
	restConfig.QPS, restConfig.Burst = 200, 400
	k8s, err := client.New(restConfig, client.Options{Scheme: framework.NewScheme()})
	if err != nil {
		return false, err
	}
	if err := localcluster.InstallOperator(ctx, cluster.Config, root, filepath.Join(binDir, "kubectl")); err != nil {
		return false, err
	}
	sim, err := loadsim.Start("127.0.0.1:0")
	if err != nil {
		return false, err
	}
	defer sim.Close()
	op, cfg, err := prepareOperator(ctx, o.manager, root, dir, cluster, sim.URL())
	if err != nil {
		return false, err
	}
	if err := op.start(); err != nil {
		return false, err
	}
	defer op.stop()

	f := fleet{workspaces: o.workspaces, warehouses: o.warehouses, endpoints: o.endpoints}
	killer := &killer{op: op, rng: rand.New(rand.NewPCG(o.seed, o.seed^0x9e3779b97f4a7c15)), min: o.killMin, max: o.killMax}
	killer.start(ctx)

	start := time.Now()
	logf("creating %d workspaces, %d warehouses, %d endpoints while the operator is killed", f.workspaces, f.warehouses, f.endpoints)
	created, err := f.create(ctx, k8s)
	if err != nil {
		killer.stop()
		return false, err
	}
	sleep(ctx, o.chaos)
	logf("deleting half of them while the operator is killed")
	deleted, err := f.remove(ctx, k8s)
	if err != nil {
		killer.stop()
		return false, err
	}
	sleep(ctx, o.chaos)
	kills := killer.stop()
	if err := op.ensureRunning(); err != nil {
		return false, err
	}
	chaosEnded := time.Now()
	logf("%d kills; waiting for convergence", kills)

	var last verdict
	converged := false
	for deadline := time.Now().Add(o.converge); time.Now().Before(deadline) && ctx.Err() == nil; sleep(ctx, 2*time.Second) {
		v, err := f.check(ctx, k8s, cfg)
		if err != nil {
			logf("checking: %v", err)
			continue
		}
		if last.summary() != v.summary() {
			logf("%s", v.summary())
		}
		last = v
		if v.clean() {
			converged = true
			break
		}
	}
	report(os.Stdout, result{
		opts: o, kills: kills, created: created, deleted: deleted,
		chaos: chaosEnded.Sub(start), converge: time.Since(chaosEnded), converged: converged, verdict: last,
	})
	keep = keep || !converged
	return converged, nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// operator is the manager binary as a process that can be killed and started again.
type operator struct {
	binary string
	args   []string
	log    *os.File

	mu  sync.Mutex
	cmd *exec.Cmd
}

func prepareOperator(ctx context.Context, binary, root, dir string, cluster *localcluster.Cluster, promURL string) (*operator, *configv1.OperatorConfig, error) {
	if binary == "" {
		binary = filepath.Join(dir, "manager")
		build := exec.CommandContext(ctx, "go", "build", "-o", binary, "./cmd/manager")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			return nil, nil, fmt.Errorf("building the manager: %v\n%s", err, out)
		}
	}
	configPath := filepath.Join(dir, "operator-config.yaml")
	cfg, err := localcluster.WriteOperatorConfig(filepath.Join(root, "config", "manager", "operator-config.yaml"), configPath, promURL)
	if err != nil {
		return nil, nil, err
	}
	// As its ServiceAccount, so the RBAC and the confinement policy are what it has.
	kubeconfig := filepath.Join(dir, "operator.kubeconfig")
	if err := localcluster.OperatorKubeconfig(ctx, cluster.Config, kubeconfig, 2*time.Hour); err != nil {
		return nil, nil, err
	}
	log, err := os.Create(filepath.Join(dir, "logs", "operator.log"))
	if err != nil {
		return nil, nil, err
	}
	// Without leader election: a killed leader's lease would hold the next process back for its
	// duration, which tests the lease, not the reconcilers' restart safety.
	return &operator{binary: binary, log: log, args: []string{"--kubeconfig=" + kubeconfig, "--config=" + configPath,
		"--leader-elect=false", "--metrics-bind-address=0", "--health-probe-bind-address=0"}}, cfg, nil
}

func (o *operator) start() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	cmd := exec.Command(o.binary, o.args...)
	cmd.Stdout, cmd.Stderr = o.log, o.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	o.cmd = cmd
	return nil
}

// kill sends SIGKILL and reaps the process.
func (o *operator) kill() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cmd == nil {
		return
	}
	_ = o.cmd.Process.Kill()
	_ = o.cmd.Wait()
	o.cmd = nil
}

func (o *operator) ensureRunning() error {
	o.mu.Lock()
	running := o.cmd != nil
	o.mu.Unlock()
	if running {
		return nil
	}
	return o.start()
}

// stop ends the operator with SIGTERM, and SIGKILL if it lingers.
func (o *operator) stop() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cmd != nil {
		framework.StopProcess(o.cmd, 15*time.Second)
		o.cmd = nil
	}
	_ = o.log.Close()
}

// killer kills the operator after a random run and starts it again at once, until stopped.
type killer struct {
	op       *operator
	rng      *rand.Rand
	min, max time.Duration

	done  chan struct{}
	wg    sync.WaitGroup
	kills int
}

func (k *killer) start(ctx context.Context) {
	k.done = make(chan struct{})
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		for {
			wait := k.min + time.Duration(k.rng.Int64N(int64(k.max-k.min)+1))
			select {
			case <-ctx.Done():
				return
			case <-k.done:
				return
			case <-time.After(wait):
			}
			k.op.kill()
			k.kills++
			if err := k.op.start(); err != nil {
				logf("restarting the operator: %v", err)
			}
		}
	}()
}

// stop ends the kills and returns how many there were.
func (k *killer) stop() int {
	close(k.done)
	k.wg.Wait()
	return k.kills
}
