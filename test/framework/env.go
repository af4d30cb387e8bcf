// Package framework is the one integration harness: it starts a real kube-apiserver and etcd
// (envtest) with the operator's CRDs, runs the manager with every reconciler against them, and
// tears both down. Every integration suite uses it.
package framework

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	"github.com/serverlessplane/operator/controllers"
)

// Shared timeouts for Eventually and Consistently. They are generous: the machines are shared.
const (
	Timeout  = 30 * time.Second
	Interval = 50 * time.Millisecond
	// Short is how long Consistently watches for something that must not happen.
	Short = 2 * time.Second
)

// Options configure an Env.
type Options struct {
	// Config is the operator configuration; the defaults when nil.
	Config *configv1.OperatorConfig
	// Now is the fake clock's start; the real time when zero, so that it agrees with the
	// timestamps the API server sets.
	Now time.Time
	// ExtraCRDs are more CRD directories or files to install, such as the Gateway API's.
	ExtraCRDs []string
	// Customize lets a suite adjust the controller options (a fake metrics source, say).
	Customize func(*controllers.Options)
	// NoCRDs starts the API server without the operator's CRDs, for a suite that installs them
	// itself (from config/default) in Prepare.
	NoCRDs bool
	// Prepare runs against the API server, as an administrator, before the manager starts. It
	// may return the operator configuration the manager runs with.
	Prepare func(cfg *rest.Config) (*configv1.OperatorConfig, error)
	// Impersonate runs the manager as this user, such as the operator's ServiceAccount, so that
	// the RBAC it is granted is what the test exercises.
	Impersonate string
}

// Env is a running API server with the operator's manager.
type Env struct {
	// Config reaches the API server as an administrator.
	Config *rest.Config
	// Client is an uncached client, so a test reads what the API server holds.
	Client client.Client
	// Clock is the operator's clock.
	Clock *clocktesting.FakeClock
	// OperatorConfig is what the reconcilers run with.
	OperatorConfig *configv1.OperatorConfig
	// Scheme knows every kind the operator uses.
	Scheme *runtime.Scheme
	// Manager is the running manager.
	Manager ctrl.Manager
	// Writes records every write the manager's client makes.
	Writes *WriteLog
	// Deployments reports the operator's Deployments rolled out, as kube-controller-manager
	// and the kubelets would.
	Deployments *DeploymentSimulator

	testEnv *envtest.Environment
	cancel  context.CancelFunc
	done    chan error
}

// Start brings up the API server and the manager.
func Start(opts Options) (*Env, error) {
	ctrl.SetLogger(zap.New(zap.WriteTo(ginkgo.GinkgoWriter), zap.UseDevMode(true)))
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	assets, err := BinaryAssets(root)
	if err != nil {
		return nil, err
	}
	if opts.Config == nil {
		opts.Config = configv1.Default()
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now().Truncate(time.Second)
	}
	scheme := NewScheme()
	crds := append([]string{filepath.Join(root, "config", "crd", "bases")}, opts.ExtraCRDs...)
	if opts.NoCRDs {
		crds = opts.ExtraCRDs
	}
	e := &Env{
		Clock: clocktesting.NewFakeClock(opts.Now), OperatorConfig: opts.Config, Scheme: scheme, Writes: &WriteLog{},
		testEnv: &envtest.Environment{
			CRDDirectoryPaths:     crds,
			ErrorIfCRDPathMissing: true,
			BinaryAssetsDirectory: assets,
			Scheme:                scheme,
		},
	}
	if e.Config, err = e.testEnv.Start(); err != nil {
		return nil, fmt.Errorf("starting envtest: %w", err)
	}
	if e.Client, err = client.New(e.Config, client.Options{Scheme: scheme}); err != nil {
		return nil, e.stopOnError(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	if opts.Prepare != nil {
		cfg, err := opts.Prepare(e.Config)
		if err != nil {
			return nil, e.stopOnError(err)
		}
		if cfg != nil {
			opts.Config, e.OperatorConfig = cfg, cfg
		}
	} else {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: opts.Config.OperatorNamespace}}
		if err := e.Client.Create(ctx, ns); err != nil {
			return nil, e.stopOnError(err)
		}
	}
	managerConfig := rest.CopyConfig(e.Config)
	if opts.Impersonate != "" {
		managerConfig.Impersonate = rest.ImpersonationConfig{UserName: opts.Impersonate}
		if ns, ok := serviceAccountNamespace(opts.Impersonate); ok {
			managerConfig.Impersonate.Groups = []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}
		}
	}
	e.Manager, err = ctrl.NewManager(managerConfig, ctrl.Options{
		Scheme:    scheme,
		Cache:     controllers.CacheOptions(),
		NewClient: newClientFunc(e.Writes),
		Metrics:   metricsserver.Options{BindAddress: "0"},
		// Integration tests run many objects at once; nothing waits for a leader.
		LeaderElection: false,
	})
	if err != nil {
		return nil, e.stopOnError(err)
	}
	copts := controllers.Options{Config: opts.Config, Clock: e.Clock, MaxConcurrentReconciles: 4}
	if opts.Customize != nil {
		opts.Customize(&copts)
	}
	if err := controllers.SetupWithManager(e.Manager, copts); err != nil {
		return nil, e.stopOnError(err)
	}
	e.Deployments = &DeploymentSimulator{Client: e.Client}
	go e.Deployments.Run(ctx)
	e.done = make(chan error, 1)
	go func() { e.done <- e.Manager.Start(ctx) }()
	if !e.Manager.GetCache().WaitForCacheSync(ctx) {
		return nil, e.stopOnError(fmt.Errorf("manager caches did not sync"))
	}
	return e, nil
}

