// Package autoscaler decides how many replicas (warehouse clusters or model server replicas) a
// workload should run. It has no client and no clock of its own: callers pass the time, the
// current count, the load samples and a policy, and get the desired count and the reason.
//
// Two sizings turn load into a count. SizingUtilization, the zero value and the warehouses'
// sizing, is the Kubernetes HPA's and the Knative KPA's rule. Its rules, in the order they
// apply:
//
//  1. desired = ceil(load / (target per replica × target utilization)), from the load averaged
//     over the stable window (Knative KPA);
//  2. inside the tolerance band around the current count nothing changes (Kubernetes HPA);
//  3. panic mode: when the load over the short panic window reaches the panic threshold of the
//     current capacity, the panic window's recommendation is used and the count cannot go down
//     until the panic ends a stable window later (Knative KPA);
//  4. a long queue wait adds one replica (Databricks SQL warehouses);
//  5. outside panic mode, scale-up is limited to the larger of a percentage and a number of
//     replicas per period, and scale-down takes the highest recommendation of the
//     stabilization window (HPA behaviors and their defaults).
//
// SizingObserved, the served entities' default, pays for the headroom the load shows it needs
// instead of a fixed 30%: a fixed utilization target buys too much headroom for a quiet load
// and too little for a noisy one, and the average of a window lags every burst and every drop.
// Its rules, each named in the reason of the decision it makes:
//
//  1. "peak load": desired = ceil((peak + margin) / target per replica), the highest sample of
//     the stable window at the full per-replica target, plus a margin for the seconds between
//     samples: the mean gap between the six highest samples of the current level, which is a
//     fraction of a request for a load that keeps reaching the same ceiling and more for a
//     load seen in few samples. The current level begins at the last sample above every
//     earlier one by more than twice the noise (a rise, a start from zero) or at a fall (rule
//     6); until it has six samples in the window, the margin is 0.3 of the observed noise. The
//     noise is the load's relative standard deviation, estimated from the changes between
//     consecutive samples (robust to a burst's edge and a slow ramp), and remembered across a
//     drop. "no noise observed": until six pairs of samples show some (a 15s tick never does
//     in a 60s window), the average gets the utilization target's headroom instead, which
//     makes a slow tick size like the KPA;
//  2. "for its rise of": when the least-squares line through the current level's samples of
//     the last ten stable windows (one at least) rises by more than three standard errors
//     (from the observed noise), the peak also gets that rise over the next stable window: a
//     replica must be started before a climbing load reaches it, and the peak of the past
//     minute lags a climb. A level that does not climb shows such a slope by chance too
//     rarely to cost more than a replica now and then. "carried along its rise" (or "fall"):
//     while the line rises or falls by more than three standard errors, each of the level's
//     samples of those ten windows is carried along it to now, and the highest, plus the
//     rise of the next window, is sized for when it is above the peak plus the margin: the
//     samples of one window may all sit low in the noise of a load that drifts, and the
//     level's earlier highs say where its top is now. Ten windows, not fewer, because the
//     slope's standard error shrinks with the span to the power 1.5: a climb of a tenth of the
//     noise a minute shows over ten minutes, not over five;
//  3. "held at": a scale-down waits until the peak fits the smaller count with twice the
//     margin (twice 0.3 of the noise at least), so that a slightly lower estimate does not
//     remove a replica the next rise needs; it holds only a count the peak rule asked for in
//     the stable window, never headroom a rise or a start added;
//  4. "load rose to": a sample above every earlier one by more than twice the noise is sized
//     with headroom of twice the noise (never more than the utilization target's), at once
//     and without a rate limit: it is observed load, and one sample of a new level may sit
//     low in its noise. A new high within the noise is left to rule 1;
//  5. "seen for ... only": while the window spans less than half the stable window (after a
//     start or a drop), the average gets the same headroom, as its peak says little yet;
//  6. "load fell to": a sample below half the window's peak and more than four deviations of
//     the noise below the window's mean is followed at once, as no noise the load has shown
//     explains it (counted from the peak, which sits two deviations above the mean of a noisy
//     load, a common dip of two more would pass for a fall);
//     "load fell below 50% of its peak": a fall the noise might explain is followed once every
//     sample of half a panic window (two at least) is below half the peak. The samples before
//     the fall are forgotten and the count follows the new level. A wrong guess costs one
//     cold start of under-capacity, as any rise does, and never more than that: rule 4 scales
//     up at the next sample. After an idle period this brings the count to one, and the grace
//     period to zero;
//  7. a long queue wait adds one replica, and the stabilization window holds a scale-down,
//     as for SizingUtilization (the served entities' stabilization is 0 by default).
//
// For both sizings, last:
//
//  1. scale to zero after the idle grace period where allowed, and from zero at the first load,
//     at once, at the utilization target: the first sample says nothing of the noise;
//  2. min/max bounds, then the external cap (the regional quota).
//
// Missing data never scales anything: with no sample in the stable window the current count is
// kept. docs/autoscaler-benchmark.md measures both sizings against the upstream HPA and KPA.
package autoscaler

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Policy is how one workload scales.
type Policy struct {
	// Min and Max bound the count while the workload runs.
	Min, Max int32
	// TargetPerReplica is the load one replica is sized for (10 queries per cluster, the
	// per-replica concurrency of a model server); TargetUtilization the share of it aimed at.
	TargetPerReplica  float64
	TargetUtilization float64
	// Tolerance is the relative deviation from the target that is ignored.
	Tolerance float64
	// StableWindow averages the load; PanicWindow is the short window of panic mode and
	// PanicThreshold the load, as a multiple of current capacity, that starts it (2 = 200%).
	StableWindow, PanicWindow time.Duration
	PanicThreshold            float64
	// ScaleUpPercent and ScaleUpReplicas bound growth per ScaleUpPeriod; the larger wins.
	ScaleUpPercent, ScaleUpReplicas int32
	ScaleUpPeriod                   time.Duration
	// ScaleDownStabilization is how long the highest recent recommendation holds on scale-down.
	ScaleDownStabilization time.Duration
	// ScaleToZero allows 0 after IdleGrace without load.
	ScaleToZero bool
	IdleGrace   time.Duration
	// QueueWaitThreshold, if set, adds a replica while the oldest queued item waits longer.
	QueueWaitThreshold time.Duration
	// Sizing is how load becomes a count; empty is SizingUtilization.
	Sizing Sizing
}

