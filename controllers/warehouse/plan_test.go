package warehouse

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var now = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

func c(id, hash string, ready bool, load float64) cluster {
	return cluster{ID: id, Hash: hash, Ready: ready, Load: load, LoadKnown: load >= 0}
}

func draining(cl cluster, since time.Duration) cluster {
	cl.DrainingSince = now.Add(-since)
	return cl
}

func TestPlanClusters(t *testing.T) {
	grace := 5 * time.Minute
	tests := []struct {
		name     string
		clusters []cluster
		desired  int32
		want     plan
	}{
		{name: "start from zero", desired: 2, want: plan{Create: 2}},
		{name: "steady", clusters: []cluster{c("a", "h", true, 5), c("b", "h", true, 5)}, desired: 2},
		{name: "scale out", clusters: []cluster{c("a", "h", true, 9)}, desired: 3, want: plan{Create: 2}},
		{
			name:     "scale in drains the least-loaded cluster",
			clusters: []cluster{c("a", "h", true, 9), c("b", "h", true, 1), c("c", "h", true, 4)},
			desired:  2, want: plan{Drain: []string{"b"}},
		},
		{
			name:     "scale in removes a cluster that is not ready instead of draining one",
			clusters: []cluster{c("a", "h", true, 9), c("b", "h", false, -1)},
			desired:  1, want: plan{Delete: []string{"b"}},
		},
		{
			name:     "a draining cluster goes once its queries are done",
			clusters: []cluster{c("a", "h", true, 9), draining(c("b", "h", true, 0), time.Minute)},
			desired:  1, want: plan{Delete: []string{"b"}},
		},
		{
			name:     "a draining cluster with queries waits",
			clusters: []cluster{c("a", "h", true, 9), draining(c("b", "h", true, 2), time.Minute)},
			desired:  1,
		},
		{
			name:     "a draining cluster goes after the grace period regardless",
			clusters: []cluster{c("a", "h", true, 9), draining(c("b", "h", true, 2), grace)},
			desired:  1, want: plan{Delete: []string{"b"}},
		},
		{
			name:     "unknown load waits for the grace period",
			clusters: []cluster{c("a", "h", true, 9), draining(c("b", "h", true, -1), time.Minute)},
			desired:  1,
		},
		{
			name:     "scale out brings a draining cluster back before adding one",
			clusters: []cluster{c("a", "h", true, 9), draining(c("b", "h", true, 2), time.Minute)},
			desired:  3, want: plan{Restore: []string{"b"}, Create: 1},
		},
		{
			name:     "a roll adds a new cluster first",
			clusters: []cluster{c("a", "old", true, 5), c("b", "old", true, 5)},
			desired:  2, want: plan{Create: 1},
		},
		{
			name:     "a roll waits while the new cluster is not ready",
			clusters: []cluster{c("a", "old", true, 5), c("b", "old", true, 5), c("n1", "h", false, -1)},
			desired:  2,
		},
		{
			name:     "a roll removes one outdated cluster once the new one is ready, and surges the next",
			clusters: []cluster{c("a", "old", true, 5), c("b", "old", true, 1), c("n1", "h", true, 0)},
			desired:  2, want: plan{Delete: []string{"b"}, Create: 1},
		},
		{
			name:     "a roll continues with the next cluster",
			clusters: []cluster{c("a", "old", true, 5), c("n1", "h", true, 0)},
			desired:  2, want: plan{Create: 1},
		},
		{
			name:     "an outdated cluster that is not ready goes at once",
			clusters: []cluster{c("a", "old", false, -1), c("b", "old", true, 3)},
			desired:  2, want: plan{Delete: []string{"a"}, Create: 1},
		},
		{
			name:     "stopping removes every cluster",
			clusters: []cluster{c("a", "h", true, 0), draining(c("b", "h", true, 0), time.Second)},
			desired:  0, want: plan{Delete: []string{"a", "b"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := planClusters(planInput{Clusters: tc.clusters, Desired: tc.desired, Hash: "h", Now: now, DrainGrace: grace})
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(plan{}), cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("plan (-want +got):\n%s", diff)
			}
		})
	}
}
