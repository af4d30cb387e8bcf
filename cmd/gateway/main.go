// Command gateway is the control plane's front door: scoring requests (and, later, SQL
// statements) enter here, are authenticated and authorized against the Kubernetes API, rate
// limited, held while their served entity starts from zero, and forwarded over mTLS to the
// workspace's model pods. See internal/gateway and docs/gateway.md.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/internal/gateway"
	"github.com/serverlessplane/operator/internal/memlimit"
	"github.com/serverlessplane/operator/internal/tlsfiles"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", ":8443", "address of the HTTPS API")
	metricsListen := flag.String("metrics-listen", ":9090", "address of /metrics, /healthz and /readyz (plain HTTP)")
	tlsDir := flag.String("tls-dir", "/etc/serverlessplane/tls", "the gateway's serving certificate: tls.crt, tls.key, ca.crt")
	clientDir := flag.String("client-tls-dir", "/etc/serverlessplane/client", "the gateway's client certificate for model pods and the operator CA: tls.crt, tls.key, ca.crt")
	domain := flag.String("domain", "serving.serverlessplane.local", "the gateway's host name: <workspace>.<domain> names a workspace")
	namespace := flag.String("namespace", os.Getenv("POD_NAMESPACE"), "the gateway's namespace, to count the replicas that share rate limits")
	service := flag.String("service", "serverlessplane-gateway", "the gateway's Service, to count the replicas that share rate limits; empty: one replica")
	holdCapacity := flag.Int("hold-capacity", 1000, "requests held per served entity at zero; past it 503")
	holdTimeout := flag.Duration("hold-timeout", 5*time.Minute, "how long a request is held for a served entity at zero; past it 503")
	holdBytes := flag.Int64("hold-bytes", 256<<20, "bytes of held requests (bodies, and 16 KiB each besides), all entities together; past it 503")
	holdShare := flag.Int64("hold-bytes-per-workspace", 0, "one workspace's share of --hold-bytes; past it 503 for that workspace only (default a quarter)")
	releasePerPod := flag.Int("release-per-pod", 4, "while an entity has held requests, how many this replica sends one of its pods at once, oldest first (set it to modelServing.concurrencyPerReplica)")
	statementQueue := flag.Int("statement-queue", 1000, "statements queued per warehouse; past it 429")
	perCluster := flag.Int("statements-per-cluster", 10, "statements sent to one warehouse cluster at once")
	resultTTL := flag.Duration("result-ttl", time.Hour, "how long a finished statement's result is kept before it is CLOSED")
	resultBytes := flag.Int64("result-bytes", 0, "bytes of kept statement results, all together; past it the oldest are CLOSED (default a quarter of the container's memory limit, 1 GiB without one)")
	textBytes := flag.Int64("statement-text-bytes", 0, "bytes of the texts of statements queued or running, all together; past it 503 (default a sixteenth of the container's memory limit, 64 MiB without one)")
	authTTL := flag.Duration("auth-cache-ttl", 10*time.Second, "how long a token review or access review is reused")
	drainGrace := flag.Duration("drain-grace", 5*time.Second, "on SIGTERM, how long to keep serving while endpoints drop this pod")
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	log := zap.New(zap.UseFlagOptions(&opts))
	ctrl.SetLogger(log)
	if *namespace == "" {
		*service = ""
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	cfg, err := ctrl.GetConfig()
	if err != nil {
		return err
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := computev1.AddToScheme(scheme); err != nil {
		return err
	}
	// Only the slices Kubernetes derives from Services are cached (model pods and the gateway's
	// own), and only the pods the operator places (warehouse engines, found by cluster).
	derived := labels.SelectorFromSet(labels.Set{discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io"})
	managed := labels.SelectorFromSet(labels.Set{computev1.LabelManagedBy: computev1.ManagedByValue})
	informers, err := cache.New(cfg, cache.Options{
		Scheme: scheme, DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{&discoveryv1.EndpointSlice{}: {Label: derived}, &corev1.Pod{}: {Label: managed}},
	})
	if err != nil {
		return err
	}
	writer, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	clientset, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	clk := clock.RealClock{}
	serving, err := files(*tlsDir, log)
	if err != nil {
		return err
	}
	upstream, err := files(*clientDir, log)
	if err != nil {
		return err
	}
	// What the gateway keeps for callers is bounded by what its container may hold.
	if limit, ok := memlimit.ContainerLimit("/"); ok {
		if *resultBytes <= 0 {
			*resultBytes = limit / 4
		}
		if *textBytes <= 0 {
			*textBytes = limit / 16
		}
	}
	metrics := gateway.NewMetrics()
	srv := gateway.New(gateway.Options{
		Reader: informers, Writer: writer,
		Auth:     &gateway.Authorizer{Client: clientset, Clock: clk, TTL: *authTTL},
		Upstream: upstream, Domain: *domain, Namespace: *namespace, Service: *service,
		HoldCapacity: *holdCapacity, HoldTimeout: *holdTimeout, HoldBytes: *holdBytes, HoldBytesPerWorkspace: *holdShare, ReleasePerPod: *releasePerPod, Clock: clk, Metrics: metrics, Log: log,
		StatementCapacity: *statementQueue, RunningPerCluster: *perCluster, ResultTTL: *resultTTL, ResultBytes: *resultBytes,
		StatementTextBytes: *textBytes,
	})
	// Informers for what every request reads, and a wake-up of held requests and queued
	// statements when slices or warehouse pods change.
	for _, obj := range []client.Object{&computev1.ModelEndpoint{}, &computev1.ServerlessWarehouse{}, &discoveryv1.EndpointSlice{}, &corev1.Pod{}} {
		inf, err := informers.GetInformer(ctx, obj)
		if err != nil {
			return err
		}
		switch obj.(type) {
		case *discoveryv1.EndpointSlice, *corev1.Pod:
			wake := func(any) { srv.Wake() }
			if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
				AddFunc: wake, UpdateFunc: func(_, o any) { wake(o) },
			}); err != nil {
				return err
			}
		}
	}
	go func() {
		if err := informers.Start(ctx); err != nil {
			log.Error(err, "informers stopped")
		}
	}()

	var ready, draining atomic.Bool
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() || draining.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	metricsServer := &http.Server{Addr: *metricsListen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	api := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		TLSConfig: serving.ServerConfig(nil)}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	errs := make(chan error, 2)
	go func() { errs <- metricsServer.ListenAndServe() }()
	go func() { errs <- api.Serve(tls.NewListener(ln, api.TLSConfig)) }()

	if !informers.WaitForCacheSync(ctx) {
		return errors.New("the informer caches did not sync")
	}
	go srv.Run(ctx)
	ready.Store(true)
	log.Info("gateway serving", "listen", *listen, "metrics", *metricsListen, "domain", *domain)

	select {
	case err := <-errs:
		return err
	case <-ctx.Done():
	}
	// Fail readiness first, keep serving while the endpoints drop this pod, then finish what
	// runs.
	draining.Store(true)
	time.Sleep(*drainGrace)
	shutdown, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = api.Shutdown(shutdown)
	return metricsServer.Shutdown(shutdown)
}

// files reads tls.crt, tls.key and ca.crt of a mounted Secret, re-read when it rotates.
func files(dir string, log logr.Logger) (*tlsfiles.Files, error) {
	f, err := tlsfiles.Load(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "ca.crt"), 5*time.Second, nil)
	if err != nil {
		return nil, err
	}
	f.OnReloadError = func(err error) { log.Error(err, "keeping the previous certificate", "dir", dir) }
	return f, nil
}
