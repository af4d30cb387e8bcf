// Command localcluster is `make run`: it starts the local simulated cluster (or uses the cluster
// of $KUBECONFIG with --existing), installs the CRDs and the operator namespace, and runs the
// operator in the foreground. Ctrl-C stops the operator and every cluster process it started.
package main

import (
	"context"
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

func run() error {
	var (
		dir, binDir, manager, configPath, loadAddr string
		existing                                   bool
	)
	flag.StringVar(&dir, "dir", ".local", "State directory: data, logs and the kubeconfig (wiped at start).")
	flag.StringVar(&binDir, "bin-dir", "", "Directory of the Kubernetes binaries (hack/kubebins/build.sh prints it).")
	flag.StringVar(&manager, "manager", "bin/manager", "The operator binary.")
	flag.StringVar(&configPath, "config", "config/manager/operator-config.yaml", "The OperatorConfig file.")
	flag.BoolVar(&existing, "existing", false, "Use the cluster of $KUBECONFIG instead of starting one.")
	flag.StringVar(&loadAddr, "load-simulator", "127.0.0.1:9464", "Address of the load simulator (local cluster only).")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var (
		cfg        *rest.Config
		kubeconfig string
		cluster    *localcluster.Cluster
	)
	if existing {
		kubeconfig = os.Getenv("KUBECONFIG")
		c, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return fmt.Errorf("reading $KUBECONFIG: %w", err)
		}
		cfg = c
	} else {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return err
		}
		if err := os.RemoveAll(abs); err != nil {
			return err
		}
		fmt.Println("starting the local cluster (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok)...")
		started := time.Now()
		cluster, err = localcluster.Start(ctx, localcluster.Options{BinDir: binDir, Dir: abs})
		if cluster != nil {
			defer cluster.Stop()
		}
		if err != nil {
			return err
		}
		fmt.Printf("local cluster up in %s\n", time.Since(started).Round(100*time.Millisecond))
		cfg, kubeconfig = cluster.Config, cluster.Kubeconfig
	}

	kubectl := "kubectl"
	if binDir != "" {
		kubectl = filepath.Join(binDir, "kubectl")
	}
	if err := localcluster.InstallOperator(ctx, cfg, ".", kubectl); err != nil {
		return err
	}
	// The operator authenticates as its ServiceAccount, with the RBAC config/rbac grants it.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	operatorKubeconfig := filepath.Join(dir, "operator.kubeconfig")
	if err := localcluster.OperatorKubeconfig(ctx, cfg, operatorKubeconfig, 48*time.Hour); err != nil {
		return err
	}
	loadHelp := ""
	if !existing {
		// Simulated pods export no metrics: the autoscaler reads load from the simulator.
		sim, err := loadsim.Start(loadAddr)
		if err != nil {
			return fmt.Errorf("starting the load simulator: %w", err)
		}
		defer sim.Close()
		generated := filepath.Join(dir, "operator-config.yaml")
		if _, err := localcluster.WriteOperatorConfig(configPath, generated, sim.URL()); err != nil {
			return err
		}
		configPath = generated
		loadHelp = fmt.Sprintf(`
Simulated load (the autoscaler reads it as from Prometheus):

    curl -X PUT %[1]s/load/warehouse/analytics/bi -d '{"running": 4, "queued": 30}'
    curl -X PUT %[1]s/load/endpoint/ml-platform/churn/champion -d '{"inFlight": 12}'
`, sim.URL())
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

	op := exec.CommandContext(ctx, manager, "--config="+configPath, "--kubeconfig="+operatorKubeconfig, "--leader-elect",
		"--metrics-bind-address=127.0.0.1:8080", "--health-probe-bind-address=127.0.0.1:8081")
	op.Stdout, op.Stderr = os.Stdout, os.Stderr
	op.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	op.Cancel = func() error { return op.Process.Signal(syscall.SIGTERM) }
	op.WaitDelay = 15 * time.Second
	if err := op.Run(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("operator: %w", err)
	}
	fmt.Println("\nstopping...")
	return nil
}
