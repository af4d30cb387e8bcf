package autoscalebench

import "time"

// Verdict is how one result compares with a peer's on the same trace, on the two costs a
// platform engineer trades: replica-seconds and under-capacity.
type Verdict string

const (
	// Better is no worse on both and strictly better on one (Pareto-dominates the peer).
	Better Verdict = "better"
	// Worse is no better on both and strictly worse on one.
	Worse Verdict = "worse"
	// Level is equal on both.
	Level Verdict = "level"
	// Mixed is better on one and worse on the other: neither dominates.
	Mixed Verdict = "mixed"
)

// Compare returns the verdict of r against peer. Under-capacity is compared in whole seconds
// of the trace, as it is counted.
func Compare(r, peer Result) Verdict {
	cost := sign(r.ReplicaSeconds - peer.ReplicaSeconds)
	under := sign(r.Violation - peer.Violation)
	switch {
	case cost == 0 && under == 0:
		return Level
	case cost <= 0 && under <= 0:
		return Better
	case cost >= 0 && under >= 0:
		return Worse
	}
	return Mixed
}

func sign(v float64) int {
	switch {
	case v > 1e-9:
		return 1
	case v < -1e-9:
		return -1
	}
	return 0
}

// Against is the default engine's result on one trace beside the two peers' on the same trace.
type Against struct {
	Ours, HPA, KPA Result
}

// Dominates reports whether the default engine dominates both peers.
func (a Against) Dominates() bool {
	return Compare(a.Ours, a.HPA) == Better && Compare(a.Ours, a.KPA) == Better
}

// DominatedBy names the peer that dominates the default engine, or is empty.
func (a Against) DominatedBy() string {
	for _, peer := range []Result{a.HPA, a.KPA} {
		if Compare(a.Ours, peer) == Worse {
			return peer.Engine
		}
	}
	return ""
}

// AgainstPeers replays every trace through the default engine (2s tick, default sizing), the
// HPA and the KPA.
func AgainstPeers(p Params, traces []Trace) []Against {
	out := make([]Against, 0, len(traces))
	for _, tr := range traces {
		out = append(out, Against{
			Ours: Run(NewOurs(p, 2*time.Second, ""), tr, p),
			HPA:  Run(NewHPA(p), tr, p),
			KPA:  Run(NewKPA(p), tr, p),
		})
	}
	return out
}
