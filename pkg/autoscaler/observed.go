package autoscaler

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Sizing says how load becomes a count of replicas.
type Sizing string

const (
	// SizingUtilization sizes for the stable window's average load at TargetUtilization of
	// TargetPerReplica, with the tolerance band, panic mode and the scale-up rate limit: the
	// rule of the Knative KPA and the Kubernetes HPA. It is the zero value.
	SizingUtilization Sizing = "Utilization"
	// SizingObserved sizes for the load the workload was seen to reach, at the full
	// TargetPerReplica: the stable window's peak plus the gap between its highest samples and
	// the rise of a climbing load, a rise or a young window given headroom for the observed
	// noise, and a fall the noise cannot explain followed at once.
	SizingObserved Sizing = "Observed"
)

const (
	// noiseZ is how many standard deviations of the observed noise a level known from few
	// samples (a rise, a young window) gets as headroom: its samples may sit low in its noise.
	// A sample above every earlier one by more than noiseZ deviations is a rise to a new level.
	noiseZ = 2
	// peakMargin is the share of the observed noise added to the peak while the current level
	// has fewer than gapSamples samples, and, twice, the hysteresis of a scale-down.
	peakMargin = 0.3
	// gapSamples is how many of the highest samples of the current level the margin for the
	// seconds between samples is taken from: the mean gap between them.
	gapSamples = 6
	// trendWindows is how many stable windows of the current level's samples the trend is
	// fitted to (one at least), and trendZ how many standard errors its rise or fall must
	// exceed to count. Ten minutes is long enough for a climb of a fraction of the noise a
	// minute to stand out (the standard error shrinks with the span to the power 1.5), and
	// short enough for a line to follow a daily curve.
	trendWindows = 10
	trendZ       = 3
	// dropShare is how far the load must fall, as a share of the stable window's peak, for the
	// samples from before the fall to be forgotten.
	dropShare = 0.5
	// dropZ is how many deviations of the observed noise below the window's mean a fall must
	// reach to be followed at the first sample: no noise the workload has shown explains it.
	dropZ = 4
	// minNoiseSamples is how many pairs of consecutive non-zero samples the noise is estimated
	// from; until then, headroom is that of TargetUtilization.
	minNoiseSamples = 6
)

// decideObserved is the count for SizingObserved, before bounds, and its reason.
func decideObserved(p Policy, s *State, now time.Time, current int32) (int32, string) {
	perReplica := p.TargetPerReplica
	if perReplica <= 0 {
		perReplica = 1
	}
	drop := ""
	if recent, why, ok := s.fall(p, now); ok {
		// The old peak no longer says anything about the load. A wrong guess costs one cold
		// start of under-capacity, as any rise does: the rise rule scales up at the next sample.
		s.Samples, s.History, s.Recommendations, s.PeakNeeds = recent, pointsOf(recent), nil, nil
		drop = why
	}
	// The noise is a property of the workload more than of its level: it is kept across a drop
	// and learnt again once the window holds half a stable window of samples.
	young := now.Sub(s.Samples[0].Time) < p.StableWindow/2
	if noise := relativeNoise(s.Samples); noise > 0 && !young {
		s.Noise = noise
	}
	// Headroom for a level known from few samples: noiseZ times the observed noise, and never
	// more than TargetUtilization gives, which is also the headroom before any noise is seen.
	headroom := 0.0
	if p.TargetUtilization > 0 && p.TargetUtilization < 1 {
		headroom = 1/p.TargetUtilization - 1
	}
	if s.Noise > 0 {
		headroom = min(noiseZ*s.Noise, headroom)
	}

	peak := peakOf(s.Samples)
	need, why := s.peakNeed(p, now, peak)
	desired := ceilDiv(need, perReplica)
	reason := fmt.Sprintf("peak load %.0f in %s %s at %.0f per replica", peak, p.StableWindow, why, perReplica)
	s.PeakNeeds = slices.DeleteFunc(s.PeakNeeds, func(r Recommendation) bool { return !r.Time.After(now.Add(-p.StableWindow)) })
	s.PeakNeeds = append(s.PeakNeeds, Recommendation{Time: now, Replicas: desired})
	if s.Noise == 0 {
		// No noise observed (too few samples a window, as with a slow tick, or none of it):
		// the peak of few samples says little, so the average gets the headroom of
		// TargetUtilization, as with SizingUtilization.
		level, _ := average(s.Samples, time.Time{})
		if n := ceilDiv(level*(1+headroom), perReplica); n > desired {
			desired = n
			reason = fmt.Sprintf("load %.1f, no noise observed: +%.0f%% headroom at %.0f per replica", level, headroom*100, perReplica)
		}
	}
	if desired < current && drop == "" && peak > 0 {
		// Hysteresis: one noise estimate lower must not remove a replica the peak asked for a
		// moment ago. Headroom a rise or a start added is not held: the peak never asked for it.
		margin := max(need/peak-1, peakMargin*s.Noise)
		asked := min(current, highest(s.PeakNeeds))
		if held := ceilDiv(peak*(1+2*margin), perReplica); held > desired && asked > desired {
			desired = min(held, asked)
			reason += fmt.Sprintf("; held at %d, which the peak asked for in %s, until the peak fits it with twice the margin", desired, p.StableWindow)
		}
	}
	latest := s.Samples[len(s.Samples)-1]
	if earlier := s.Samples[:len(s.Samples)-1]; len(earlier) > 0 && latest.Load > peakOf(earlier)*(1+noiseZ*s.Noise) {
		if n := ceilDiv(latest.Load*(1+headroom), perReplica); n > desired {
			desired = n
			reason = fmt.Sprintf("load rose to %.0f: +%.0f%% headroom for its noise at %.0f per replica", latest.Load, headroom*100, perReplica)
		}
	}
	if young {
		level, _ := average(s.Samples, time.Time{})
		if n := ceilDiv(level*(1+headroom), perReplica); n > desired {
			desired = n
			reason = fmt.Sprintf("load %.1f seen for %s only: +%.0f%% headroom for its noise at %.0f per replica",
				level, now.Sub(s.Samples[0].Time), headroom*100, perReplica)
		}
	}
	return desired, drop + reason
}

