// Package controllers wires every reconciler of the operator into a controller-runtime manager.
package controllers

import (
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
)

// Options are what every reconciler shares.
type Options struct {
	// Config is the loaded operator configuration.
	Config *configv1.OperatorConfig
	// Clock is the time source; tests inject a fake one.
	Clock clock.WithTicker
}

// SetupWithManager registers every reconciler with mgr.
func SetupWithManager(mgr ctrl.Manager, opts Options) error {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	return nil
}