func (e *Env) stopOnError(err error) error {
	return fmt.Errorf("%w (stopping: %v)", err, e.Stop())
}

// Stop stops the manager and the API server.
func (e *Env) Stop() error {
	if e.cancel != nil {
		e.cancel()
	}
	if e.done != nil {
		if err := <-e.done; err != nil {
			return err
		}
	}
	return e.testEnv.Stop()
}

// serviceAccountNamespace is the namespace of a ServiceAccount's user name,
// system:serviceaccount:<namespace>:<name>.
func serviceAccountNamespace(user string) (string, bool) {
	parts := strings.Split(user, ":")
	if len(parts) != 4 || parts[0] != "system" || parts[1] != "serviceaccount" {
		return "", false
	}
	return parts[2], true
}

// NewScheme returns a scheme with the built-in kinds and the operator's.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(controllers.AddToScheme(s))
	return s
}

// RepoRoot is the directory of the operator's go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			strings.HasPrefix(string(data), "module github.com/serverlessplane/operator\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("the operator's go.mod is not above the working directory")
		}
		dir = parent
	}
}

// BinaryAssets is the directory of kube-apiserver, etcd and kubectl: $KUBEBUILDER_ASSETS, or
// what hack/kubebins/build.sh builds (or finds in its cache).
func BinaryAssets(root string) (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	out, err := exec.Command(filepath.Join(root, "hack", "kubebins", "build.sh")).Output()
	if err != nil {
		return "", fmt.Errorf("hack/kubebins/build.sh: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// GatewayAPICRDs are the Gateway API CRDs the model endpoint controller uses, from the
// sigs.k8s.io/gateway-api module the operator builds with.
func GatewayAPICRDs() ([]string, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/gateway-api")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("locating the gateway-api module: %w", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "config", "crd", "standard")
	var files []string
	for _, kind := range []string{"gatewayclasses", "gateways", "httproutes", "referencegrants", "backendtlspolicies"} {
		files = append(files, filepath.Join(dir, "gateway.networking.k8s.io_"+kind+".yaml"))
	}
	return files, nil
}

// PlainEnvtest is a kube-apiserver and etcd with the project's CRDs and nothing else (no
// manager), for the benchmark commands: its Environment (to Stop), a rest config and the
// scheme. configure, when not nil, adjusts the Environment before it starts.
func PlainEnvtest(configure func(*envtest.Environment)) (*envtest.Environment, *rest.Config, *runtime.Scheme, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, nil, nil, err
	}
	assets, err := BinaryAssets(root)
	if err != nil {
		return nil, nil, nil, err
	}
	scheme := NewScheme()
	env := &envtest.Environment{
		CRDDirectoryPaths: []string{filepath.Join(root, "config", "crd", "bases")}, ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets, Scheme: scheme,
	}
	if configure != nil {
		configure(env)
	}
	restConfig, err := env.Start()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("starting envtest: %w", err)
	}
	return env, restConfig, scheme, nil
}
