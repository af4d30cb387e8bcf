// Command localcluster is `make run`: it starts the local simulated cluster (or uses the cluster
// of $KUBECONFIG with --existing), installs the CRDs and the operator namespace, and runs the
// operator in the foreground. Ctrl-C stops the operator and every cluster process it started.
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

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
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
		dir, binDir, manager, configPath string
		existing                         bool
	)
	flag.StringVar(&dir, "dir", ".local", "State directory: data, logs and the kubeconfig (wiped at start).")
	flag.StringVar(&binDir, "bin-dir", "", "Directory of the Kubernetes binaries (hack/kubebins/build.sh prints it).")
	flag.StringVar(&manager, "manager", "bin/manager", "The operator binary.")
	flag.StringVar(&configPath, "config", "config/manager/operator-config.yaml", "The OperatorConfig file.")
	flag.BoolVar(&existing, "existing", false, "Use the cluster of $KUBECONFIG instead of starting one.")
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

	if err := localcluster.InstallCRDs(ctx, cfg, "config/crd/bases"); err != nil {
		return fmt.Errorf("installing CRDs: %w", err)
	}
	opCfg, err := configv1.Load(configPath)
	if err != nil {
		return err
	}
	if err := ensureNamespace(ctx, cfg, opCfg.OperatorNamespace); err != nil {
		return err
	}

	fmt.Printf(`
The cluster is ready. In another terminal:

    export KUBECONFIG=%s
    kubectl get nodes
    kubectl apply -k config/samples
    kubectl get serverless -A

Press Ctrl-C to stop the operator and the cluster.

`, kubeconfig)

	op := exec.CommandContext(ctx, manager, "--config="+configPath, "--kubeconfig="+kubeconfig,
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

func ensureNamespace(ctx context.Context, cfg *rest.Config, name string) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return errors.Join(fmt.Errorf("creating namespace %s", name), err)
	}
	return nil
}
