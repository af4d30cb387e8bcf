package modelendpoint

import (
	"testing"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
)

func TestReplicaBounds(t *testing.T) {
	cfg := configv1.Default() // Small 0-4, Medium 8-16, Large 16-64; 4 per replica
	tests := []struct {
		size        computev1.WorkloadSize
		scaleToZero computev1.ScaleToZero
		want        bounds
	}{
		{computev1.WorkloadSmall, computev1.ScaleToZeroDisabled, bounds{Min: 1, Max: 1}},
		{computev1.WorkloadSmall, computev1.ScaleToZeroEnabled, bounds{Min: 0, Max: 1}},
		{computev1.WorkloadMedium, computev1.ScaleToZeroDisabled, bounds{Min: 2, Max: 4}},
		// Scale to zero lowers every size's floor to 0, not only Small's.
		{computev1.WorkloadMedium, computev1.ScaleToZeroEnabled, bounds{Min: 0, Max: 4}},
		{computev1.WorkloadLarge, computev1.ScaleToZeroDisabled, bounds{Min: 4, Max: 16}},
		{computev1.WorkloadLarge, computev1.ScaleToZeroEnabled, bounds{Min: 0, Max: 16}},
		// A size missing from the config serves with one replica rather than none.
		{"Huge", computev1.ScaleToZeroEnabled, bounds{Min: 1, Max: 1}},
	}
	for _, tc := range tests {
		e := &computev1.ServedEntity{WorkloadSize: tc.size, ScaleToZero: tc.scaleToZero}
		if got := replicaBounds(e, cfg); got != tc.want {
			t.Errorf("%s, scale to zero %s: %+v, want %+v", tc.size, tc.scaleToZero, got, tc.want)
		}
	}
}
