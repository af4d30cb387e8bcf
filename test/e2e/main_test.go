// Package e2e runs the operator binary against the local simulated cluster: kubectl applies
// objects, pods reach Running on kwok's fake nodes, deletion leaves nothing behind.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/serverlessplane/operator/test/framework"
	"github.com/serverlessplane/operator/test/loadsim"
	"github.com/serverlessplane/operator/test/localcluster"
)

// Shared timeouts: pods on fake nodes start within seconds, but the machines are shared.
const (
	timeout  = 2 * time.Minute
	interval = 250 * time.Millisecond
)

var (
	cluster  *localcluster.Cluster
	binDir   string
	root     string
	k8s      client.Client
	operator *exec.Cmd
	opLog    string
	// sim is the load the operator's autoscaler reads, through its Prometheus source.
	sim *loadsim.Server
)

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	var err error
	if root, err = framework.RepoRoot(); err != nil {
		return 1, err
	}
	if binDir = os.Getenv("KUBEBINS"); binDir == "" {
		if binDir, err = framework.BinaryAssets(root); err != nil {
			return 1, err
		}
	}
	dir, err := os.MkdirTemp("", "serverlessplane-e2e-")
	if err != nil {
		return 1, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cluster, err = localcluster.Start(ctx, localcluster.Options{BinDir: binDir, Dir: dir})
	if cluster != nil {
		defer cluster.Stop()
	}
	if err != nil {
		return 1, err
	}
	if k8s, err = client.New(cluster.Config, client.Options{Scheme: framework.NewScheme()}); err != nil {
		return 1, err
	}
	if err := localcluster.InstallOperator(ctx, cluster.Config, root, filepath.Join(binDir, "kubectl")); err != nil {
		return 1, err
	}
	if sim, err = loadsim.Start("127.0.0.1:0"); err != nil {
		return 1, err
	}
	defer sim.Close()
	stopOperator, err := startOperator(ctx, dir)
	if err != nil {
		return 1, err
	}
	code := m.Run()
	stopOperator()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "e2e failed; cluster logs and the operator log are kept in %s\n", dir)
		return code, nil
	}
	cluster.Stop()
	return code, os.RemoveAll(dir)
}

// startOperator runs the manager binary against the cluster, as `make run` does.
func startOperator(_ context.Context, dir string) (func(), error) {
	manager := os.Getenv("MANAGER_BINARY")
	if manager == "" {
		manager = filepath.Join(dir, "manager")
		build := exec.Command("go", "build", "-o", manager, "./cmd/manager")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("building the manager: %v\n%s", err, out)
		}
	}
	configPath := filepath.Join(dir, "operator-config.yaml")
	if _, err := localcluster.WriteOperatorConfig(filepath.Join(root, "config", "manager", "operator-config.yaml"), configPath, sim.URL()); err != nil {
		return nil, err
	}
	// The operator runs as its ServiceAccount, so the RBAC of config/rbac is what it has.
	kubeconfig := filepath.Join(dir, "operator.kubeconfig")
	if err := localcluster.OperatorKubeconfig(context.Background(), cluster.Config, kubeconfig, 2*time.Hour); err != nil {
		return nil, err
	}
	opLog = filepath.Join(dir, "logs", "operator.log")
	log, err := os.Create(opLog)
	if err != nil {
		return nil, err
	}
	operator = exec.Command(manager, "--kubeconfig="+kubeconfig, "--leader-elect",
		"--config="+configPath,
		"--metrics-bind-address=0", "--health-probe-bind-address=127.0.0.1:0")
	operator.Stdout, operator.Stderr = log, log
	operator.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := operator.Start(); err != nil {
		return nil, err
	}
	return func() {
		_ = operator.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = operator.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = operator.Process.Kill()
		}
		log.Close()
	}, nil
}

// kubectl runs kubectl against the cluster from the repository root and returns its output.
func kubectl(args ...string) (string, error) {
	cmd := cluster.Kubectl(binDir, args...)
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return strings.TrimSpace(out.String()), err
}

// mustKubectl runs kubectl and fails the test on error.
func mustKubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := kubectl(args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}