// Sample is one observation of load.
type Sample struct {
	Time time.Time
	// Load is what replicas serve: running plus queued queries, or in-flight requests.
	Load float64
	// QueueWait is how long the oldest queued item has waited.
	QueueWait time.Duration
}

// Input is what a decision needs besides the policy and the state.
type Input struct {
	Now time.Time
	// Current is the count running now, and Ready how many of them are ready: panic mode
	// compares the burst with ready capacity, as the KPA does.
	Current, Ready int32
	// Cap is an external upper bound applied last (the regional quota); negative means none.
	Cap int32
}

// Decision is the desired count and why.
type Decision struct {
	Desired int32
	Reason  string
	// Panic is true while panic mode holds the count up.
	Panic bool
	// Load is the stable-window load the decision used; NoData is true when there was none.
	Load   float64
	NoData bool
}

// State is what the autoscaler remembers of one workload between decisions: the load window,
// the recent recommendations and scale events, the panic mode and the last activity.
type State struct {
	Samples         []Sample
	Recommendations []Recommendation
	ScaleEvents     []ScaleEvent
	PanicUntil      time.Time
	PanicPeak       int32
	// LastActive is the last time the load was above zero (or the workload was created).
	LastActive time.Time
	// Noise is the load's last observed noise, as a share of its level (SizingObserved).
	Noise float64
	// History is the load of the last trendWindows stable windows, from which SizingObserved
	// finds where the current level began, whether it rises or falls, and its earlier highs.
	History []Point
	// PeakNeeds are the counts the peak rule of SizingObserved asked for in the stable window:
	// the hysteresis holds only those.
	PeakNeeds []Recommendation
}

