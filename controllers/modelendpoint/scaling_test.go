package modelendpoint

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/utils/ptr"

	configv1 "github.com/serverlessplane/operator/api/config/v1alpha1"
	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
	"github.com/serverlessplane/operator/internal/scalestate"
	"github.com/serverlessplane/operator/pkg/autoscaler"
	"github.com/serverlessplane/operator/pkg/metrics"
)

func TestDecideReplicas(t *testing.T) {
	// Small serves 0-4 in flight (one replica), Medium 8-16 (2-4), Large 16-64 (4-16); each
	// replica is targeted at 4 x 0.7 = 2.8 in flight; scale to zero waits 30s of idleness.
	cfg := configv1.Default()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	noRoute := errors.New("no route to host")
	type result struct {
		Desired  int32
		NoData   bool
		InFlight *float64
		Err      error
		// Samples is how many load samples the entity's autoscaler memory holds after the pass.
		Samples int
	}
	tests := []struct {
		name        string
		size        computev1.WorkloadSize
		scaleToZero bool
		// idleFor is how long the entity had no load before the pass.
		idleFor time.Duration
		obs     loadObservation
		want    result
	}{
		{
			name: "an unreadable load holds the count and is not taken for no load",
			size: computev1.WorkloadMedium, obs: loadObservation{err: noRoute, current: 3, ready: 3},
			want: result{Desired: 3, NoData: true, Err: noRoute},
		},
		{
			name: "without a metrics source the count is held",
			size: computev1.WorkloadMedium, obs: loadObservation{err: metrics.ErrDisabled, current: 2, ready: 2},
			want: result{Desired: 2, NoData: true, Err: metrics.ErrDisabled},
		},
		{
			name: "a new entity without load data starts at its size's minimum",
			size: computev1.WorkloadMedium, obs: loadObservation{err: noRoute},
			want: result{Desired: 2, NoData: true, Err: noRoute},
		},
		{
			name: "a request the gateway holds starts an entity at zero though its pods report nothing",
			size: computev1.WorkloadSmall, scaleToZero: true, idleFor: time.Hour,
			obs:  loadObservation{err: noRoute, activated: true},
			want: result{Desired: 1, InFlight: ptr.To(1.0), Samples: 1},
		},
		{
			name: "a request the gateway holds adds nothing to a load the pods report",
			size: computev1.WorkloadLarge, scaleToZero: true,
			obs:  loadObservation{inFlight: 10, activated: true},
			want: result{Desired: 4, InFlight: ptr.To(10.0), Samples: 1},
		},
		{
			name: "the first load at zero starts enough replicas for it at once",
			size: computev1.WorkloadLarge, scaleToZero: true, idleFor: time.Hour,
			obs:  loadObservation{inFlight: 10},
			want: result{Desired: 4, InFlight: ptr.To(10.0), Samples: 1},
		},
		{
			name: "a load beyond the size's range is limited to its maximum",
			size: computev1.WorkloadMedium, obs: loadObservation{inFlight: 1000, current: 4, ready: 4},
			want: result{Desired: 4, InFlight: ptr.To(1000.0), Samples: 1},
		},
		{
			name: "an idle entity within the grace keeps one replica",
			size: computev1.WorkloadSmall, scaleToZero: true, idleFor: 10 * time.Second,
			obs:  loadObservation{current: 1, ready: 1},
			want: result{Desired: 1, InFlight: ptr.To(0.0), Samples: 1},
		},
		{
			name: "an entity idle past the grace scales to zero",
			size: computev1.WorkloadSmall, scaleToZero: true, idleFor: 31 * time.Second,
			obs:  loadObservation{current: 1, ready: 1},
			want: result{Desired: 0, InFlight: ptr.To(0.0), Samples: 1},
		},
		{
			name: "without scale to zero an idle entity keeps its size's minimum",
			size: computev1.WorkloadMedium, idleFor: time.Hour,
			obs:  loadObservation{current: 2, ready: 2},
			want: result{Desired: 2, InFlight: ptr.To(0.0), Samples: 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := &computev1.ServedEntity{Name: "a", WorkloadSize: tc.size, WorkloadType: computev1.WorkloadCPU, ScaleToZero: computev1.ScaleToZeroDisabled}
			if tc.scaleToZero {
				e.ScaleToZero = computev1.ScaleToZeroEnabled
			}
			states := &scalestate.Store{}
			st := states.Get("ws/churn/a", func() *autoscaler.State { return &autoscaler.State{LastActive: now.Add(-tc.idleFor)} })
			s := decideReplicas(states, "ws/churn/a", entityPolicy(e, cfg), tc.obs, now)
			got := result{Desired: s.decision.Desired, NoData: s.decision.NoData, InFlight: s.inFlight, Err: s.err, Samples: len(st.Samples)}
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b error) bool { return errors.Is(a, b) })); diff != "" {
				t.Errorf("decideReplicas (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecideReplicasRecordsScaleEvents(t *testing.T) {
	// The scale-up rate limit counts the changes a pass decided: a held count is no event.
	cfg := configv1.Default()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e := &computev1.ServedEntity{Name: "a", WorkloadSize: computev1.WorkloadLarge, WorkloadType: computev1.WorkloadCPU, ScaleToZero: computev1.ScaleToZeroEnabled}
	states := &scalestate.Store{}
	decideReplicas(states, "ws/churn/a", entityPolicy(e, cfg), loadObservation{inFlight: 10}, now)
	decideReplicas(states, "ws/churn/a", entityPolicy(e, cfg), loadObservation{err: errors.New("timeout"), current: 4, ready: 4}, now.Add(2*time.Second))
	st := states.Get("ws/churn/a", nil)
	want := []autoscaler.ScaleEvent{{Time: now, Change: 4}}
	if diff := cmp.Diff(want, st.ScaleEvents); diff != "" {
		t.Errorf("scale events (-want +got):\n%s", diff)
	}
}
