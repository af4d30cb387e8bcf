package autoscalebench

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
