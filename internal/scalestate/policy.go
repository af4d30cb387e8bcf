package scalestate

import (
	"time"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	"github.com/serverlessplane/operator/pkg/autoscaler"
)

// BasePolicy is the part of every workload's policy that the operator configuration's
// autoscaling section sets: the utilization target and tolerance, the stable and panic windows,
// the scale-up limits, the scale-down stabilization and the scale-to-zero grace. Each kind adds
// its bounds, its per-replica target and whether it may scale to zero.
func BasePolicy(a *configv1.Autoscaling) autoscaler.Policy {
	return autoscaler.Policy{
		TargetUtilization: a.TargetUtilization, Tolerance: a.Tolerance,
		StableWindow:   a.StableWindow.Duration,
		PanicWindow:    time.Duration(float64(a.StableWindow.Duration) * a.PanicWindowPercent / 100),
		PanicThreshold: a.PanicThresholdPercent / 100,
		ScaleUpPercent: a.ScaleUpLimitPercent, ScaleUpReplicas: a.ScaleUpLimitReplicas, ScaleUpPeriod: a.ScaleUpPeriod.Duration,
		ScaleDownStabilization: a.ScaleDownStabilization.Duration,
		IdleGrace:              a.ScaleToZeroGracePeriod.Duration,
	}
}