// Point is a sample as State.History keeps it: a served entity keeps ten minutes of them at a
// 2s tick, so 16 bytes each rather than a Sample's 40.
type Point struct {
	// At is the sample's time in Unix nanoseconds.
	At   int64
	Load float64
}

// pointOf is the Point of a sample.
func pointOf(x Sample) Point { return Point{At: x.Time.UnixNano(), Load: x.Load} }

// pointsOf are the Points of samples.
func pointsOf(samples []Sample) []Point {
	out := make([]Point, 0, len(samples))
	for _, x := range samples {
		out = append(out, pointOf(x))
	}
	return out
}

// secondsBefore is how long before now the point was taken, in seconds.
func (x Point) secondsBefore(now time.Time) float64 { return float64(now.UnixNano()-x.At) / 1e9 }

// Recommendation is a desired count computed at a time, before stabilization.
type Recommendation struct {
	Time     time.Time
	Replicas int32
}

// ScaleEvent is a change of the count.
type ScaleEvent struct {
	Time   time.Time
	Change int32
}

// Observe adds a sample and forgets what no window needs any more.
func (s *State) Observe(p Policy, sample Sample) {
	s.Samples = append(s.Samples, sample)
	if sample.Load > 0 && sample.Time.After(s.LastActive) {
		s.LastActive = sample.Time
	}
	s.Samples = after(s.Samples, sample.Time.Add(-p.StableWindow))
	if p.Sizing == SizingObserved {
		cutoff := sample.Time.Add(-trendWindows * p.StableWindow).UnixNano()
		s.History = slices.DeleteFunc(append(s.History, pointOf(sample)), func(x Point) bool { return x.At <= cutoff })
	}
}

// after is the samples taken after cutoff, of samples in time order.
func after(samples []Sample, cutoff time.Time) []Sample {
	i := 0
	for i < len(samples) && !samples[i].Time.After(cutoff) {
		i++
	}
	return samples[i:]
}

// Record notes that the count changed from prev to next at now, for the scale-up rate limit.
func (s *State) Record(now time.Time, prev, next int32) {
	if next != prev {
		s.ScaleEvents = append(s.ScaleEvents, ScaleEvent{Time: now, Change: next - prev})
	}
}