// peakNeed is the load the peak rule sizes for, and how it got there: the stable window's
// peak, plus a margin for the seconds between samples, plus the rise of a rising load over
// the next stable window. The margin is the mean gap between the gapSamples highest samples
// of the current level: how far a level's unseen seconds may go above its highest sample, a
// fraction of a request for a load that keeps reaching the same ceiling, more for a few
// samples or a load that still climbs. Until the level has that many samples in the window,
// the margin is peakMargin of the observed noise.
//
// While the level trends (rises or falls by more than trendZ standard errors), its samples of
// the trend window are carried along the trend to now, and the highest of them, plus the
// rise, is sized for when it is above the peak plus the margin: a window's samples may all
// sit low in the noise, and the level's earlier samples say where its top is now.
func (s *State) peakNeed(p Policy, now time.Time, peak float64) (float64, string) {
	level := s.History[levelStart(s.History, s.Noise):]
	var recent []float64
	for _, x := range level {
		if x.secondsBefore(now) < p.StableWindow.Seconds() {
			recent = append(recent, x.Load)
		}
	}
	margin := peak * peakMargin * s.Noise
	why := fmt.Sprintf("+%.1f%% for its noise", peakMargin*s.Noise*100)
	if len(recent) >= gapSamples {
		slices.Sort(recent)
		top := recent[len(recent)-gapSamples:]
		margin = (top[gapSamples-1] - top[0]) / (gapSamples - 1)
		why = fmt.Sprintf("+%.1f for the gaps between its %d highest samples", margin, gapSamples)
	}
	slope, trending := trend(level, s.Noise, p.StableWindow)
	if !trending {
		return peak + margin, why
	}
	lead := 0.0
	if slope > 0 {
		lead = slope * p.StableWindow.Seconds()
		margin += lead
		why += fmt.Sprintf(", +%.1f for its rise of %.3f/s over the next %s", lead, slope, p.StableWindow)
	}
	// The highest sample of the level once carried along the trend to now.
	carried, from := 0.0, level[0]
	for _, x := range level {
		if c := x.Load + slope*x.secondsBefore(now); c > carried {
			carried, from = c, x
		}
	}
	if carried+lead > peak+margin {
		direction, plus := "rise", fmt.Sprintf(" +%.1f", lead)
		if slope < 0 {
			direction, plus = "fall", ""
		}
		margin = carried + lead - peak
		why += fmt.Sprintf(", or %.0f of %s ago carried along its %s of %.3f/s to %.1f%s",
			from.Load, now.Sub(time.Unix(0, from.At)).Round(time.Second), direction, math.Abs(slope), carried, plus)
	}
	return peak + margin, why
}

// levelStart is the index of the sample where the current level began: the last one above
// every earlier sample by more than noiseZ deviations of the noise (a rise, or a start from
// zero), or 0. Without observed noise no rise can be told from the noise: 0.
func levelStart(samples []Point, noise float64) int {
	if noise == 0 {
		return 0
	}
	start, top := 0, 0.0
	for i, x := range samples {
		if x.Load > top*(1+noiseZ*noise) {
			start = i
		}
		top = max(top, x.Load)
	}
	return start
}

