// Command scalebench provisions workspaces, each with warehouses and model endpoints, through
// the operator running as its own process against a real kube-apiserver and etcd (envtest),
// and prints, as Markdown: the time and API writes the operator needed against a plain client
// creating the same objects, the writes of an idle minute, and the manager's peak resident
// memory.
//
// Nothing runs the workloads (there are no nodes): a workspace is provisioned when it is Ready
// and a warehouse or endpoint when its Deployments exist. The load source is None, so nothing
// dials a pod.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	"github.com/serverlessplane/operator/internal/memlimit"
	"github.com/serverlessplane/operator/test/framework"
)

type options struct {
	manager                          string
	workspaces, warehouses, endpoint int
	idle                             time.Duration
	timeout                          time.Duration
	containerLimit                   string
}

func main() {
	var o options
	flag.StringVar(&o.manager, "manager", "bin/manager", "the operator binary (make build)")
	flag.IntVar(&o.workspaces, "workspaces", 1000, "workspaces to provision")
	flag.IntVar(&o.warehouses, "warehouses", 1500, "warehouses, spread over the workspaces")
	flag.IntVar(&o.endpoint, "endpoints", 1500, "model endpoints, spread over the workspaces")
	flag.DurationVar(&o.idle, "idle", time.Minute, "how long to count the writes of the settled operator")
	flag.DurationVar(&o.timeout, "timeout", 30*time.Minute, "longest wait for the operator to provision everything")
	flag.StringVar(&o.containerLimit, "container-limit", "150Mi", "run the manager with the Go soft memory limit it sets in a container of this memory limit (internal/memlimit, at the default --memory-limit-ratio); empty for none")
	flag.Parse()
	// An interrupt still stops the manager and the API server.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "scalebench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	env, restConfig, scheme, err := framework.PlainEnvtest(func(env *envtest.Environment) {
		// One ClusterIP per Service: the default range of 256 addresses is far too small.
		env.ControlPlane.GetAPIServer().Configure().Set("service-cluster-ip-range", "10.96.0.0/16")
	})
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	restConfig.QPS, restConfig.Burst = 500, 1000
	c, err := client.New(restConfig, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	api := apiServer{restConfig: restConfig}
	if err := api.init(); err != nil {
		return err
	}

	dir, err := os.MkdirTemp("", "scalebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := configv1.Default()
	cfg.Metrics.Source = configv1.MetricsNone
	for i := range cfg.Regions {
		cfg.Regions[i].ServerlessQuotaDBU = 1 << 40 // the quota is not under test
	}
	goMemLimit := ""
	if o.containerLimit != "" {
		q, err := resource.ParseQuantity(o.containerLimit)
		if err != nil {
			return fmt.Errorf("-container-limit: %w", err)
		}
		goMemLimit = strconv.FormatInt(memlimit.Soft(q.Value(), memlimit.DefaultRatio), 10)
	}
	mgr, err := startManager(ctx, o.manager, dir, env.KubeConfig, cfg, goMemLimit)
	if err != nil {
		return err
	}
	defer mgr.stop()
	if err := createNamespace(ctx, c, cfg.OperatorNamespace); err != nil {
		return err
	}

	log := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}
	f := fleet{workspaces: o.workspaces, warehouses: o.warehouses, endpoints: o.endpoint}
	log("creating %d workspaces, %d warehouses and %d endpoints", f.workspaces, f.warehouses, f.endpoints)
	before, err := api.writes(ctx)
	if err != nil {
		return err
	}
	start := time.Now()
	inputs, err := f.create(ctx, c, o.timeout, log)
	if err != nil {
		return err
	}
	if err := f.wait(ctx, c, o.timeout, log, true); err != nil {
		return err
	}
	provisioned := time.Since(start)
	atProvisioned, err := api.writes(ctx)
	if err != nil {
		return err
	}
	log("provisioned in %s; waiting until the operator writes nothing", provisioned.Round(time.Second))
	settled, atSettled, err := api.settle(ctx, 10*time.Second, o.timeout, log)
	if err != nil {
		return err
	}
	settledAfter := settled.Sub(start)

	log("counting the writes of %s idle", o.idle)
	select {
	case <-time.After(o.idle):
	case <-ctx.Done():
		return ctx.Err()
	}
	afterIdle, err := api.writes(ctx)
	if err != nil {
		return err
	}
	idleWrites := afterIdle.total() - atSettled.total()
	rss, err := mgr.peakRSS()
	if err != nil {
		return err
	}
	if path, err := saveHeapProfile(ctx); err != nil {
		log("no heap profile: %v", err)
	} else {
		log("the manager's heap profile: go tool pprof -top -sample_index=inuse_space %s", path)
	}

	log("copying what the operator created with a plain client")
	objs, err := created(ctx, c)
	if err != nil {
		return err
	}
	plainBefore, err := api.writes(ctx)
	if err != nil {
		return err
	}
	plainStart := time.Now()
	if err := createCopies(ctx, c, objs, 4); err != nil {
		return err
	}
	plainTime := time.Since(plainStart)
	plainAfter, err := api.writes(ctx)
	if err != nil {
		return err
	}

	report(os.Stdout, result{
		idle: o.idle, fleet: f, objects: len(objs), inputs: inputs,
		provisioned: provisioned, settled: settledAfter,
		operatorWrites: atSettled.minus(before), provisionWrites: atProvisioned.total() - before.total(),
		idleWrites: idleWrites, idleByResource: afterIdle.minus(atSettled),
		plainTime: plainTime, plainWrites: plainAfter.total() - plainBefore.total(),
		peakRSS: rss, containerLimit: o.containerLimit, goMemLimit: goMemLimit,
	})
	return nil
}

// pprofAddr is where the manager serves pprof: the benchmark saves its heap profile there.
const pprofAddr = "127.0.0.1:18099"

// manager is the operator's process.
type manager struct {
	cmd *exec.Cmd
}

func startManager(ctx context.Context, binary, dir string, kubeconfig []byte, cfg *configv1.OperatorConfig, memoryLimit string) (*manager, error) {
	kc := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kc, kubeconfig, 0o600); err != nil {
		return nil, err
	}
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	cf := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cf, data, 0o600); err != nil {
		return nil, err
	}
	logs, err := os.Create(filepath.Join(os.TempDir(), "scalebench-manager.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, binary, "--config", cf, "--metrics-bind-address", "0", "--health-probe-bind-address", "0",
		"--pprof-bind-address", pprofAddr)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kc)
	if memoryLimit != "" {
		cmd.Env = append(cmd.Env, "GOMEMLIMIT="+memoryLimit)
	}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", binary, err)
	}
	return &manager{cmd: cmd}, nil
}

// peakRSS is the manager's high-water mark of resident memory (VmHWM), in bytes.
func (m *manager) peakRSS() (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", m.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", m.cmd.Process.Pid)
}

func (m *manager) stop() { framework.StopProcess(m.cmd, 15*time.Second) }

// saveHeapProfile saves the manager's heap profile for `go tool pprof` and returns its path.
func saveHeapProfile(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+pprofAddr+"/debug/pprof/heap", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	path := filepath.Join(os.TempDir(), "scalebench-manager.heap")
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return path, err
}
