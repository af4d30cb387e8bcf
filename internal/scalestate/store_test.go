package scalestate

import (
	"testing"
	"time"

	"github.com/serverlessplane/operator/pkg/autoscaler"
)

func TestPassObservesDecidesLimitsAndRecords(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	p := autoscaler.Policy{Min: 0, Max: 10, TargetPerReplica: 1, TargetUtilization: 1, StableWindow: time.Minute,
		PanicWindow: 6 * time.Second, PanicThreshold: 2, ScaleUpPercent: 1000, ScaleUpReplicas: 10, ScaleUpPeriod: time.Second}
	var s Store
	init := func() *autoscaler.State { return &autoscaler.State{LastActive: now} }
	in := autoscaler.Input{Now: now, Current: 1, Ready: 1, Cap: -1}

	d, st := s.Pass("ns/a/", p, init, &autoscaler.Sample{Time: now, Load: 5}, in, nil)
	if d.Desired != 5 {
		t.Fatalf("unlimited: desired %d, want 5 (%s)", d.Desired, d.Reason)
	}
	if len(st.Samples) != 1 || st.Samples[0].Load != 5 {
		t.Fatalf("the sample was not observed: %+v", st.Samples)
	}
	if got := s.Get("ns/a/", nil); got != st {
		t.Fatal("the pass did not keep its state in the store")
	}

	in.Now = now.Add(2 * time.Second)
	d, _ = s.Pass("ns/a/", p, init, &autoscaler.Sample{Time: in.Now, Load: 5}, in,
		func(d autoscaler.Decision) autoscaler.Decision { return d.Capped(3, in.Current) })
	if d.Desired != 3 {
		t.Fatalf("limited to 3: desired %d (%s)", d.Desired, d.Reason)
	}
	if got := s.Get("ns/a/", nil).ScaleEvents; len(got) == 0 || got[len(got)-1].Change != 2 {
		t.Fatalf("recorded scale events %+v, want the last 1 -> 3 (the limited count)", got)
	}

	_, st = s.Pass("ns/b/", p, init, nil, in, nil)
	if len(st.Samples) != 0 {
		t.Fatalf("no sample given, but the state holds %+v", st.Samples)
	}
}
