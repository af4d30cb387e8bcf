package autoscaler

import (
	"testing"
	"time"
	"unsafe"
)

// BenchmarkStateMemory drives one served entity's state through ten minutes of 2s samples of a
// noisy load, as the model endpoint controller does, and reports the bytes its History holds
// then (history-B), beside what the same samples would hold as Samples (as-samples-B). The
// operator keeps one state per served entity: multiply by their number.
//
//	go test ./pkg/autoscaler -run '^$' -bench StateMemory
func BenchmarkStateMemory(b *testing.B) {
	p := Policy{Max: 50, TargetPerReplica: 10, TargetUtilization: 0.7, StableWindow: time.Minute,
		PanicWindow: 6 * time.Second, PanicThreshold: 2, Sizing: SizingObserved}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var s State
	for i := 0; i < b.N; i++ {
		s = State{LastActive: start}
		current := int32(0)
		for t := 0; t <= 2*int(trendWindows*p.StableWindow/time.Second); t += 2 {
			now := start.Add(time.Duration(t) * time.Second)
			s.Observe(p, Sample{Time: now, Load: float64(40 + t%7)})
			current = Decide(p, &s, Input{Now: now, Current: current, Ready: current, Cap: -1}).Desired
		}
	}
	b.ReportMetric(float64(uintptr(cap(s.History))*unsafe.Sizeof(Point{})), "history-B")
	b.ReportMetric(float64(uintptr(len(s.History))*unsafe.Sizeof(Sample{})), "as-samples-B")
}
