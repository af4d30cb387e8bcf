package autoscalebench

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fixed is an engine that always wants n replicas.
type fixed int32

func (f fixed) Name() string                             { return "fixed" }
func (f fixed) Tick() time.Duration                      { return time.Second }
func (f fixed) Observe(time.Time, float64, int32, int32) {}
func (f fixed) Decide(time.Time, int32, int32) int32     { return int32(f) }

func TestScoring(t *testing.T) {
	p := Params{Capacity: 10, Utilization: 0.7, ColdStart: 3 * time.Second, MaxReplicas: 10}
	tr := Trace{Name: "step", Demand: []float64{0, 0, 0, 0, 25, 25, 25, 0}}
	// The oracle starts 3 replicas 3s before the 3-second step and stops them after it.
	if got := Oracle(tr, p); got != 3*6 {
		t.Fatalf("oracle = %g replica-seconds, want 18", got)
	}
	r := Run(fixed(3), tr, p)
	if r.ReplicaSeconds != 24 || r.Violation != 0 {
		t.Fatalf("3 replicas from the start: %g replica-seconds, %g violation; want 24, 0", r.ReplicaSeconds, r.Violation)
	}
	r = Run(fixed(2), tr, p)
	if r.Violation != 3.0/8 {
		t.Fatalf("2 replicas serve 20 of 25 for 3 of 8 seconds: violation %g", r.Violation)
	}
}

// TestDefaultsAgainstPeers holds the default engine to what docs/autoscaler-benchmark.md
// claims: on the traces of seed 1 (6 hours) it dominates both the HPA and the KPA of the same
// run on at least 7 of the 9 traces, and on the traces of seeds 1 to 5 no peer ever dominates
// it. An engine that over-provisions, scales late or never scales down loses to a peer on
// cost or under-capacity.
func TestDefaultsAgainstPeers(t *testing.T) {
	p := Params{Capacity: 10, Utilization: 0.7, ColdStart: 10 * time.Second, MaxReplicas: 50}
	for seed := uint64(1); seed <= 5; seed++ {
		dominates := 0
		for _, a := range AgainstPeers(p, Traces(seed, 6*3600)) {
			if peer := a.DominatedBy(); peer != "" {
				t.Errorf("seed %d, %s: %s is dominated by %s: %.0f replica-seconds and %.2f%% under capacity, against HPA %.0f and %.2f%%, KPA %.0f and %.2f%%",
					seed, a.Ours.Trace, a.Ours.Engine, peer, a.Ours.ReplicaSeconds, a.Ours.Violation*100,
					a.HPA.ReplicaSeconds, a.HPA.Violation*100, a.KPA.ReplicaSeconds, a.KPA.Violation*100)
			}
			if a.Dominates() {
				dominates++
			}
		}
		if want := 7; seed == 1 && dominates < want {
			t.Errorf("seed 1: the defaults dominate both peers on %d of 9 traces, want at least %d", dominates, want)
		}
	}
}

func TestCompare(t *testing.T) {
	peer := Result{ReplicaSeconds: 100, Violation: 0.01}
	tests := []struct {
		name string
		r    Result
		want Verdict
	}{
		{"cheaper at the same under-capacity is better", Result{ReplicaSeconds: 90, Violation: 0.01}, Better},
		{"cheaper with less under-capacity is better", Result{ReplicaSeconds: 90, Violation: 0.005}, Better},
		{"the same on both is level", Result{ReplicaSeconds: 100, Violation: 0.01}, Level},
		{"cheaper with more under-capacity is mixed", Result{ReplicaSeconds: 90, Violation: 0.02}, Mixed},
		{"dearer at the same under-capacity is worse", Result{ReplicaSeconds: 110, Violation: 0.01}, Worse},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, Compare(tc.r, peer)); diff != "" {
				t.Errorf("verdict (-want +got):\n%s", diff)
			}
		})
	}
}