// Decide returns the desired count. It records the recommendation in s.
func Decide(p Policy, s *State, in Input) Decision {
	s.forget(p, in.Now)
	stable, okStable := average(s.Samples, in.Now.Add(-p.StableWindow))
	panicLoad, _ := average(s.Samples, in.Now.Add(-p.PanicWindow))
	target := p.TargetPerReplica * p.TargetUtilization
	if target <= 0 {
		target = 1
	}
	// The floor is the minimum while the workload is active; with scale to zero it drops to 0
	// once the workload has been idle for the grace period.
	floor := p.Min
	idleFor := in.Now.Sub(s.LastActive)
	if p.ScaleToZero {
		floor = max(p.Min, 1)
		if idleFor >= p.IdleGrace {
			floor = 0
		}
	}

	if !okStable {
		// Without data nothing is scaled down, and never to zero; bounds still apply.
		d := Decision{Desired: in.Current, NoData: true, Reason: fmt.Sprintf("no load data: keeping %d", in.Current)}
		switch {
		case in.Current < floor:
			d.Desired, d.Reason = floor, fmt.Sprintf("no load data: starting the minimum %d", floor)
		case in.Current > p.Max:
			d.Desired, d.Reason = p.Max, fmt.Sprintf("no load data: limited to the maximum %d", p.Max)
		}
		return d.Capped(in.Cap, in.Current)
	}

	latest := s.Samples[len(s.Samples)-1]
	if in.Current == 0 && latest.Load > 0 {
		// Activation: the first load starts the workload at once, at its floor or more.
		want := max(p.Min, ceilDiv(latest.Load, target), 1)
		d := Decision{Desired: min(want, p.Max), Load: stable,
			Reason: fmt.Sprintf("load %.0f arrived at zero: starting %d", latest.Load, min(want, p.Max))}
		s.remember(in.Now, d.Desired)
		return d.Capped(in.Cap, in.Current)
	}

	if p.Sizing == SizingObserved {
		return decideWithObserved(p, s, in, floor, stable, idleFor)
	}

	desired := ceilDiv(stable, target)
	reason := fmt.Sprintf("load %.1f over target %.1f per replica", stable, target)
	if in.Current > 0 {
		ratio := stable / (float64(in.Current) * target)
		if math.Abs(ratio-1) <= p.Tolerance {
			desired = in.Current
			reason = fmt.Sprintf("load %.1f within %.0f%% of the target for %d", stable, p.Tolerance*100, in.Current)
		}
	}

	// The stable recommendation is what scale-down stabilization remembers: a burst's panic
	// count holds while the panic lasts, not for a stabilization window after it.
	s.remember(in.Now, desired)
	panicking := false
	if in.Current > 0 && p.PanicThreshold > 0 && panicLoad/(float64(max(in.Ready, 1))*target) >= p.PanicThreshold {
		s.PanicUntil = in.Now.Add(p.StableWindow)
	}
	if in.Now.Before(s.PanicUntil) {
		panicking = true
		pd := max(ceilDiv(panicLoad, target), in.Current, s.PanicPeak)
		s.PanicPeak = pd
		if pd > desired {
			desired = pd
			reason = fmt.Sprintf("panic: burst load %.1f over %s", panicLoad, p.PanicWindow)
		}
	} else {
		s.PanicPeak = 0
	}

	if d, r, ok := queueWaited(p, latest, desired, in.Current); ok {
		desired, reason = d, r
	}

	if desired < in.Current && !panicking {
		if held := s.highestSince(in.Now.Add(-p.ScaleDownStabilization)); held > desired {
			desired = min(held, in.Current)
			reason += fmt.Sprintf("; scale-down stabilized at %d (highest in %s)", desired, p.ScaleDownStabilization)
		}
	}
	if desired > in.Current && !panicking {
		// Panic mode scales up at once, as the KPA does; otherwise growth is rate limited.
		if limit := s.scaleUpLimit(p, in.Now, in.Current); desired > limit {
			desired = limit
			reason += fmt.Sprintf("; scale-up limited to %d per %s", limit, p.ScaleUpPeriod)
		}
	}
	return bounded(p, in, floor, stable, idleFor, Decision{Desired: desired, Reason: reason, Panic: panicking, Load: stable})
}

// decideWithObserved is Decide for SizingObserved: the observed sizing, then the queue wait,
// the stabilization window, the bounds and scale to zero, as for SizingUtilization.
func decideWithObserved(p Policy, s *State, in Input, floor int32, stable float64, idleFor time.Duration) Decision {
	desired, reason := decideObserved(p, s, in.Now, in.Current)
	s.remember(in.Now, desired)
	latest := s.Samples[len(s.Samples)-1]
	if d, r, ok := queueWaited(p, latest, desired, in.Current); ok {
		desired, reason = d, r
	}
	if desired < in.Current {
		if held := s.highestSince(in.Now.Add(-p.ScaleDownStabilization)); held > desired {
			desired = min(held, in.Current)
			reason += fmt.Sprintf("; scale-down stabilized at %d (highest in %s)", desired, p.ScaleDownStabilization)
		}
	}
	return bounded(p, in, floor, stable, idleFor, Decision{Desired: desired, Reason: reason, Load: stable})
}

