package modelendpoint

import (
	"strings"
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

func TestUnconfigured(t *testing.T) {
	cfg := configv1.Default()
	cfg.ModelServing.WorkloadTypes = cfg.ModelServing.WorkloadTypes[:1] // CPU only
	cfg.ModelServing.WorkloadSizes = cfg.ModelServing.WorkloadSizes[:2] // Small, Medium
	entity := func(typ computev1.WorkloadType, size computev1.WorkloadSize) computev1.ServedEntity {
		return computev1.ServedEntity{WorkloadType: typ, WorkloadSize: size}
	}
	tests := []struct {
		name     string
		entities []computev1.ServedEntity
		says     string // "" when every entity's type and size are offered
	}{
		{"offered", []computev1.ServedEntity{entity("CPU", "Small"), entity("CPU", "Medium")}, ""},
		{"type", []computev1.ServedEntity{entity("CPU", "Small"), entity("GPU_SMALL", "Small")},
			`spec.servedEntities[1].workloadType "GPU_SMALL" is not a workload type of the operator configuration (CPU)`},
		{"size", []computev1.ServedEntity{entity("CPU", "Large")},
			`spec.servedEntities[0].workloadSize "Large" is not a workload size of the operator configuration (Small, Medium)`},
	}
	for _, tc := range tests {
		ep := &computev1.ModelEndpoint{Spec: computev1.ModelEndpointSpec{ServedEntities: tc.entities}}
		got := unconfigured(ep, cfg)
		if (tc.says == "") != (got == "") || !strings.HasPrefix(got, tc.says) {
			t.Errorf("%s: %q, want it to start with %q", tc.name, got, tc.says)
		}
	}
}
