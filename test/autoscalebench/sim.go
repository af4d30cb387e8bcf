// Package autoscalebench replays load traces through autoscalers and scores them: the
// operator's engine (pkg/autoscaler), the upstream Kubernetes HPA and the upstream Knative KPA,
// under the same cold-start delay, per-replica capacity and target utilization.
package autoscalebench

import (
	"math"
	"time"
)

// Params are the conditions every engine runs under.
type Params struct {
	// Capacity is the concurrent requests one replica serves; demand above ready capacity is an
	// SLO violation.
	Capacity float64
	// Utilization is the share of Capacity every engine targets.
	Utilization float64
	// ColdStart is how long a new replica takes to become ready.
	ColdStart time.Duration
	// MaxReplicas bounds every engine.
	MaxReplicas int32
}

// Engine decides a desired count from what a controller can observe.
type Engine interface {
	// Name labels the engine in the results.
	Name() string
	// Tick is how often the engine decides.
	Tick() time.Duration
	// Observe is called every second with the demand the engine's metrics would see.
	Observe(now time.Time, demand float64, ready, replicas int32)
	// Decide returns the desired count at now.
	Decide(now time.Time, ready, replicas int32) int32
}

// Result scores one engine on one trace.
type Result struct {
	Engine, Trace string
	// ReplicaSeconds is the sum over the trace of the replicas that existed, ready or not.
	ReplicaSeconds float64
	// Violation is the share of seconds in which demand exceeded ready capacity.
	Violation float64
	// Oracle figures: the least replica-seconds with no violation, knowing the future.
	OracleReplicaSeconds, OracleViolation float64
}

// Start is the simulation's epoch.
var Start = time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)

// Run replays a trace through an engine: every second the engine observes the demand; every
// Tick it decides; new replicas are ready ColdStart after they are created; removed replicas go
// at once (newest first).
func Run(e Engine, tr Trace, p Params) Result {
	var starts []time.Time // creation time of each replica, oldest first
	var replicaSeconds float64
	violations := 0
	tick := int(e.Tick() / time.Second)
	for t, demand := range tr.Demand {
		now := Start.Add(time.Duration(t) * time.Second)
		ready := int32(0)
		for _, s := range starts {
			if now.Sub(s) >= p.ColdStart {
				ready++
			}
		}
		replicas := int32(len(starts))
		e.Observe(now, demand, ready, replicas)
		if t%tick == 0 {
			want := min(max(e.Decide(now, ready, replicas), 0), p.MaxReplicas)
			for int32(len(starts)) < want {
				starts = append(starts, now)
			}
			if int32(len(starts)) > want {
				starts = starts[:want]
			}
			ready = 0
			for _, s := range starts {
				if now.Sub(s) >= p.ColdStart {
					ready++
				}
			}
		}
		replicaSeconds += float64(len(starts))
		if demand > float64(ready)*p.Capacity {
			violations++
		}
	}
	oracle := Oracle(tr, p)
	return Result{
		Engine: e.Name(), Trace: tr.Name, ReplicaSeconds: replicaSeconds,
		Violation:            float64(violations) / float64(len(tr.Demand)),
		OracleReplicaSeconds: oracle, OracleViolation: 0,
	}
}

// Oracle is the least replica-seconds that serve the trace without violation: a replica needed
// at second τ exists from τ - ColdStart, so at t there are max over [t, t+ColdStart] of the
// replicas needed.
func Oracle(tr Trace, p Params) float64 {
	c := int(p.ColdStart / time.Second)
	need := make([]int, len(tr.Demand))
	for t, d := range tr.Demand {
		need[t] = int(math.Ceil(d/p.Capacity - 1e-9))
	}
	total := 0.0
	for t := range need {
		m := 0
		for tau := t; tau <= t+c && tau < len(need); tau++ {
			m = max(m, need[tau])
		}
		total += float64(m)
	}
	return total
}
