// Package controllers wires every reconciler of the operator into a controller-runtime manager.
package controllers

import (
	"context"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/controllers/modelendpoint"
	"github.com/serverlessplane/operator/controllers/ncc"
	"github.com/serverlessplane/operator/controllers/warehouse"
	"github.com/serverlessplane/operator/controllers/workspace"
	"github.com/serverlessplane/operator/internal/apply"
	"github.com/serverlessplane/operator/internal/indexes"
	"github.com/serverlessplane/operator/pkg/metrics"
)

// Leader election, in the operator namespace only.
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete,namespace=serverlessplane-system
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch,namespace=serverlessplane-system

// Options are what every reconciler shares.
type Options struct {
	// Config is the loaded operator configuration.
	Config *configv1.OperatorConfig
	// Clock is the time source; tests inject a fake one.
	Clock clock.WithTicker
	// Metrics is where the autoscaler reads load; built from Config when nil.
	Metrics metrics.Source
	// MaxConcurrentReconciles is the number of workers per controller (default 1).
	MaxConcurrentReconciles int
}

// CacheOptions limits the manager's cache of the kinds the operator creates to the objects it
// created (labelled managed-by serverlessplane): it never holds every Secret or Pod of the
// cluster in memory, and it drops every object's managedFields.
func CacheOptions() cache.Options {
	managed := labels.SelectorFromSet(labels.Set{computev1.LabelManagedBy: computev1.ManagedByValue})
	byObject := map[client.Object]cache.ByObject{}
	for _, o := range []client.Object{
		&appsv1.Deployment{}, &corev1.Namespace{}, &corev1.Service{}, &corev1.ServiceAccount{}, &corev1.ResourceQuota{},
		&corev1.LimitRange{}, &corev1.ConfigMap{}, &corev1.Secret{}, &corev1.Pod{},
		&discoveryv1.EndpointSlice{}, &networkingv1.NetworkPolicy{}, &rbacv1.RoleBinding{},
	} {
		byObject[o] = cache.ByObject{Label: managed}
	}
	// Server-side apply makes managedFields the largest part of most objects; nothing reads
	// them from the cache, and an update without them keeps the server's. Pod specs,
	// NetworkPolicy rules and workload certificates' keys are most of what is left, and only
	// the apply compares them (against the API server's copy): apply.Lean drops them.
	return cache.Options{ByObject: byObject, DefaultTransform: apply.Lean(cache.TransformStripManagedFields())}
}

// SetupWithManager registers every reconciler and index with mgr.
func SetupWithManager(mgr ctrl.Manager, opts Options) error {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Metrics == nil {
		source, err := metrics.FromConfig(opts.Config, mgr.GetAPIReader())
		if err != nil {
			return err
		}
		opts.Metrics = source
	}
	if err := indexes.Setup(context.Background(), mgr.GetFieldIndexer()); err != nil {
		return err
	}
	if err := (&workspace.Reconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Config: opts.Config, Clock: opts.Clock,
		Recorder: mgr.GetEventRecorder("serverlessplane-workspace"),
	}).SetupWithManager(mgr); err != nil {
		return err
	}
	if err := (&ncc.Reconciler{
		Client: mgr.GetClient(), Config: opts.Config, Clock: opts.Clock,
		Recorder: mgr.GetEventRecorder("serverlessplane-ncc"),
	}).SetupWithManager(mgr); err != nil {
		return err
	}
	authority := &modelendpoint.Authority{
		Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Config: opts.Config, Clock: opts.Clock,
		Applier: apply.New(mgr.GetClient(), mgr.GetAPIReader(), apply.FieldManager("certificates")),
	}
	// The gateway's certificates exist before the first endpoint does: it starts with them.
	if err := mgr.Add(authority); err != nil {
		return err
	}
	// One ledger for both: its changes and its repair share a lock per region.
	ledger := &warehouse.Ledger{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Namespace: opts.Config.OperatorNamespace, Config: opts.Config}
	if err := (&warehouse.Reconciler{
		Client: mgr.GetClient(), Config: opts.Config, Clock: opts.Clock, Metrics: opts.Metrics,
		Recorder:                mgr.GetEventRecorder("serverlessplane-warehouse"),
		CA:                      authority,
		Quota:                   &warehouse.Quota{Ledger: ledger, Config: opts.Config},
		MaxConcurrentReconciles: opts.MaxConcurrentReconciles,
	}).SetupWithManager(mgr); err != nil {
		return err
	}
	if err := (&warehouse.LedgerRepair{
		Config: opts.Config, Period: time.Minute, Ledger: ledger,
	}).SetupWithManager(mgr); err != nil {
		return err
	}
	return (&modelendpoint.Reconciler{
		Client: mgr.GetClient(), Config: opts.Config, Clock: opts.Clock, Metrics: opts.Metrics,
		Recorder:                mgr.GetEventRecorder("serverlessplane-modelendpoint"),
		MaxConcurrentReconciles: opts.MaxConcurrentReconciles,
		Authority:               authority,
	}).SetupWithManager(mgr)
}

// AddToScheme registers every kind the operator reads or writes.
func AddToScheme(s *runtime.Scheme) error {
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, computev1.AddToScheme, gatewayv1.Install} {
		if err := add(s); err != nil {
			return err
		}
	}
	return nil
}
