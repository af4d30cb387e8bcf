package autoscaler

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

// policy is the warehouse policy with the operator's defaults: 10 queries per cluster at 70%.
func policy() Policy {
	return Policy{
		Min: 1, Max: 10, TargetPerReplica: 10, TargetUtilization: 0.7, Tolerance: 0.1,
		StableWindow: 60 * time.Second, PanicWindow: 6 * time.Second, PanicThreshold: 2,
		ScaleUpPercent: 100, ScaleUpReplicas: 4, ScaleUpPeriod: 15 * time.Second,
		ScaleDownStabilization: 5 * time.Minute,
	}
}

// at is a step of a scenario: the samples seen up to a time, and the decision expected then.
type step struct {
	at      time.Duration
	loads   []float64 // one sample per second ending at `at`
	wait    time.Duration
	current int32
	cap     int32
	want    int32
	reason  string // a substring of the reason
	noData  bool
}

func run(t *testing.T, p Policy, lastActive time.Time, steps []step) {
	t.Helper()
	s := &State{LastActive: lastActive}
	for i, st := range steps {
		now := t0.Add(st.at)
		for j, l := range st.loads {
			s.Observe(p, Sample{Time: now.Add(time.Duration(j-len(st.loads)+1) * time.Second), Load: l, QueueWait: st.wait})
		}
		capv := st.cap
		if capv == 0 {
			capv = -1
		}
		d := Decide(p, s, Input{Now: now, Current: st.current, Ready: st.current, Cap: capv})
		if diff := cmp.Diff(st.want, d.Desired); diff != "" {
			t.Fatalf("step %d at %s: desired (-want +got):\n%s\nreason: %s", i, st.at, diff, d.Reason)
		}
		if st.reason != "" && !strings.Contains(d.Reason, st.reason) {
			t.Fatalf("step %d: reason %q does not mention %q", i, d.Reason, st.reason)
		}
		if d.NoData != st.noData {
			t.Fatalf("step %d: NoData = %t, want %t", i, d.NoData, st.noData)
		}
		s.Record(now, st.current, d.Desired)
	}
}

