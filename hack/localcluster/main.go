// Command localcluster is `make run`: it starts the local cluster (or uses the cluster of
// $KUBECONFIG with --existing), installs the operator, and stays in the foreground. With a real
// node (the default where this machine can run one) the operator runs as a pod from its image;
// with kwok's simulated nodes it runs as a local process. Ctrl-C stops everything it started and
// undoes every change the real node made to this machine.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/serverlessplane/operator/test/loadsim"
	"github.com/serverlessplane/operator/test/localcluster"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "localcluster:", err)
		os.Exit(1)
	}
}

type options struct {
	dir, binDir, manager, configPath, loadAddr, node, images string
	existing                                                 bool
}

func run() error {
	var o options
	flag.StringVar(&o.dir, "dir", ".local", "State directory: data, logs and the kubeconfig (wiped at start).")
	flag.StringVar(&o.binDir, "bin-dir", "", "Directory of the Kubernetes binaries (hack/kubebins/build.sh --node prints it).")
	flag.StringVar(&o.manager, "manager", "bin/manager", "The operator binary (kwok nodes and --existing).")
	flag.StringVar(&o.configPath, "config", "config/manager/operator-config.yaml", "The OperatorConfig file (kwok nodes and --existing).")
	flag.BoolVar(&o.existing, "existing", false, "Use the cluster of $KUBECONFIG instead of starting one.")
	flag.StringVar(&o.loadAddr, "load-simulator", "127.0.0.1:9464", "Address of the load simulator (kwok nodes only).")
	flag.StringVar(&o.node, "node", "auto", "real (one real node), kwok (simulated nodes) or auto (real where this machine can run it).")
	flag.StringVar(&o.images, "images", "bin/images", "Directory of the OCI archives `make images` built, imported by the real node.")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.existing {
		kubeconfig := os.Getenv("KUBECONFIG")
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return fmt.Errorf("reading $KUBECONFIG: %w", err)
		}
		return runOperatorProcess(ctx, o, cfg, kubeconfig, "")
	}
	real, err := chooseNode(o)
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(abs); err != nil {
		return err
	}
	var images []string
	if real {
		if images, err = filepath.Glob(filepath.Join(o.images, "*.oci.tar")); err != nil {
			return err
		}
	}
	started := time.Now()
	cluster, err := localcluster.Start(ctx, localcluster.Options{BinDir: o.binDir, Dir: abs, RealNode: real, Images: images})
	defer func() {
		if cluster == nil {
			return
		}
		if err := cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "localcluster: stopping:", err)
		}
	}()
	if err != nil {
		return err
	}
	fmt.Printf("local cluster up in %s\n", time.Since(started).Round(100*time.Millisecond))
	if !real {
		return runKwok(ctx, o, cluster)
	}
	return runRealNode(ctx, o, cluster)
}

// chooseNode decides between a real node and kwok's, and says which and why.
func chooseNode(o options) (bool, error) {
	support := localcluster.RealNodeSupport(o.binDir)
	if support == nil {
		if archives, _ := filepath.Glob(filepath.Join(o.images, "*.oci.tar")); len(archives) == 0 {
			support = fmt.Errorf("no images in %s (make images builds them)", o.images)
		}
	}
	switch o.node {
	case "real":
		if support != nil {
			return false, fmt.Errorf("--node=real: %w", support)
		}
		fmt.Println("starting the local cluster with one real node (kubelet, containerd, runc, CNI, kube-proxy, kube-router)...")
		return true, nil
	case "kwok":
		fmt.Println("starting the local cluster with simulated kwok nodes (--node=kwok): pods do not run")
		return false, nil
	case "auto":
		if support != nil {
			fmt.Printf("starting the local cluster with simulated kwok nodes, not a real node: %v\n"+
				"(nothing runs in kwok's pods; the operator runs as a local process)\n", support)
			return false, nil
		}
		fmt.Println("starting the local cluster with one real node (kubelet, containerd, runc, CNI, kube-proxy, kube-router)...")
		return true, nil
	default:
		return false, fmt.Errorf("--node must be real, kwok or auto, not %q", o.node)
	}
}