// trend is the slope, per second, of the least-squares line through samples that span at
// least minSpan, when it is more than trendZ standard errors above or below zero. The
// standard error comes from the observed noise, as a share of the samples' mean: a slope a
// noisy level shows by chance does not count.
func trend(samples []Point, noise float64, minSpan time.Duration) (float64, bool) {
	if noise == 0 || len(samples) < 2 || samples[len(samples)-1].At-samples[0].At < minSpan.Nanoseconds() {
		return 0, false
	}
	since := func(x Point) float64 { return float64(x.At-samples[0].At) / 1e9 }
	var meanT, meanY float64
	for _, x := range samples {
		meanT += since(x)
		meanY += x.Load
	}
	n := float64(len(samples))
	meanT, meanY = meanT/n, meanY/n
	var sxx, sxy float64
	for _, x := range samples {
		dt := since(x) - meanT
		sxx += dt * dt
		sxy += dt * (x.Load - meanY)
	}
	if sxx == 0 {
		return 0, false
	}
	slope, stderr := sxy/sxx, noise*meanY/math.Sqrt(sxx)
	return slope, math.Abs(slope) > trendZ*stderr
}

// dropWindow is how long a drop must last: half the panic window.
func dropWindow(p Policy) time.Duration { return p.PanicWindow / 2 }

// fall reports whether the load fell below dropShare of the stable window's peak and for how
// long it must have, and returns the samples of the new level and the reason's prefix. A
// fall deeper than dropZ deviations of the observed noise below the window's mean is followed
// at its first sample; one the noise might explain, once every sample of the drop window (two
// at least) is below. The deviations count from the mean, not the peak: the peak of a noisy
// load sits two deviations above its mean, and a dip of two more is common.
func (s *State) fall(p Policy, now time.Time) ([]Sample, string, bool) {
	peak := peakOf(s.Samples)
	mean, _ := average(s.Samples, time.Time{})
	floor := min(dropShare*peak, (1-dropZ*s.Noise)*mean)
	i := len(s.Samples)
	for i > 0 && s.Samples[i-1].Load < floor {
		i--
	}
	if s.Noise > 0 && i > 0 && i < len(s.Samples) {
		latest := s.Samples[len(s.Samples)-1]
		return slices.Clone(s.Samples[i:]), fmt.Sprintf("load fell to %.0f, below %.0f%% of its peak and %d deviations of its noise below its mean: ",
			latest.Load, dropShare*100, dropZ), true
	}
	if recent, ok := s.sustainedDrop(p, now); ok {
		return recent, fmt.Sprintf("load fell below %.0f%% of its peak for %s: ", dropShare*100, dropWindow(p)), true
	}
	return nil, "", false
}

// sustainedDrop reports whether every sample of the drop window, two at least, is below
// dropShare of the peak before it, and if so returns the samples of the drop window.
func (s *State) sustainedDrop(p Policy, now time.Time) ([]Sample, bool) {
	cutoff := now.Add(-dropWindow(p))
	i := len(s.Samples)
	for i > 0 && s.Samples[i-1].Time.After(cutoff) {
		i--
	}
	recent := s.Samples[i:]
	if i == 0 || len(recent) < 2 || peakOf(recent) >= dropShare*peakOf(s.Samples[:i]) {
		return nil, false
	}
	return slices.Clone(recent), true
}

func highest(recs []Recommendation) int32 {
	var h int32
	for _, r := range recs {
		h = max(h, r.Replicas)
	}
	return h
}

func peakOf(samples []Sample) float64 {
	m := 0.0
	for _, s := range samples {
		m = math.Max(m, s.Load)
	}
	return m
}

// relativeNoise is the load's noise as a share of its level, from the changes between
// consecutive non-zero samples with the largest fifth left out, so that a burst's edge or a
// slow ramp barely moves it (a median would, on loads counted in small integers, jump between
// the few values a change takes). For independent normal noise of standard deviation σ, the
// mean of the smallest four fifths of |x(t) - x(t-1)| is 0.790σ. It is 0 with fewer than
// minNoiseSamples pairs.
func relativeNoise(samples []Sample) float64 {
	var rel []float64
	for i := 1; i < len(samples); i++ {
		a, b := samples[i-1].Load, samples[i].Load
		if a > 0 && b > 0 {
			rel = append(rel, math.Abs(b-a)/((a+b)/2))
		}
	}
	if len(rel) < minNoiseSamples {
		return 0
	}
	slices.Sort(rel)
	kept := rel[:len(rel)-len(rel)/5]
	sum := 0.0
	for _, r := range kept {
		sum += r
	}
	return sum / float64(len(kept)) / 0.790
}