func repeat(v float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func TestDecide(t *testing.T) {
	sec := time.Second
	scaleToZero := policy()
	scaleToZero.Min, scaleToZero.ScaleToZero, scaleToZero.IdleGrace = 0, true, 30*sec
	autoStop := policy()
	autoStop.ScaleToZero, autoStop.IdleGrace = true, 10*time.Minute
	queue := policy()
	queue.QueueWaitThreshold = 30 * sec
	queueObserved := queue
	queueObserved.Sizing = SizingObserved
	noPanic := policy()
	noPanic.PanicThreshold = 0

	tests := []struct {
		name       string
		policy     Policy
		lastActive time.Time
		steps      []step
	}{
		{
			name: "steady load at the target keeps the count", policy: policy(), lastActive: t0,
			steps: []step{{at: 60 * sec, loads: repeat(14, 60), current: 2, want: 2}},
		},
		{
			name: "load inside the tolerance band does not flap", policy: policy(), lastActive: t0,
			steps: []step{
				{at: 60 * sec, loads: repeat(21, 60), current: 3, want: 3, reason: "within 10%"},
				{at: 75 * sec, loads: repeat(22.5, 15), current: 3, want: 3},
				{at: 90 * sec, loads: repeat(19.5, 15), current: 3, want: 3},
				{at: 105 * sec, loads: repeat(22.9, 15), current: 3, want: 3},
			},
		},
		{
			name: "outside panic mode, growth is limited to the larger of 100% and 4 per 15s", policy: noPanic, lastActive: t0,
			steps: []step{
				{at: 60 * sec, loads: repeat(70, 60), current: 1, want: 5, reason: "scale-up limited to 5"},
				{at: 65 * sec, loads: repeat(70, 5), current: 5, want: 5, reason: "scale-up limited"},
				{at: 76 * sec, loads: repeat(70, 11), current: 5, want: 10},
			},
		},
		{
			name: "scale-down waits for the stabilization window", policy: policy(), lastActive: t0,
			steps: []step{
				{at: 60 * sec, loads: repeat(49, 60), current: 7, want: 7},
				{at: 180 * sec, loads: repeat(7, 120), current: 7, want: 7, reason: "stabilized"},
				{at: 359 * sec, loads: repeat(7, 179), current: 7, want: 7},
				{at: 361 * sec, loads: repeat(7, 2), current: 7, want: 1},
			},
		},
		{
			name: "a burst enters panic mode, which scales up at once, past the rate limit, and never down", policy: policy(), lastActive: t0,
			steps: []step{
				{at: 60 * sec, loads: repeat(14, 60), current: 2, want: 2},
				{at: 66 * sec, loads: repeat(60, 6), current: 2, want: 9, reason: "panic"},
				{at: 80 * sec, loads: repeat(3, 14), current: 9, want: 9},
				{at: 125 * sec, loads: repeat(3, 45), current: 9, want: 9},
			},
		},
		{
			name: "after the panic, scale-down stabilizes on the stable recommendations, not the panic's", policy: policy(), lastActive: t0,
			steps: []step{
				{at: 60 * sec, loads: repeat(14, 60), current: 2, want: 2},
				{at: 66 * sec, loads: repeat(60, 6), current: 2, want: 9, reason: "panic"},
				{at: 127 * sec, loads: repeat(14, 61), current: 9, want: 3, reason: "stabilized at 3"},
			},
		},
		{
			name: "idle scales to zero after the grace period, and the first request brings one back", policy: scaleToZero, lastActive: t0,
			steps: []step{
				{at: 20 * sec, loads: repeat(0, 20), current: 1, want: 1},
				{at: 31 * sec, loads: repeat(0, 11), current: 1, want: 0, reason: "scaling to zero"},
				{at: 45 * sec, loads: repeat(0, 14), current: 0, want: 0},
				{at: 46 * sec, loads: []float64{1}, current: 0, want: 1, reason: "arrived at zero"},
			},
		},
		{
			name: "a warehouse stops after autoStop idle and restarts at its minimum on queued queries", policy: autoStop, lastActive: t0,
			steps: []step{
				{at: 9 * time.Minute, loads: repeat(0, 60), current: 1, want: 1},
				{at: 10 * time.Minute, loads: repeat(0, 60), current: 1, want: 0},
				{at: 20 * time.Minute, loads: repeat(0, 60), current: 0, want: 0},
				{at: 20*time.Minute + sec, loads: []float64{25}, current: 0, want: 4, reason: "starting 4"},
			},
		},
		{
			name: "missing data keeps the count and never scales to zero", policy: scaleToZero, lastActive: t0,
			steps: []step{
				{at: 10 * time.Minute, current: 3, want: 3, reason: "no load data", noData: true},
				{at: 20 * time.Minute, current: 0, want: 0, noData: true},
			},
		},
		{
			name: "a new workload without data starts at its minimum", policy: autoStop, lastActive: t0,
			steps: []step{{at: sec, current: 0, want: 1, noData: true, reason: "starting the minimum"}},
		},
		{
			name: "the regional quota caps growth but never removes what runs", policy: policy(), lastActive: t0,
			steps: []step{
				{at: 60 * sec, loads: repeat(42, 60), current: 2, cap: 4, want: 4, reason: "capped at 4"},
				{at: 120 * sec, loads: repeat(42, 60), current: 4, cap: 3, want: 4, reason: "capped at 4"},
			},
		},
		{
			name: "a long queue wait adds a replica", policy: queue, lastActive: t0,
			steps: []step{{at: 60 * sec, loads: repeat(14, 60), wait: 45 * sec, current: 2, want: 3, reason: "waited 45s"}},
		},
		{
			name: "a long queue wait adds a replica with observed sizing too", policy: queueObserved, lastActive: t0,
			steps: []step{{at: 60 * sec, loads: repeat(14, 60), wait: 45 * sec, current: 2, want: 3, reason: "waited 45s"}},
		},
		{
			name: "bounds apply: max", policy: policy(), lastActive: t0,
			steps: []step{{at: 60 * sec, loads: repeat(1000, 60), current: 10, want: 10, reason: "maximum 10"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { run(t, tc.policy, tc.lastActive, tc.steps) })
	}
}

func TestObserveForgetsOldSamplesAndTracksActivity(t *testing.T) {
	p := policy()
	s := &State{}
	s.Observe(p, Sample{Time: t0, Load: 3})
	s.Observe(p, Sample{Time: t0.Add(30 * time.Second), Load: 0})
	s.Observe(p, Sample{Time: t0.Add(61 * time.Second), Load: 0})
	if len(s.Samples) != 2 {
		t.Fatalf("kept %d samples, want the 2 inside the 60s window", len(s.Samples))
	}
	if !s.LastActive.Equal(t0) {
		t.Fatalf("LastActive = %s, want %s, the last non-zero sample", s.LastActive, t0)
	}
}
