package balance

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPickWeighted(t *testing.T) {
	canary := []Route{{Name: "stable", Percent: 90}, {Name: "canary", Percent: 10}}
	tests := []struct {
		name   string
		routes []Route
		u      float64
		want   string
	}{
		{name: "start of the first share", routes: canary, u: 0, want: "stable"},
		{name: "end of the first share", routes: canary, u: 0.8999, want: "stable"},
		{name: "start of the second share", routes: canary, u: 0.9, want: "canary"},
		{name: "just below 1", routes: canary, u: math.Nextafter(1, 0), want: "canary"},
		{name: "u of 1 or more is the last share", routes: canary, u: 1, want: "canary"},
		{name: "negative u is the first share", routes: canary, u: -0.5, want: "stable"},
		{
			name:   "a 0 percent route is never picked",
			routes: []Route{{Name: "a", Percent: 50}, {Name: "off", Percent: 0}, {Name: "b", Percent: 50}},
			u:      0.5,
			want:   "b",
		},
		{
			name:   "a 0 percent last route is never picked, even at the top",
			routes: []Route{{Name: "a", Percent: 100}, {Name: "off", Percent: 0}},
			u:      1,
			want:   "a",
		},
		{
			name:   "percents not summing to 100 are shares of their sum",
			routes: []Route{{Name: "a", Percent: 1}, {Name: "b", Percent: 3}},
			u:      0.25,
			want:   "b",
		},
		{name: "all at 0 percent", routes: []Route{{Name: "a"}, {Name: "b"}}, u: 0.3, want: ""},
		{name: "no routes", u: 0.3, want: ""},
		{name: "one route takes everything", routes: []Route{{Name: "only", Percent: 100}}, u: 0.99, want: "only"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := PickWeighted(tc.routes, tc.u); got != tc.want {
				t.Errorf("PickWeighted(%v, %v) = %q, want %q", tc.routes, tc.u, got, tc.want)
			}
		})
	}
}

func TestPickWeightedSplit(t *testing.T) {
	tests := []struct {
		name   string
		routes []Route
		// want is the expected picks per route over 10,000; each count must land within
		// 4 standard deviations of it.
		want map[string]float64
	}{
		{
			name:   "90/10 canary",
			routes: []Route{{Name: "stable", Percent: 90}, {Name: "canary", Percent: 10}},
			want:   map[string]float64{"stable": 9000, "canary": 1000},
		},
		{
			name:   "three ways with one off",
			routes: []Route{{Name: "a", Percent: 50}, {Name: "off"}, {Name: "b", Percent: 30}, {Name: "c", Percent: 20}},
			want:   map[string]float64{"a": 5000, "b": 3000, "c": 2000},
		},
	}
	const picks = 10000
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			got := map[string]int{}
			for range picks {
				got[PickWeighted(tc.routes, rng.Float64())]++
			}
			if diff := cmp.Diff(keys(tc.want), keys(got)); diff != "" {
				t.Fatalf("routes picked (-want +got):\n%s", diff)
			}
			for name, want := range tc.want {
				p := want / picks
				sd := math.Sqrt(picks * p * (1 - p))
				if n := float64(got[name]); math.Abs(n-want) > 4*sd {
					t.Errorf("%s picked %v times of %d, want %v ± %.0f", name, n, picks, want, 4*sd)
				}
			}
		})
	}
}

func keys[V any](m map[string]V) map[string]bool {
	out := map[string]bool{}
	for k := range m {
		out[k] = true
	}
	return out
}