// bounded applies what both sizings end with: the replica bounds, scale to zero once the
// load is gone and allowed, and the external cap.
func bounded(p Policy, in Input, floor int32, stable float64, idleFor time.Duration, d Decision) Decision {
	desired, reason := d.Desired, d.Reason
	switch {
	case desired < floor:
		desired = floor
		reason += fmt.Sprintf("; raised to the minimum %d", floor)
	case desired > p.Max:
		desired = p.Max
		reason += fmt.Sprintf("; limited to the maximum %d", p.Max)
	}
	if floor == 0 && desired > 0 && stable == 0 && p.ScaleToZero {
		desired = 0
	}
	if desired == 0 && in.Current > 0 {
		reason = fmt.Sprintf("idle for %s (grace %s): scaling to zero", idleFor.Round(time.Second), p.IdleGrace)
	}
	d.Desired, d.Reason = desired, reason
	return d.Capped(in.Cap, in.Current)
}

// Capped applies an external cap (the regional quota) last. It never asks to remove what runs:
// a cap below the current count holds the count. A negative limit is no cap.
func (d Decision) Capped(limit, current int32) Decision {
	if limit < 0 || d.Desired <= limit {
		return d
	}
	c := max(limit, min(current, d.Desired))
	d.Reason += fmt.Sprintf("; capped at %d by the regional quota", c)
	d.Desired = c
	return d
}

func (s *State) remember(now time.Time, replicas int32) {
	s.Recommendations = append(s.Recommendations, Recommendation{Time: now, Replicas: replicas})
}

func (s *State) highestSince(cutoff time.Time) int32 {
	var h int32 = -1
	for _, r := range s.Recommendations {
		if r.Time.After(cutoff) && r.Replicas > h {
			h = r.Replicas
		}
	}
	return h
}

// scaleUpLimit is HPA's calculateScaleUpLimitWithScalingRules with its default policies: the
// count at the start of the period plus the larger of a percentage and a number of replicas.
func (s *State) scaleUpLimit(p Policy, now time.Time, current int32) int32 {
	if p.ScaleUpPeriod <= 0 {
		return math.MaxInt32
	}
	var added int32
	cutoff := now.Add(-p.ScaleUpPeriod)
	for _, e := range s.ScaleEvents {
		if e.Time.After(cutoff) && e.Change > 0 {
			added += e.Change
		}
	}
	start := current - added
	byPercent := int32(math.Ceil(float64(start) * (1 + float64(p.ScaleUpPercent)/100)))
	limit := max(byPercent, start+p.ScaleUpReplicas)
	return max(limit, current)
}

func (s *State) forget(p Policy, now time.Time) {
	keep := max(p.ScaleDownStabilization, p.StableWindow)
	cutoff := now.Add(-keep)
	i := 0
	for i < len(s.Recommendations) && !s.Recommendations[i].Time.After(cutoff) {
		i++
	}
	s.Recommendations = s.Recommendations[i:]
	cutoff = now.Add(-p.ScaleUpPeriod)
	j := 0
	for j < len(s.ScaleEvents) && !s.ScaleEvents[j].Time.After(cutoff) {
		j++
	}
	s.ScaleEvents = s.ScaleEvents[j:]
}

// average is the mean load of the samples after cutoff; false when there is none.
func average(samples []Sample, cutoff time.Time) (float64, bool) {
	sum, n := 0.0, 0
	for _, s := range samples {
		if s.Time.After(cutoff) {
			sum += s.Load
			n++
		}
	}
	if n == 0 {
		return 0, false
	}
	return sum / float64(n), true
}

func ceilDiv(load, target float64) int32 {
	if load <= 0 {
		return 0
	}
	return int32(math.Ceil(load/target - 1e-9))
}

// queueWaited is the queue-wait rule of both sizings: while the oldest queued item has waited
// past the threshold and nothing else adds a replica, one is added.
func queueWaited(p Policy, latest Sample, desired, current int32) (int32, string, bool) {
	if p.QueueWaitThreshold <= 0 || latest.QueueWait < p.QueueWaitThreshold || desired > current {
		return desired, "", false
	}
	return current + 1, fmt.Sprintf("oldest queued item waited %s (threshold %s): adding a replica",
		latest.QueueWait.Round(time.Second), p.QueueWaitThreshold), true
}
