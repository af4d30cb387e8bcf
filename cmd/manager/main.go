// Command manager runs the serverlessplane operator.
package main

import (
	"flag"
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	"github.com/serverlessplane/operator/controllers"
	"github.com/serverlessplane/operator/internal/memlimit"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		configPath     string
		metricsAddr    string
		probeAddr      string
		pprofAddr      string
		leaderElection bool
		workers        int
		memoryRatio    float64
	)
	flag.StringVar(&configPath, "config", "", "Path of the OperatorConfig file; empty uses the defaults.")
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "Address of the metrics endpoint; 0 disables it.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address of the liveness and readiness probes.")
	flag.StringVar(&pprofAddr, "pprof-bind-address", "0", "Address of Go's pprof endpoints (/debug/pprof/); 0, the default, disables them.")
	flag.BoolVar(&leaderElection, "leader-elect", false, "Elect a leader so that only one replica reconciles.")
	flag.IntVar(&workers, "max-concurrent-reconciles", 4, "Warehouses and model endpoints reconciled at once, per controller.")
	flag.Float64Var(&memoryRatio, "memory-limit-ratio", memlimit.DefaultRatio, "Share of the container's memory limit the Go runtime's soft memory limit is set to, and at least 48 MiB below it (GOMEMLIMIT, when set, wins); 0 disables it.")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	if soft := memlimit.Set(memoryRatio); soft > 0 {
		ctrl.Log.Info("soft memory limit from the container's", "bytes", soft)
	}

	cfg, err := configv1.Load(configPath)
	if err != nil {
		return err
	}
	scheme := runtime.NewScheme()
	utilruntime.Must(controllers.AddToScheme(scheme))

	restConfig, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("no cluster to talk to: %w", err)
	}
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                  scheme,
		Cache:                   controllers.CacheOptions(),
		Metrics:                 metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress:  probeAddr,
		PprofBindAddress:        pprofAddr,
		LeaderElection:          leaderElection,
		LeaderElectionID:        "serverlessplane-operator",
		LeaderElectionNamespace: cfg.OperatorNamespace,
		// The process exits when the manager stops, so it can hand the lease over at once.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	if err := controllers.SetupWithManager(mgr, controllers.Options{Config: cfg, MaxConcurrentReconciles: workers}); err != nil {
		return fmt.Errorf("setting up controllers: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	ctrl.Log.Info("starting manager", "operatorNamespace", cfg.OperatorNamespace, "regions", cfg.RegionNames())
	return mgr.Start(ctrl.SetupSignalHandler())
}
