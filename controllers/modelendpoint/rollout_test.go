package modelendpoint

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	computev1 "github.com/serverlessplane/operator/api/v1alpha1"
)

func routes(pairs ...any) []computev1.TrafficRoute {
	var out []computev1.TrafficRoute
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, computev1.TrafficRoute{ServedEntity: pairs[i].(string), Percent: int32(pairs[i+1].(int))})
	}
	return out
}

func ready(name string) entityObs {
	return entityObs{Name: name, Exists: true, Desired: 1, Replicas: 1, Ready: 1, RolledOut: true, InSpec: true}
}

func rolling(name string) entityObs {
	e := ready(name)
	e.RolledOut = false
	return e
}

func failed(name string) entityObs {
	e := rolling(name)
	e.Failed = true
	return e
}

func gone(e entityObs) entityObs { e.InSpec = false; return e }

func TestDecideRollout(t *testing.T) {
	tests := []struct {
		name     string
		want     []computev1.TrafficRoute
		active   []computev1.TrafficRoute
		entities []entityObs
		expect   rollout
	}{
		{
			name: "a new endpoint routes once its entities serve",
			want: routes("a", 100), entities: []entityObs{rolling("a")},
			expect: rollout{Update: computev1.ConfigInProgress},
		},
		{
			name: "rolled out: the spec's traffic is active",
			want: routes("a", 70, "b", 30), entities: []entityObs{ready("a"), ready("b")},
			expect: rollout{Active: routes("a", 70, "b", 30), Update: computev1.ConfigNotUpdating},
		},
		{
			name: "a new challenger waits for its pods before getting traffic",
			want: routes("a", 90, "b", 10), active: routes("a", 100), entities: []entityObs{ready("a"), rolling("b")},
			expect: rollout{Active: routes("a", 100), Update: computev1.ConfigInProgress},
		},
		{
			name: "a model version change rolls behind the old pods, then the weights follow",
			want: routes("a", 100), active: routes("a", 100), entities: []entityObs{rolling("a")},
			expect: rollout{Active: routes("a", 100), Update: computev1.ConfigInProgress},
		},
		{
			name: "a failed rollout keeps the previous traffic",
			want: routes("a", 50, "b", 50), active: routes("a", 100), entities: []entityObs{ready("a"), failed("b")},
			expect: rollout{Active: routes("a", 100), Update: computev1.ConfigUpdateFailed, Failed: []string{"b"}},
		},
		{
			name: "a removed entity keeps its objects while routed",
			want: routes("b", 100), active: routes("a", 50, "b", 50), entities: []entityObs{gone(ready("a")), rolling("b")},
			expect: rollout{Active: routes("a", 50, "b", 50), Update: computev1.ConfigInProgress},
		},
		{
			name: "a removed entity goes once traffic has moved",
			want: routes("b", 100), active: routes("a", 50, "b", 50), entities: []entityObs{gone(ready("a")), ready("b")},
			expect: rollout{Active: routes("b", 100), Update: computev1.ConfigNotUpdating, Remove: []string{"a"}},
		},
		{
			name: "an entity at 0% does not hold the switch",
			want: routes("a", 100, "b", 0), active: routes("a", 100), entities: []entityObs{ready("a"), rolling("b")},
			expect: rollout{Active: routes("a", 100, "b", 0), Update: computev1.ConfigInProgress},
		},
		{
			name: "an entity scaled to zero on purpose serves",
			want: routes("a", 100), active: routes("a", 100),
			entities: []entityObs{{Name: "a", Exists: true, Desired: 0, RolledOut: true, ScaleToZero: true, InSpec: true}},
			expect:   rollout{Active: routes("a", 100), Update: computev1.ConfigNotUpdating},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := map[string]entityObs{}
			for _, e := range tc.entities {
				m[e.Name] = e
			}
			got := decideRollout(tc.want, tc.active, m)
			if diff := cmp.Diff(tc.expect, got, cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("rollout (-want +got):\n%s", diff)
			}
		})
	}
}
