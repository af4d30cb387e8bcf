package autoscaler

import (
	"slices"
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

// ceiling puts highs into loads, spread evenly over them, so that a load keeps reaching the
// same ceiling without rising.
func ceiling(loads []float64, highs ...float64) []float64 {
	out := slices.Clone(loads)
	for i, h := range highs {
		out[(2*i+1)*len(out)/(2*len(highs))] = h
	}
	return out
}

// ramp is n one-second samples from start rising by slope a second, alternately noise below
// and above the line.
func ramp(start, slope, noise float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = start + slope*float64(i) - noise
		if i%2 == 1 {
			out[i] += 2 * noise
		}
	}
	return out
}

// spike is loads with the sample at i set to v.
func spike(loads []float64, i int, v float64) []float64 {
	out := slices.Clone(loads)
	out[i] = v
	return out
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
			// The six highest samples are 48, 48, 47, 47, 46, 46: a mean gap of 0.4, and 48.4 fits
			// 5 replicas. A share of its noise (25%) would add 3.6 and a sixth; the utilization
			// target wants ceil(40 / 7) = 6.
			name: "a load that keeps reaching the same ceiling is sized for its peak plus the mean gap between its six highest samples", policy: observed(), lastActive: t0,
			steps: []step{{at: 60 * sec, loads: ceiling(alternate(36, 44, 60), 48, 48, 47, 47, 46, 46), current: 5, want: 5,
				reason: "peak load 48 in 1m0s +0.4 for the gaps between its 6 highest samples"}},
		},
		{
			name: "opting into Utilization sizes the same load like the KPA", policy: kpaLike, lastActive: t0,
			steps: []step{{at: 60 * sec, loads: ceiling(alternate(36, 44, 60), 48, 48, 47, 47, 46, 46), current: 5, want: 6, reason: "over target 7.0"}},
		},
		{
			// Noise 14.3%: 56 × (1 + 2 × 0.3 × 0.143) = 60.8 needs the 7 the peak of 64 asked
			// for 40s ago, although the 64 has left the window.
			name: "a scale-down waits while the peak fits the count it asked for in the window only with twice the margin", policy: observed(), lastActive: t0,
			steps: []step{
				{at: 60 * sec, loads: ceiling(alternate(50, 56, 60), 64), current: 7, want: 7, reason: "peak load 64"},
				{at: 100 * sec, loads: alternate(50, 56, 40), current: 7, want: 7, reason: "held at 7, which the peak asked for in 1m0s"},
			},
		},
		{
			name: "a count the peak never asked for is not held", policy: observed(), lastActive: t0,
			steps: []step{{at: 60 * sec, loads: alternate(50, 56, 60), current: 7, want: 6, reason: "peak load 56"}},
		},
		{
			// Noise 12.7%: the rise gets 25% headroom, 100 × 1.25 = 125, at once and past the
			// scale-up rate limit (3 + 4 per 15s). Two samples later the level has three samples,
			// too few for the gap: 100 × (1 + 0.3 × 0.12) = 103.6 needs 11 (the noise now counts
			// the level's pairs too), and the peak never asked for the 13.
			name: "a rise beyond the noise is sized with twice the noise as headroom at once, and the headroom is not held", policy: observed(), lastActive: t0,
			steps: []step{
				{at: 60 * sec, loads: alternate(19, 21, 60), current: 3, want: 3},
				{at: 61 * sec, loads: []float64{100}, current: 3, want: 13, reason: "load rose to 100: +25% headroom"},
				{at: 63 * sec, loads: []float64{100, 100}, current: 13, want: 11, reason: "peak load 100 in 1m0s +3.6% for its noise"},
			},
		},
		{
			// 22 is above every earlier sample but within twice the noise (25%) of 21: the peak
			// rule sizes it, 22 + (22 - 21) / 5 = 22.2.
			name: "a new high within the noise is not a rise", policy: observed(), lastActive: t0,
			steps: []step{{at: 60 * sec, loads: append(alternate(19, 21, 59), 22), current: 3, want: 3, reason: "peak load 22 in 1m0s +0.2 for the gaps"}},
		},
		{
			// 20 + 0.5/s with ±1 of noise over two minutes: the line rises 0.5/s, far beyond its
			// standard error, and the next minute adds 30 to the peak of 80.5 and its gap of 0.7:
			// 111.2 needs 12 replicas, where the peak alone would keep 9.
			name: "a load rising beyond its noise is sized for the peak it reaches over the next stable window", policy: observed(), lastActive: t0,
			steps: []step{{at: 120 * sec, loads: ramp(20, 0.5, 1, 120), current: 10, want: 12, reason: "+30.0 for its rise of 0.500/s over the next 1m0s"}},
		},
		{
			// 100 + 0.006/s with ±2 of noise (5.1%) for ten minutes: over the last five minutes
			// the rise is within three standard errors (0.010/s), over ten it is not (0.0036/s).
			// The window's peak, 105.6 plus its gap and the rise of the next minute, fits 11;
			// the 108 of eight minutes ago, carried along the rise to now, is at 110.8, and
			// with the rise of the next minute needs 12.
			name: "a slowly climbing level is sized for its earlier highs carried along its rise", policy: observed(), lastActive: t0,
			steps: []step{{at: 599 * sec, loads: spike(ramp(100, 0.006, 2, 600), 120, 108), current: 11, want: 12,
				reason: "or 108 of 7m59s ago carried along its rise of 0.006/s to 110.8 +0.4"}},
		},
		{
			// 160 - 0.05/s with ±2 of noise: the window's samples peak at 134.9, 14 replicas; the
			// 146 of two minutes ago, carried along the fall, is at 140.1 now and needs 15.
			name: "a falling level is sized for its earlier highs carried along its fall", policy: observed(), lastActive: t0,
			steps: []step{{at: 599 * sec, loads: spike(ramp(160, -0.05, 2, 600), 480, 146), current: 15, want: 15,
				reason: "or 146 of 1m59s ago carried along its fall of 0.050/s to 140.1"}},
		},
		{
			name: "a start from zero uses the utilization target, as does a load without observed noise", policy: toZero, lastActive: t0,
			steps: []step{
				{at: 0, loads: []float64{30}, current: 0, want: 5, reason: "arrived at zero: starting 5"},
				{at: 2 * sec, loads: []float64{30, 30}, current: 5, want: 5, reason: "no noise observed: +43% headroom"},
			},
		},
		{
			// The fall's three samples are the new window, 2s old: 40.1 × 1.253 = 50.2 needs 6,
			// its peak only 5.
			name: "a young window sizes its average with the remembered noise", policy: observed(), lastActive: t0,
			steps: []step{
				{at: 60 * sec, loads: alternate(190, 210, 60), current: 21, want: 21},
				{at: 63 * sec, loads: []float64{40.1, 40.1, 40.1}, current: 21, want: 6, reason: "seen for 2s only: +25% headroom"},
			},
		},
		{
			// Noise 12.7%: 20 is below half the peak of 210 and below the mean 200 × (1 - 4 × 0.127).
			name: "a fall no observed noise explains is followed at its first sample, and a wrong guess costs one rise", policy: observed(), lastActive: t0,
			steps: []step{
				{at: 60 * sec, loads: alternate(190, 210, 60), current: 21, want: 21},
				{at: 61 * sec, loads: []float64{20}, current: 21, want: 3, reason: "load fell to 20, below 50% of its peak and 4 deviations of its noise below its mean"},
				{at: 63 * sec, loads: []float64{20, 200}, current: 3, want: 26, reason: "load rose to 200"},
			},
		},
		{
			// Noise 10.1%: 19 is below half the peak of 40, but the level's mean is 25.2 and four
			// deviations below it reach 15: a noisy load dips that far by chance, as independent
			// arrivals do. Measured from the peak, the floor was 20 and the dip was followed.
			name: "a dip within four deviations of the level's mean is noise, however far below the peak", policy: observed(), lastActive: t0,
			steps: []step{
				{at: 60 * sec, loads: spike(alternate(24, 26, 60), 30, 40), current: 5, want: 5},
				{at: 61 * sec, loads: []float64{19}, current: 5, want: 5, reason: "peak load 40"},
			},
		},
		{
			// Noise 16.4%: 4 deviations reach 98.5 × 0.345 = 34, so 40, below half the peak, might
			// still be noise until it lasted 3s.
			name: "a fall the noise might explain is followed once it lasted half a panic window", policy: observed(), lastActive: t0,
			steps: []step{
				{at: 60 * sec, loads: alternate(92, 105, 60), current: 11, want: 11},
				{at: 61 * sec, loads: []float64{40}, current: 11, want: 11, reason: "peak load 105"},
				{at: 63 * sec, loads: []float64{40, 40}, current: 11, want: 6, reason: "load fell below 50% of its peak for 3s"},
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
			name: "a window without load holds nothing", policy: toZero, lastActive: t0,
			steps: []step{{at: 60 * sec, loads: repeat(0, 60), current: 2, want: 0, reason: "idle for 1m0s (grace 30s): scaling to zero"}},
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

// seconds is one sample a second from t0.
func seconds(loads ...float64) []Sample {
	out := make([]Sample, len(loads))
	for i, l := range loads {
		out[i] = Sample{Time: t0.Add(time.Duration(i) * time.Second), Load: l}
	}
	return out
}

func TestLevelStart(t *testing.T) {
	tests := []struct {
		name    string
		samples []Sample
		noise   float64
		want    int
	}{
		{"a steady level began with the samples", seconds(alternate(19, 21, 20)...), 0.1, 0},
		{"a start from zero begins a level at the first load", seconds(append(repeat(0, 10), alternate(38, 42, 10)...)...), 0.1, 10},
		{"a burst beyond twice the noise begins a level", seconds(append(alternate(19, 21, 10), 200, 190)...), 0.1, 10},
		{"a new high within twice the noise does not", seconds(append(alternate(19, 21, 10), 24)...), 0.1, 0},
		{"without observed noise no level can be told apart", seconds(append(alternate(19, 21, 10), 200)...), 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, levelStart(pointsOf(tc.samples), tc.noise)); diff != "" {
				t.Errorf("level start (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTrend(t *testing.T) {
	type result struct {
		Slope    float64
		Trending bool
	}
	tests := []struct {
		name    string
		samples []Sample
		noise   float64
		want    result
	}{
		{"a ramp rises at its slope", seconds(ramp(20, 0.5, 0, 60)...), 0.05, result{0.5, true}},
		{"a falling ramp falls at its slope", seconds(ramp(50, -0.5, 0, 60)...), 0.05, result{-0.5, true}},
		{"a flat noisy level does not rise", seconds(alternate(38, 42, 60)...), 0.1, result{0.0033, false}},
		// Three standard errors of the slope of 60 samples with 15% of noise at 21 are 0.07/s.
		{"a slope the noise could show by chance does not count", seconds(ramp(20, 0.05, 0, 60)...), 0.15, result{0.05, false}},
		{"too short a span says nothing", seconds(ramp(20, 0.5, 0, 20)...), 0.05, result{0, false}},
		{"without observed noise nothing rises", seconds(ramp(20, 0.5, 0, 60)...), 0, result{0, false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			slope, ok := trend(pointsOf(tc.samples), tc.noise, 30*time.Second)
			if diff := cmp.Diff(tc.want, result{slope, ok}, cmpopts.EquateApprox(0, 1e-3)); diff != "" {
				t.Errorf("trend (-want +got):\n%s", diff)
			}
		})
	}
}
