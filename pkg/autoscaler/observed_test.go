package autoscaler

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// observed is a served entity's policy with SizingObserved: 10 per replica, a 60s stable
// window and a 6s panic window (so a drop must last 3s).
func observed() Policy {
	p := policy()
	p.Max, p.Sizing, p.ScaleDownStabilization = 50, SizingObserved, 0
	return p
}

// alternate is n one-second samples alternating between a and b, a first.
func alternate(a, b float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = a
		if i%2 == 1 {
			out[i] = b
		}
	}
	return out
}

func TestDecideObserved(t *testing.T) {
	sec := time.Second
	toZero := observed()
	toZero.Min, toZero.ScaleToZero, toZero.IdleGrace = 0, true, 30*sec
	kpaLike := observed()
	kpaLike.Sizing = SizingUtilization

	tests := []struct {
		name       string
		policy     Policy
		lastActive time.Time
		steps      []step
	}{
		{
			// Noise 25%: 55 × (1 + 0.3 × 0.25) = 59.2 fits 6 replicas; the utilization target
			// wants ceil(50 / 7) = 8.
			name: "a noisy steady load is sized for its peak plus a share of its noise, at the full per-replica target", policy: observed(), lastActive: t0,
			steps: []step{{at: 60 * sec, loads: alternate(45, 55, 60), current: 6, want: 6, reason: "peak load 55 in 1m0s +7.6%"}},
		},
		{
			name: "opting into Utilization sizes the same load like the KPA", policy: kpaLike, lastActive: t0,
			steps: []step{{at: 60 * sec, loads: alternate(45, 55, 60), current: 6, want: 8, reason: "over target 7.0"}},
		},
		{
			// 56 × 1.043 = 58.4 fits 6, but 56 × 1.086 = 60.8 does not.
			name: "a scale-down waits until the peak fits the smaller count with twice the margin", policy: observed(), lastActive: t0,
			steps: []step{{at: 60 * sec, loads: alternate(50, 56, 60), current: 7, want: 7, reason: "held at 7"}},
		},
		{
			name: "a scale-down goes ahead once the peak fits with twice the margin", policy: observed(), lastActive: t0,
			steps: []step{{at: 60 * sec, loads: alternate(50, 54, 60), current: 7, want: 6, reason: "peak load 54"}},
		},
		{
			// Noise 12.7%: the rise gets 25% headroom, 100 × 1.25 = 125, at once and past the
			// scale-up rate limit (3 + 4 per 15s).
			name: "a sample above every earlier one is sized with twice the noise as headroom, at once", policy: observed(), lastActive: t0,
			steps: []step{
				{at: 60 * sec, loads: alternate(19, 21, 60), current: 3, want: 3},
				{at: 61 * sec, loads: []float64{100}, current: 3, want: 13, reason: "load rose to 100: +25% headroom"},
			},
		},
		{
			name: "a start from zero uses the utilization target, as does a load without observed noise", policy: toZero, lastActive: t0,
			steps: []step{
				{at: 0, loads: []float64{30}, current: 0, want: 5, reason: "arrived at zero: starting 5"},
				{at: 2 * sec, loads: []float64{30, 30}, current: 5, want: 5, reason: "no noise observed: +43% headroom"},
			},
		},
		{
			// After the drop the window is 2s old: 40.1 × 1.253 = 50.2 needs 6, its peak only 5.
			name: "a young window sizes its average with the remembered noise", policy: observed(), lastActive: t0,
			steps: []step{
				{at: 60 * sec, loads: alternate(190, 210, 60), current: 22, want: 22},
				{at: 63 * sec, loads: []float64{40.1, 40.1, 40.1}, current: 22, want: 6, reason: "seen for 2s only: +25% headroom"},
			},
		},
		{
			name: "a sharp drop is followed once it lasted half a panic window, and a wrong guess costs one rise", policy: observed(), lastActive: t0,
			steps: []step{
				{at: 60 * sec, loads: alternate(190, 210, 60), current: 22, want: 22},
				{at: 61 * sec, loads: []float64{20}, current: 22, want: 22, reason: "peak load 210"},
				{at: 63 * sec, loads: []float64{20, 20}, current: 22, want: 3, reason: "load fell below 50% of its peak for 3s"},
				{at: 65 * sec, loads: []float64{20, 200}, current: 3, want: 26, reason: "load rose to 200"},
			},
		},
		{
			name: "with sparse samples one low sample is not a sustained drop", policy: observed(), lastActive: t0,
			steps: []step{
				{at: 15 * sec, loads: []float64{200}, current: 29, want: 29},
				{at: 30 * sec, loads: []float64{200}, current: 29, want: 29},
				{at: 45 * sec, loads: []float64{20}, current: 29, want: 20, reason: "peak load 200"},
			},
		},
		{
			name: "without observed noise (a slow tick) the average gets the utilization target's headroom", policy: observed(), lastActive: t0,
			steps: []step{
				{at: 15 * sec, loads: []float64{50}, current: 8, want: 8},
				{at: 30 * sec, loads: []float64{50}, current: 8, want: 8},
				{at: 45 * sec, loads: []float64{50}, current: 8, want: 8},
				{at: 60 * sec, loads: []float64{50}, current: 8, want: 8, reason: "load 50.0, no noise observed: +43% headroom"},
			},
		},
		{
			name: "an idle drop goes to one at once and to zero after the grace period", policy: toZero, lastActive: t0,
			steps: []step{
				{at: 60 * sec, loads: alternate(38, 42, 60), current: 5, want: 5},
				{at: 63 * sec, loads: repeat(0, 3), current: 5, want: 1, reason: "raised to the minimum 1"},
				{at: 91 * sec, loads: repeat(0, 28), current: 1, want: 0, reason: "idle for 31s (grace 30s): scaling to zero"},
			},
		},
		{
			name: "missing data keeps the count", policy: observed(), lastActive: t0,
			steps: []step{{at: 10 * time.Minute, current: 4, want: 4, reason: "no load data", noData: true}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { run(t, tc.policy, tc.lastActive, tc.steps) })
	}
}

func TestRelativeNoise(t *testing.T) {
	samples := func(loads ...float64) []Sample {
		out := make([]Sample, len(loads))
		for i, l := range loads {
			out[i] = Sample{Time: t0.Add(time.Duration(i) * time.Second), Load: l}
		}
		return out
	}
	tests := []struct {
		name    string
		samples []Sample
		want    float64
	}{
		{"a constant load has no noise", samples(repeat(20, 20)...), 0},
		{"alternating 10% apart is 0.1 / 0.790", samples(alternate(19, 21, 20)...), 0.1 / 0.790},
		{"a burst's edge is left out", samples(append(alternate(19, 21, 19), 200)...), 0.1 / 0.790},
		{"idle samples are left out", samples(append(repeat(0, 10), alternate(19, 21, 10)...)...), 0.1 / 0.790},
		{"too few pairs say nothing", samples(19, 21, 19, 21, 19, 21), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, relativeNoise(tc.samples), cmpopts.EquateApprox(0, 1e-9)); diff != "" {
				t.Errorf("noise (-want +got):\n%s", diff)
			}
		})
	}
}
