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
	// TargetPerReplica: the stable window's peak plus a share of the observed noise, a rise
	// or a young window given headroom for that noise, and a sharp, sustained drop followed at
	// once.
	SizingObserved Sizing = "Observed"
)

const (
	// noiseZ is how many standard deviations of the observed noise a level known from few
	// samples (a rise, a young window) gets as headroom: its samples may sit low in its noise.
	noiseZ = 2
	// peakMargin is the share of the observed noise added to the stable window's peak: the
	// seconds between samples and the next cold start may go a little higher than any sample.
	peakMargin = 0.3
	// dropShare is how far the load must fall, as a share of the stable window's peak, for the
	// samples from before the fall to be forgotten.
	dropShare = 0.5
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
	if recent, ok := s.sustainedDrop(p, now); ok {
		// The old peak no longer says anything about the load. A wrong guess costs one cold
		// start of under-capacity, as any rise does: the rise rule scales up at the next sample.
		s.Samples, s.Recommendations = recent, nil
		drop = fmt.Sprintf("load fell below %.0f%% of its peak for %s: ", dropShare*100, dropWindow(p))
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
	margin := peakMargin * s.Noise
	desired := ceilDiv(peak*(1+margin), perReplica)
	reason := fmt.Sprintf("peak load %.0f in %s +%.1f%% for its noise at %.0f per replica", peak, p.StableWindow, margin*100, perReplica)
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
	if desired < current && drop == "" {
		// Hysteresis: one noise estimate lower must not remove a replica the next rise needs.
		if held := ceilDiv(peak*(1+2*margin), perReplica); held > desired {
			desired = min(held, current)
			reason += fmt.Sprintf("; held at %d until the peak fits it with twice the margin", desired)
		}
	}
	latest := s.Samples[len(s.Samples)-1]
	if earlier := s.Samples[:len(s.Samples)-1]; len(earlier) > 0 && latest.Load > peakOf(earlier) {
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

// dropWindow is how long a drop must last: half the panic window.
func dropWindow(p Policy) time.Duration { return p.PanicWindow / 2 }

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