// runRealNode installs the operator as a pod and waits for Ctrl-C.
func runRealNode(ctx context.Context, o options, cluster *localcluster.Cluster) error {
	kubectl := filepath.Join(o.binDir, "kubectl")
	fmt.Println("installing config/localnode: the operator runs as a pod from its image...")
	if err := localcluster.InstallOperatorPod(ctx, cluster.Config, ".", kubectl); err != nil {
		return err
	}
	fmt.Printf(`
The cluster is ready: node %s runs its pods for real (addresses %s), the operator runs as
the Deployment %s/%s from the image serverlessplane-operator:dev, and the gateway
(serverlessplane-gateway) answers scoring requests: README "A prediction through the gateway".
In another terminal:

    export KUBECONFIG=%s
    kubectl get nodes -o wide
    kubectl get pods -n %s -o wide
    kubectl apply -k config/samples/workspaces
    kubectl wait --for=condition=Ready workspaces --all
    kubectl apply -k config/samples/workloads
    kubectl get serverless -A

A prediction and a SQL statement through the gateway: README.md, "A prediction through the
gateway" and "A SQL statement through the gateway". Real load that scales an entity out and
back to zero (test/gatewaybench/cmd/loadgen): README.md, "Real load and autoscaling".

Press Ctrl-C to stop the cluster; it removes every interface, rule, mount and cgroup it made.

`, localcluster.RealNodeName, "10.244.0.0/24", localcluster.OperatorNamespace, localcluster.OperatorDeployment,
		cluster.Kubeconfig, localcluster.OperatorNamespace)
	<-ctx.Done()
	fmt.Println("\nstopping...")
	return nil
}

// runKwok installs the operator's objects and runs the operator as a local process, reading
// simulated load.
func runKwok(ctx context.Context, o options, cluster *localcluster.Cluster) error {
	sim, err := loadsim.Start(o.loadAddr)
	if err != nil {
		return fmt.Errorf("starting the load simulator: %w", err)
	}
	defer sim.Close()
	generated := filepath.Join(o.dir, "operator-config.yaml")
	if _, err := localcluster.WriteOperatorConfig(o.configPath, generated, sim.URL()); err != nil {
		return err
	}
	o.configPath = generated
	loadHelp := fmt.Sprintf(`
Simulated load (the autoscaler reads it as from Prometheus):

    curl -X PUT %[1]s/load/warehouse/analytics/bi -d '{"running": 4, "queued": 30}'
    curl -X PUT %[1]s/load/endpoint/ml-platform/churn/champion -d '{"inFlight": 12}'
`, sim.URL())
	return runOperatorProcess(ctx, o, cluster.Config, cluster.Kubeconfig, loadHelp)
}

// runOperatorProcess installs config/local and runs the operator binary in the foreground as
// its ServiceAccount.
func runOperatorProcess(ctx context.Context, o options, cfg *rest.Config, kubeconfig, loadHelp string) error {
	kubectl := "kubectl"
	if o.binDir != "" {
		kubectl = filepath.Join(o.binDir, "kubectl")
	}
	if err := localcluster.InstallOperator(ctx, cfg, ".", kubectl); err != nil {
		return err
	}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return err
	}
	operatorKubeconfig := filepath.Join(o.dir, "operator.kubeconfig")
	if err := localcluster.OperatorKubeconfig(ctx, cfg, operatorKubeconfig, 48*time.Hour); err != nil {
		return err
	}
	fmt.Printf(`
The cluster is ready. In another terminal:

    export KUBECONFIG=%s
    kubectl get nodes
    kubectl apply -k config/samples/workspaces
    kubectl wait --for=condition=Ready workspaces --all
    kubectl apply -k config/samples/workloads
    kubectl get serverless -A
%s
The operator runs as its ServiceAccount (%s); its metrics are at http://127.0.0.1:8080/metrics.
Press Ctrl-C to stop the operator and the cluster.

`, kubeconfig, loadHelp, localcluster.OperatorNamespace+"/"+localcluster.OperatorServiceAccount)

	op := exec.CommandContext(ctx, o.manager, "--config="+o.configPath, "--kubeconfig="+operatorKubeconfig, "--leader-elect",
		"--metrics-bind-address=127.0.0.1:8080", "--health-probe-bind-address=127.0.0.1:8081")
	op.Stdout, op.Stderr = os.Stdout, os.Stderr
	op.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	op.Cancel = func() error { return op.Process.Signal(syscall.SIGTERM) }
	op.WaitDelay = 15 * time.Second
	if err := op.Run(); err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("operator: %w", err)
	}
	fmt.Println("\nstopping...")
	return nil
}
